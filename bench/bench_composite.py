"""Benchmark: period composites + baseline detection against the decoding floor.

    .venv/bin/python -m bench.bench_composite [--sizes 2048 4096] [--out var/bench]

For each size it writes (once, cached under ``--out``) a synthetic Sentinel-2-like series
in EPSG:32650: two periods of five dates, B02 B03 B04 B08 at 10 m and B11 B12 SCL at 20 m,
uint16 DEFLATE COGs with 512 px tiles, clouds with shadows, seasonal cropland, the 04.00
offset on some dates and a few planted changes. Then, each in a fresh process (so peak RSS
is its own):

- ``floor``: rasterio decodes every pixel of every file once on all cores;
- ``direct``: composite both periods and detect, writing only the change COG;
- ``flow``: what the flow does: write both composite COGs, read them back lazily, detect
  and write the change COG.

It prints seconds, Mpx/s (grid pixels x dates / s for the pipelines, decoded pixels / s
for the floor), the ratio to the floor, and peak RSS, and writes them with the machine's
cores and memory to ``--results`` (default ``bench/results``) as ``composite-<UTC>.json``
and ``.md``. ``tests/bench/test_bench_smoke.py`` runs it once at a tiny size.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import rasterio
from affine import Affine
from rasterio.windows import Window

REPO = Path(__file__).resolve().parents[1]
X0, Y0, CRS = 400000.0, 4460000.0, "EPSG:32650"
BANDS10 = ("B02", "B03", "B04", "B08")
BANDS20 = ("B11", "B12")
CLASSES = {  # B02 B03 B04 B08 B11 B12
    "forest": (0.03, 0.05, 0.03, 0.32, 0.16, 0.08),
    "grass": (0.05, 0.08, 0.07, 0.26, 0.22, 0.13),
    "crop": (0.06, 0.09, 0.08, 0.18, 0.22, 0.15),
    "water": (0.07, 0.08, 0.06, 0.03, 0.02, 0.01),
}
QUARRY = (0.18, 0.20, 0.24, 0.28, 0.36, 0.32)
DATES = [
    ("2025-02-10", "03.01"), ("2025-03-15", "04.00"), ("2025-04-12", "04.00"),
    ("2025-05-20", "03.01"), ("2025-06-18", "04.00"),
    ("2025-07-22", "04.00"), ("2025-08-25", "03.01"), ("2025-09-30", "04.00"),
    ("2025-10-28", "04.00"), ("2025-11-30", "03.01"),
]  # fmt: skip


def _write(path: Path, data: np.ndarray, res: float) -> None:
    rows, cols = data.shape
    with rasterio.open(
        path, "w", driver="COG", width=cols, height=rows, count=1, dtype=data.dtype.name,
        crs=CRS, transform=Affine(res, 0, X0, 0, -res, Y0), nodata=0, compress="DEFLATE",
        predictor=2, blocksize=512, overviews="NONE",
    ) as dst:  # fmt: skip
        dst.write(data, 1)


def _landcover(size: int, rng: np.random.Generator) -> np.ndarray:
    """Class index per pixel: blocky fields from coarse noise."""
    coarse = rng.integers(0, 4, (size // 64 + 1, size // 64 + 1))
    return np.kron(coarse, np.ones((64, 64), dtype=np.int64))[:size, :size]


def generate(out: Path, size: int) -> list[pystac.Item]:
    """Write the synthetic series for ``size`` (skipped when present); return its items."""
    # Absolute file:// hrefs, as tiandi registers them: odc-stac cannot resolve a relative
    # href on an item without a self link (``--out`` defaults to the relative var/bench).
    folder = (out / f"scene-{size}").resolve()
    rng = np.random.default_rng(size)
    lc = _landcover(size, rng)
    table = np.array(list(CLASSES.values()), dtype=np.float32)  # (4 classes, 6 bands)
    items = []
    for t, (day, baseline) in enumerate(DATES):
        item_dir = folder / f"S2B_MSIL2A_{day.replace('-', '')}_T50TMK"
        item = _item(item_dir, day, baseline, size)
        items.append(item)
        if (item_dir / "SCL.tif").exists():
            continue
        item_dir.mkdir(parents=True, exist_ok=True)
        offset = 1000 if baseline == "04.00" else 0
        after = t >= 5
        half = size // 2
        scl = np.full((half, half), 4, np.uint8)
        for _ in range(3):  # clouds with shadows (20 m px)
            cy, cx, r = (
                rng.integers(0, half),
                rng.integers(0, half),
                rng.integers(20, max(21, half // 8)),
            )
            yy, xx = np.ogrid[:half, :half]
            scl[(yy - cy - r // 2) ** 2 + (xx - cx - r) ** 2 < r * r] = 3
            scl[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = 9
        cloud10 = np.kron(scl == 9, np.ones((2, 2), bool))[:size, :size]
        for b, band in enumerate(BANDS10 + BANDS20):
            refl = table[lc, b].copy()
            if band == "B08":  # seasonal cropland: green in spring, senescent in autumn
                refl[lc == 2] = 0.38 if not after else 0.20
            if after:
                q = size // 4
                refl[q : q + 40, q : q + 60] = QUARRY[b]
            refl += rng.normal(0, 0.005, refl.shape).astype(np.float32)
            refl[cloud10] = 0.6
            dn = np.clip(np.round(refl * 10000) + offset, 1, 65535).astype(np.uint16)
            if band in BANDS20:
                dn = dn[::2, ::2]
            _write(item_dir / f"{band}.tif", dn, 10.0 if band in BANDS10 else 20.0)
        _write(item_dir / "SCL.tif", scl, 20.0)
    return items


def _item(folder: Path, day: str, baseline: str, size: int) -> pystac.Item:
    dt = datetime.fromisoformat(day).replace(tzinfo=UTC)
    ext = X0 + size * 10, Y0 - size * 10
    item = pystac.Item(
        id=folder.name, geometry=None, bbox=None, datetime=dt, collection="sentinel-2-l2a",
        properties={
            "eo:cloud_cover": 10.0, "s2:processing_baseline": baseline,
            "s2:boa_add_offset": -1000 if baseline == "04.00" else 0, "proj:code": CRS,
            "proj:shape": [size, size], "proj:transform": [10.0, 0, X0, 0, -10.0, Y0],
            "proj:bbox": [X0, ext[1], ext[0], Y0],
        },
        stac_extensions=[
            "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
        ],
    )  # fmt: skip
    for band in (*BANDS10, *BANDS20, "SCL"):
        res = 10.0 if band in BANDS10 else 20.0
        n = size if res == 10.0 else size // 2
        dtype = "uint8" if band == "SCL" else "uint16"
        extra: dict[str, Any] = {
            "raster:bands": [{"data_type": dtype, "nodata": 0, "spatial_resolution": res}],
            "proj:shape": [n, n],
            "proj:transform": [res, 0, X0, 0, -res, Y0],
        }
        href = (folder / f"{band}.tif").as_uri()
        item.add_asset(band, pystac.Asset(href, extra_fields=extra))
    return item


def _floor(items: list[pystac.Item]) -> dict[str, float]:
    from tiandi.catalog.items import asset_path

    paths = [asset_path(a) for i in items for a in i.assets.values()]

    def read(path: Path) -> int:
        with rasterio.open(path) as src:
            total = 0
            for _, win in src.block_windows(1):
                total += src.read(1, window=Window(*win.flatten())).size
            return total

    t0 = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        pixels = sum(pool.map(read, paths))
    return {"seconds": time.perf_counter() - t0, "pixels": pixels}


def _pipeline(items: list[pystac.Item], size: int, out: Path, mode: str) -> dict[str, float]:
    from tiandi.eo.cog import write_cog
    from tiandi.eo.composite import composite_period
    from tiandi.eo.grid import geobox_for_bounds
    from tiandi.eo.storage import read_composite, write_composite
    from tiandi.models.baseline import BaselineDetector

    grid = geobox_for_bounds(CRS, 10.0, (X0, Y0 - size * 10, X0 + size * 10, Y0))
    work = out / f"run-{size}-{mode}"
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    before = composite_period(items[:5], grid)
    after = composite_period(items[5:], grid)
    if mode == "flow":
        for name, ds in (("before", before), ("after", after)):
            write_composite(ds, work / f"{name}.tif")
        before = read_composite(work / "before.tif")
        after = read_composite(work / "after.tif")
    change = BaselineDetector().detect(before, after)
    write_cog(change["change_mask"], work / "change_mask.tif", nodata=255, dtype="uint8")
    seconds = time.perf_counter() - t0
    with rasterio.open(work / "change_mask.tif") as src:
        mask = src.read(1)
    return {"seconds": seconds, "changed_px": float((mask == 1).sum())}


def _child(args: argparse.Namespace) -> None:
    items = generate(args.out, args.size)
    result = _floor(items) if args.child == "floor" else _pipeline(items, args.size, args.out,
                                                                   args.child)  # fmt: skip
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def _run_stage(stage: str, size: int, out: Path) -> dict[str, float]:
    """One stage in a fresh process (so its peak RSS is its own); its JSON result."""
    cmd = [sys.executable, "-m", "bench.bench_composite", "--child", stage,
           "--size", str(size), "--out", str(out.resolve())]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"bench stage {stage} at {size}² failed:\n{proc.stderr[-4000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def measure(size: int, out: Path) -> list[dict[str, Any]]:
    """Floor, direct and flow at ``size``: seconds, Mpx/s, ratio to the floor, peak RSS."""
    generate(out, size)
    rows: list[dict[str, Any]] = []
    floor_s = math.nan
    for stage in ("floor", "direct", "flow"):
        res = _run_stage(stage, size, out)
        if stage == "floor":
            floor_s = res["seconds"]
            mpx = res["pixels"] / res["seconds"] / 1e6
        else:
            mpx = size * size * len(DATES) / res["seconds"] / 1e6
        rows.append({"size": size, "stage": stage, "seconds": res["seconds"],
                     "mpx_per_s": mpx, "x_floor": res["seconds"] / floor_s,
                     "peak_rss_mb": res["peak_rss_mb"]})  # fmt: skip
    return rows


def _machine() -> dict[str, Any]:
    pages, page = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    return {"cores": os.cpu_count(), "memory_gb": round(pages * page / 2**30, 1),
            "python": sys.version.split()[0], "load_avg_1m": os.getloadavg()[0]}  # fmt: skip


def _markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [f"# bench_composite {report['started']}", "",
             f"{m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}, "
             f"1-min load average at start {m['load_avg_1m']:.2f}", "",
             "| size | stage | s | Mpx/s | x floor | peak RSS MB |",
             "|---:|---|---:|---:|---:|---:|"]  # fmt: skip
    for r in report["rows"]:
        lines.append(f"| {r['size']} | {r['stage']} | {r['seconds']:.2f} | {r['mpx_per_s']:.1f} "
                     f"| {r['x_floor']:.2f} | {r['peak_rss_mb']:.0f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    """Generate, run each stage in its own process, print the table, write JSON + markdown."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096])
    parser.add_argument("--out", type=Path, default=Path("var/bench"))
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--child", choices=["floor", "direct", "flow"], help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return None
    started = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report: dict[str, Any] = {"started": started, "machine": _machine(), "rows": []}
    print(f"{'size':>6} {'stage':>7} {'s':>7} {'Mpx/s':>8} {'x floor':>8} {'peak RSS MB':>12}")
    for size in args.sizes:
        for r in measure(size, args.out):
            report["rows"].append(r)
            print(f"{size:>6} {r['stage']:>7} {r['seconds']:>7.2f} {r['mpx_per_s']:>8.1f} "
                  f"{r['x_floor']:>8.2f} {r['peak_rss_mb']:>12.0f}", flush=True)  # fmt: skip
    args.results.mkdir(parents=True, exist_ok=True)
    stem = args.results / f"composite-{started}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    stem.with_suffix(".md").write_text(_markdown(report), encoding="utf-8")
    print(f"# wrote {stem}.json and .md")
    return report


if __name__ == "__main__":
    main()
