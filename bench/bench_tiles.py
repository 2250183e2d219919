"""Benchmark: map-tile rendering time per tile on a run folder, through the service.

    .venv/bin/python -m bench.bench_tiles RUN_DIR [--n 50] [--zooms 12,13,14] [--seed 0]

``RUN_DIR`` is a ``detect_changes`` output folder. The run is recorded (with its folder)
in a throwaway patch store under a temporary home, the service app is built over it
(:func:`tiandi.service.app.create_app`) and, for each layer of
``GET /api/v1/runs/{run_id}/layers`` and each zoom, ``--n`` random tiles over the scene
are requested through the app with a platform token (FastAPI's TestClient: auth, run
lookup, titiler, PNG encoding; no socket), one after the other. Prints the p50 / p95 /
max milliseconds per tile per layer and zoom, and one JSON line with every figure.
Nothing in ``RUN_DIR`` is written.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def _record(run: Path, home: Path) -> tuple[Any, str]:
    """Settings of a fresh home whose store holds the run of ``run``; its run id."""
    from datetime import UTC, datetime

    import geopandas as gpd

    from tiandi.redline.reports.report_data import read_summary
    from tiandi.redline.run_layout import RunLayout
    from tiandi.redline.store.gpkg import GpkgPatchStore
    from tiandi.redline.store.recording import record_detections
    from tiandi.redline.store.records import RunInfo
    from tiandi.settings import Settings

    layout = RunLayout(run.resolve())
    summary = read_summary(layout)
    run_id = layout.run_id(str(summary["after"]))
    settings = Settings(home=home, patch_dsn=None, patch_store=None)
    kept = gpd.read_file(layout.patches, layer="patches")
    screened = gpd.read_file(layout.patches, layer="screened")
    info = RunInfo(run_id, datetime.now(UTC), str(summary.get("before", "")),
                   str(summary["after"]), None, str(layout.root), {})  # fmt: skip
    record_detections(GpkgPatchStore(settings.patch_store_path), kept, screened, info)
    return settings, run_id


def _tiles(bounds: list[float], zoom: int, n: int, rng: random.Random) -> list[Any]:
    import morecantile

    tms = morecantile.tms.get("WebMercatorQuad")
    west, south, east, north = bounds
    every = list(tms.tiles(west, south, east, north, [zoom]))
    return [rng.choice(every) for _ in range(n)]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def bench(run: Path, n: int, zooms: list[int], seed: int) -> dict[str, Any]:
    """Time ``n`` random tiles per layer and zoom; the figures as a dict."""
    from fastapi.testclient import TestClient

    from tiandi.service.app import create_app
    from tiandi.service.auth import TokenStore

    rng = random.Random(seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="tiandi-bench-tiles-") as tmp:
        settings, run_id = _record(run, Path(tmp))
        _, token = TokenStore(settings.tokens_path).create("platform", holder="bench")
        headers = {"Authorization": f"Bearer {token}"}
        with TestClient(create_app(settings)) as client:
            layers = client.get(f"/api/v1/runs/{run_id}/layers", headers=headers).json()
            for layer in layers["layers"]:
                for zoom in zooms:
                    times, statuses = [], []
                    for tile in _tiles(layers["bounds"], zoom, n, rng):
                        url = layer["tiles"].format(z=tile.z, x=tile.x, y=tile.y)
                        start = time.perf_counter()
                        statuses.append(client.get(url, headers=headers).status_code)
                        times.append((time.perf_counter() - start) * 1000)
                    rows.append({
                        "layer": layer["name"], "zoom": zoom, "n": n,
                        "p50_ms": statistics.median(times), "p95_ms": _percentile(times, 0.95),
                        "max_ms": max(times), "ok": statuses.count(200),
                    })  # fmt: skip
    return {"run": str(run), "run_id": run_id, "rows": rows}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print a table and one JSON line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--n", type=int, default=50, help="Random tiles per layer and zoom.")
    parser.add_argument("--zooms", default="12,13,14", help="Comma-separated zoom levels.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    zooms = [int(z) for z in args.zooms.split(",") if z.strip()]
    report = bench(args.run, args.n, zooms, args.seed)
    print(f"{'layer':<12}{'zoom':>5}{'n':>5}{'ok':>5}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    for r in report["rows"]:
        print(f"{r['layer']:<12}{r['zoom']:>5}{r['n']:>5}{r['ok']:>5}"
              f"{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}{r['max_ms']:>9.1f}")  # fmt: skip
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
