"""What people read after a run: the run summary (terminal table, ``summary.html``,
``map.png``) and the ledgers (台账, CSV and XLSX).

Public API below; import it from here. Names resolve lazily (see
:mod:`tiandi._exports`), so importing one module of this package imports no other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tiandi._exports import lazy_exports

if TYPE_CHECKING:
    from tiandi.redline.reports.ledger import Ledger as Ledger
    from tiandi.redline.reports.ledger import build_ledger as build_ledger
    from tiandi.redline.reports.ledger import write_ledgers as write_ledgers
    from tiandi.redline.reports.run_summary import RunSummary as RunSummary
    from tiandi.redline.reports.run_summary import print_summary as print_summary
    from tiandi.redline.reports.run_summary import render_map_png as render_map_png
    from tiandi.redline.reports.run_summary import write_summary_html as write_summary_html

_EXPORTS = {
    "RunSummary": "run_summary",
    "print_summary": "run_summary",
    "write_summary_html": "run_summary",
    "render_map_png": "run_summary",
    "Ledger": "ledger",
    "build_ledger": "ledger",
    "write_ledgers": "ledger",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
