"""Does GDAL's COG driver copy compressed tiles, or decode and re-encode them?

    python -m bench.bench_cog_copy [--size 4096]

Writes one uint16 band as a tiled (512 px) GeoTIFF twice, zstd level 1 (the writer's
strips file) and DEFLATE + predictor 2 (the COG's own compression), copies each to a COG
(DEFLATE, predictor 2, 512 px, one thread) twice and prints the CPU seconds of each copy
and whether the COGs are byte-identical. A raw tile copy would cost a small fraction of
a re-encode (bench/README.md, "GDAL's COG copy of the strips files").
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.transform import from_origin

SOURCES = {
    "zstd1": {"compress": "zstd", "zstd_level": 1},
    "deflate-p2": {"compress": "deflate", "predictor": 2},
}


def main(argv: list[str] | None = None) -> dict[str, float]:
    """CPU seconds of each COG copy by source compression; prints them."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    n = parser.parse_args(argv).size
    rng = np.random.default_rng(0)
    data = rng.normal(1000, 50, (n, n)).astype(np.uint16) + np.arange(n, dtype=np.uint16) // 8
    profile = {"driver": "GTiff", "width": n, "height": n, "count": 1, "dtype": "uint16",
               "crs": "EPSG:32648", "transform": from_origin(500000, 4300000, 10, 10),
               "tiled": True, "blockxsize": 512, "blockysize": 512}  # fmt: skip
    out: dict[str, float] = {}
    digests = set()
    print("GDAL", rasterio.__gdal_version__)
    with tempfile.TemporaryDirectory() as tmp:
        for name, options in SOURCES.items():
            src, cog = Path(tmp) / f"{name}.tif", Path(tmp) / f"{name}-cog.tif"
            with rasterio.open(src, "w", **profile, **options) as dst:  # type: ignore[arg-type]
                dst.write(data, 1)
            for rep in range(2):
                t0 = time.process_time()
                rasterio.shutil.copy(src, cog, driver="COG", compress="DEFLATE", predictor="2",
                                     blocksize=512, overviews="NONE", num_threads=1)  # fmt: skip
                out[f"{name}-{rep}"] = time.process_time() - t0
                print(f"{name} -> COG: {out[f'{name}-{rep}']:.2f} CPU-s")
            digests.add(hashlib.sha256(cog.read_bytes()).hexdigest())
    print("COGs byte-identical:", len(digests) == 1)
    return out


if __name__ == "__main__":
    main()
