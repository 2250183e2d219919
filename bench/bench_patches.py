"""Benchmark: vectorising a change mask and overlaying zones, 10,000+ patches, 1,000+ zones.

    .venv/bin/python -m bench.bench_patches [--size 8192] [--blobs 12000] [--zones 32]
        [--seed 0] [--results bench/results]

The input is synthetic and held in memory: a ``--size``² change mask at 10 m (UTM 50N)
with ``--blobs`` rectangles of 4–16 px a side at seeded random places (touching blobs
merge, some straddle zone borders), the change probability, and before/after composites
(the six bands and four indices, lazy constants in 1024² chunks, as the flow reads its
COGs), and a grid of ``--zones``² zones in EPSG:4490 (the zones contract) covering the
scene. Measured in the same run, one after the other:

- ``user``: what a user of rasterio and geopandas would write: ``rasterio.features.shapes``
  over the whole mask, polygons of at least the mapping unit, ``geopandas.overlay`` with
  the zones (intersection): pieces per zone, no attributes;
- ``tiandi``: :func:`tiandi.redline.patches.extract.extract_patches` as ``make_patches``
  calls it: windowed vectorising with cross-window merging, the mapping unit,
  simplification, zonal statistics of both composites and the change probability, the HJ
  1156 class, pieces per zone with areas and ids.

Prints wall seconds, patches per second and peak resident memory above the start (sampled
every 20 ms) of each, and the ratio ``tiandi / user``; writes
``<results>/patches-<UTC time>.json`` and ``.md`` with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dask.array as da
import geopandas as gpd
import numpy as np
import psutil
import rasterio.features
import rioxarray  # noqa: F401  (registers .rio)
import shapely
import xarray as xr
from affine import Affine

from bench.bench_composite import REPO, _machine

X0, Y0, RES = 400000.0, 4460000.0, 10.0
CRS = "EPSG:32650"
MMU_M2 = 1000.0
#: Constant reflectances of the composites: forest before, bare ground after.
BEFORE = {"B02": 0.03, "B03": 0.05, "B04": 0.03, "B08": 0.32, "B11": 0.16, "B12": 0.08}
AFTER = {"B02": 0.18, "B03": 0.20, "B04": 0.24, "B08": 0.28, "B11": 0.36, "B12": 0.32}


def change_mask(size: int, blobs: int, seed: int) -> np.ndarray:
    """``size``² uint8 mask with ``blobs`` seeded rectangles of 4–16 px a side."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size), "uint8")
    sides = rng.integers(4, 17, size=(blobs, 2))
    rows = rng.integers(0, size - 16, size=blobs)
    cols = rng.integers(0, size - 16, size=blobs)
    for (h, w), r, c in zip(sides, rows, cols, strict=True):
        mask[r : r + h, c : c + w] = 1
    return mask


def zones_grid(size: int, n: int) -> gpd.GeoDataFrame:
    """``n``² zones tiling the scene, with the contract's columns, in EPSG:4490."""
    step = size * RES / n
    boxes = [
        shapely.box(X0 + j * step, Y0 - (i + 1) * step, X0 + (j + 1) * step, Y0 - i * step)
        for i in range(n)
        for j in range(n)
    ]
    ids = [f"Z{k:05d}" for k in range(len(boxes))]
    frame = gpd.GeoDataFrame(
        {"zone_id": ids, "name": ids, "zone_type": "redline", "level": None,
         "functional_zone": None, "region": "bench", "category": None},
        geometry=boxes, crs=CRS,
    )  # fmt: skip
    return frame.to_crs("EPSG:4490")


def _indices(bands: dict[str, float]) -> dict[str, float]:
    b = bands

    def nd(p: float, q: float) -> float:
        return (p - q) / (p + q)

    return {**b, "ndvi": nd(b["B08"], b["B04"]), "ndwi": nd(b["B03"], b["B08"]),
            "ndbi": nd(b["B11"], b["B08"]),
            "bsi": nd(b["B11"] + b["B04"], b["B08"] + b["B02"])}  # fmt: skip


def datasets(mask: np.ndarray) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    """(change, before, after) on the mask's grid; composites are lazy constants."""
    size = mask.shape[0]
    coords = {"y": Y0 - RES / 2 - RES * np.arange(size), "x": X0 + RES / 2 + RES * np.arange(size)}
    chunks = (1024, 1024)

    def lazy(value: float) -> da.Array:
        return da.full((size, size), value, dtype="float32", chunks=chunks)

    def ds(variables: dict[str, Any]) -> xr.Dataset:
        return xr.Dataset({k: (("y", "x"), v) for k, v in variables.items()}, coords=coords)

    prob = np.where(mask == 1, np.float32(0.9), np.float32(0.05))
    change = ds({"change_mask": da.from_array(mask, chunks=chunks),
                 "change_prob": da.from_array(prob, chunks=chunks)})  # fmt: skip
    before = ds({k: lazy(v) for k, v in _indices(BEFORE).items()})
    after = ds({k: lazy(v) for k, v in _indices(AFTER).items()})
    change, before, after = (d.rio.write_crs(CRS) for d in (change, before, after))
    return change, before, after


def user_pipeline(mask: np.ndarray, zones: gpd.GeoDataFrame) -> int:
    """``shapes`` + mapping unit + ``geopandas.overlay``: pieces per zone."""
    transform = Affine(RES, 0, X0, 0, -RES, Y0)
    shapes = rasterio.features.shapes(mask, mask=mask == 1, connectivity=4, transform=transform)
    polys = [shapely.geometry.shape(g) for g, _ in shapes]
    patches = gpd.GeoDataFrame(geometry=polys, crs=CRS)
    patches = patches[patches.area >= MMU_M2]
    pieces = gpd.overlay(patches, zones.to_crs(CRS), how="intersection", keep_geom_type=True)
    return len(pieces)


def tiandi_pipeline(
    inputs: tuple[xr.Dataset, xr.Dataset, xr.Dataset], zones: gpd.GeoDataFrame
) -> int:
    """``extract_patches`` as ``make_patches`` calls it, on ``datasets(mask)``."""
    from tiandi.redline.patches.extract import PatchParams, extract_patches

    change, before, after = inputs
    params = PatchParams(min_mapping_unit_m2=MMU_M2)
    return len(extract_patches(change, before, after, zones, params))


@contextmanager
def _peak_rss() -> Iterator[list[float]]:
    """``[peak RSS above the start, in MB]``, filled when the block ends."""
    proc, start, peak, done = psutil.Process(), psutil.Process().memory_info().rss, [0], False

    def sample() -> None:
        while not done:
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    result = [0.0]
    try:
        yield result
    finally:
        done = True
        thread.join()
        result[0] = max(peak[0] - start, 0) / 2**20


def _timed(stage: str, run: Callable[[], int]) -> dict[str, Any]:
    with _peak_rss() as peak:
        t0 = time.perf_counter()
        n = run()
        seconds = time.perf_counter() - t0
    return {"stage": stage, "seconds": round(seconds, 3), "pieces": n,
            "pieces_per_s": round(n / seconds, 1),
            "peak_rss_mb_above_start": round(peak[0], 1)}  # fmt: skip


def _markdown(report: dict[str, Any]) -> str:
    m, a = report["machine"], report["args"]
    lines = [f"# bench_patches {report['started']}", "",
             f"{m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}, 1-min load "
             f"average at start {m['load_avg_1m']:.2f}; {a['size']}² mask, {a['blobs']} blobs "
             f"({report['components']} components), {a['zones'] ** 2} zones", "",
             "| stage | s | pieces | pieces/s | peak RSS MB above start |",
             "|---|---:|---:|---:|---:|"]  # fmt: skip
    for r in report["rows"]:
        lines.append(f"| {r['stage']} | {r['seconds']:.2f} | {r['pieces']} | "
                     f"{r['pieces_per_s']:.0f} | {r['peak_rss_mb_above_start']:.0f} |")  # fmt: skip
    lines += ["", f"tiandi / user: {report['tiandi_over_user']:.2f}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print and write the report; return it."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--blobs", type=int, default=12000)
    parser.add_argument("--zones", type=int, default=32, help="zones per side (n² zones)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    started = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    machine = _machine()
    mask = change_mask(args.size, args.blobs, args.seed)
    zones = zones_grid(args.size, args.zones)
    from scipy import ndimage

    components = int(ndimage.label(mask)[1])
    inputs = datasets(mask)  # built before timing: the flow reads these from its COGs
    rows = [_timed("user", lambda: user_pipeline(mask, zones)),
            _timed("tiandi", lambda: tiandi_pipeline(inputs, zones))]  # fmt: skip
    report = {"started": started, "machine": machine,
              "args": vars(args) | {"results": str(args.results)},
              "components": components, "rows": rows,
              "tiandi_over_user": round(rows[1]["seconds"] / rows[0]["seconds"], 3)}  # fmt: skip
    text = _markdown(report)
    print(text, end="")
    args.results.mkdir(parents=True, exist_ok=True)
    stem = args.results / f"patches-{started}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    stem.with_suffix(".md").write_text(text, encoding="utf-8")
    print(f"written {stem}.json and .md (pid {os.getpid()})")
    return report


if __name__ == "__main__":
    main()
