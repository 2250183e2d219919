"""CPU of the one pass's input reads: GDAL windowed reads against the tiles decoded directly.

    PYTHONPATH=. python -m bench.bench_window_reads SCENE_DIR [--window 1024] [--repeat 2]

Reads every band file of a :mod:`bench.scale_scene` scene (or any folder of GeoTIFFs) in
windows of ``--window`` px, one thread, each file opened once inside one
``rasterio.Env`` as the pass reads them: through rasterio (``DatasetReader.read``) and
through :mod:`tiandi.eo._tiledread`, alternating. Prints CPU seconds of each (the pixels
themselves are compared with GDAL's in ``tests/eo/test_tiledread.py``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import rasterio
from rasterio.windows import Window

from tiandi.eo._tiledread import tiled_band


def _windows(height: int, width: int, size: int) -> list[tuple[int, int, int, int]]:
    return [
        (r, c, min(size, height - r), min(size, width - c))
        for r in range(0, height, size)
        for c in range(0, width, size)
    ]


def _through_gdal(paths: list[Path], size: int) -> float:
    start = time.process_time()
    for path in paths:
        with rasterio.open(path) as src:
            for r, c, h, w in _windows(src.height, src.width, size):
                src.read(1, window=Window(c, r, w, h))
    return time.process_time() - start


def _from_tiles(paths: list[Path], size: int) -> float:
    start = time.process_time()
    for path in paths:
        band = tiled_band(str(path))
        if band is None:
            raise SystemExit(f"{path}: not a local tiled GeoTIFF; this compares those only")
        for r, c, h, w in _windows(*band.shape, size):
            band.read(r, c, h, w)
    return time.process_time() - start


def main(argv: list[str] | None = None) -> list[tuple[float, float]]:
    """Print and return (GDAL, tiles) CPU seconds of each repeat."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("scene", type=Path)
    parser.add_argument("--window", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    paths = sorted(args.scene.rglob("*.tif"))
    if not paths:
        raise SystemExit(f"{args.scene}: no .tif files; pass a scene folder of bench.scale_scene")
    rows = []
    with rasterio.Env():
        for _ in range(args.repeat):
            gdal_s = _through_gdal(paths, args.window)
            tiles_s = _from_tiles(paths, args.window)
            print(
                f"{len(paths)} files, windows of {args.window}: GDAL {gdal_s:.2f} CPU-s, "
                f"tiles {tiles_s:.2f} CPU-s ({tiles_s / max(gdal_s, 1e-9):.2f}×)"
            )
            rows.append((gdal_s, tiles_s))
    return rows


if __name__ == "__main__":
    main()
