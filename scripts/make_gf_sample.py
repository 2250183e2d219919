"""Write tiny synthetic GF-1 WFV, GF-2 PMS and GF-6 WFV L1A products (``.tar.gz``).

``python scripts/make_gf_sample.py OUT_FOLDER`` (from the repository root). The products
have CRESDA's layout (TIFF, ``.rpb``, ``<ProductMetaData>`` XML, browse and thumbnail JPG
per sensor file) and RPCs fitted to a known ground geometry, with a planted bright square
whose longitude/latitude is printed; see :mod:`tests.fixtures.gf`, which the tests use.
Try them with ``tiandi ingest gf OUT_FOLDER/GF2_*.tar.gz --height 800``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fixtures.gf import main

if __name__ == "__main__":
    main(sys.argv[1:])
