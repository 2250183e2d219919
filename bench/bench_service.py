"""Benchmark: listing and filtering N patches (default 10,000) over HTTP.

    .venv/bin/python -m bench.bench_service [--patches 10000] [--repeat 50]

Fills a fresh GeoPackage patch store with N generated patches (50 zones on a grid over
North China, nine HJ 1156 classes, three change types, one run, about a tenth screened
out), starts the real service (``tiandi serve``, uvicorn) on loopback as a child process,
and times, with one keep-alive ``httpx`` client, each query shape ``--repeat`` times
after two warm-up calls:

- ``page_100``: the first page of 100; ``page_100_deep``: a page of 100 from the middle
  (cursor); ``zone``: a page of a zone; ``class``: a page of one class; ``zone_class_state``
  all three filters; ``bbox``: a 0.3° box; ``zones``: the zone list; ``zone_stats``: one
  zone's statistics;
- ``page_all``: paging through all N patches by ``next`` links (limit 1000), timed per
  page and as a whole pass.

Prints p50/p95 latency (ms) and requests/s per shape and writes them, with the machine's
cores, to ``--results`` (default ``bench/results/service.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from shapely.geometry import MultiPolygon, box

from tiandi._children import free_port, spawn
from tiandi.redline.store.gpkg import GpkgPatchStore
from tiandi.redline.store.records import DetectedPatch, RunInfo
from tiandi.redline.vocabulary import M2_PER_HA, MU_M2, ChangeType, HJ1156Class
from tiandi.service.auth import TokenStore
from tiandi.settings import Settings

REPO = Path(__file__).resolve().parent.parent
ZONES = 50
CLASSES = [c.value for c in HJ1156Class]
CHANGES = ("new", "enlarged", "new")
SIDE_DEG = 0.001  # about 100 m × 85 m at 40° N


def make_detections(n: int) -> list[DetectedPatch]:
    """N patches in 50 zones (1° × 1° cells over 113-123°E, 37-42°N), every tenth
    screened out; deterministic."""
    out = []
    for i in range(n):
        zone = i % ZONES
        k = i // ZONES
        x = 113.0 + (zone % 10) + 0.002 * (k % 400) + 0.0005
        y = 37.0 + (zone // 10) + 0.002 * (k // 400) + 0.0005
        geom = MultiPolygon([box(x, y, x + SIDE_DEG, y + SIDE_DEG)])
        area = 8500.0 + (i % 97) * 10.0
        cls = CLASSES[(i * 7) % len(CLASSES)]
        change = CHANGES[i % len(CHANGES)]
        attrs = {
            "patch_id": f"TB-{i:06d}",
            "zone_id": f"ZN-{zone:02d}",
            "zone_name": f"保护区 {zone:02d}",
            "zone_type": "reserve" if zone % 3 else "redline",
            "functional_zone": ("核心区", "缓冲区", "实验区")[zone % 3],
            "area_m2": area,
            "area_ha": round(area / M2_PER_HA, 4),
            "area_mu": round(area / MU_M2, 2),
            "change_type": change,
            "change_type_zh": ChangeType(change).zh,
            "hj1156_class": cls,
            "hj1156_zh": HJ1156Class(cls).zh,
            "confidence": round(0.5 + (i % 50) / 100, 3),
        }
        reason = "seasonal_greening" if i % 10 == 9 else ""
        uid = f"PU-{i:012x}"
        out.append(DetectedPatch(uid, False, geom, attrs, change, screen_reason=reason))
    return out


def fill(home: Path, n: int) -> tuple[Settings, str, float]:
    """A store of N patches and a platform token under ``home``; (settings, token, s)."""
    settings = Settings(home=home, patch_dsn=None, patch_store=None)
    store = GpkgPatchStore(settings.patch_store_path)
    store.ensure()
    run = RunInfo("run-bench", datetime(2025, 12, 1, tzinfo=UTC), "2025H1", "2025H2")
    started = time.perf_counter()
    store.import_run(run, make_detections(n))
    seconds = time.perf_counter() - started
    token = TokenStore(settings.tokens_path).create("platform", holder="bench")[1]
    return settings, token, seconds


def _wait(client: httpx.Client, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if client.get("/openapi.json").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if not alive():
            break
        time.sleep(0.2)
    raise RuntimeError("tiandi serve did not answer within 60 s; see its log")


def _stats(ms: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(ms, n=20, method="inclusive") if len(ms) > 1 else ms * 19
    total_s = sum(ms) / 1000
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(cuts[18], 2),
        "max_ms": round(max(ms), 2),
        "req_per_s": round(len(ms) / total_s, 1) if total_s else 0.0,
    }


def _timed(client: httpx.Client, url: str, params: dict[str, Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    response = client.get(url, params=params)
    ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} {params}: {response.status_code} {response.text[:300]}")
    return ms, response.json()


def shapes(n: int) -> dict[str, tuple[str, dict[str, Any]]]:
    """Query shape → (path, parameters)."""
    middle = f"PU-{n // 2:012x}"
    return {
        "page_100": ("/api/v1/patches", {"limit": 100}),
        "page_100_deep": ("/api/v1/patches", {"limit": 100, "after": middle}),
        "zone": ("/api/v1/patches", {"zone": "ZN-07", "limit": 100}),
        "class": ("/api/v1/patches", {"class": "energy", "limit": 100}),
        "zone_class_state": (
            "/api/v1/patches",
            {"zone": "ZN-07", "class": "energy", "state": "screened", "limit": 100},
        ),
        "bbox": ("/api/v1/patches", {"bbox": "113.0,37.0,113.3,37.3", "limit": 100}),
        "zones": ("/api/v1/zones", {}),
        "zone_stats": ("/api/v1/zones/ZN-07/stats", {}),
    }


def measure(client: httpx.Client, n: int, repeat: int) -> dict[str, dict[str, float]]:
    """Latency per query shape, and paging through everything."""
    rows: dict[str, dict[str, float]] = {}
    for name, (url, params) in shapes(n).items():
        for _ in range(2):
            _timed(client, url, params)
        ms = [_timed(client, url, params)[0] for _ in range(repeat)]
        rows[name] = _stats(ms)
    pages, passes = [], []
    for _ in range(max(1, repeat // 10)):
        started, seen, params = time.perf_counter(), 0, {"limit": 1000}
        while True:
            ms, body = _timed(client, "/api/v1/patches", params)
            pages.append(ms)
            seen += body["numberReturned"]
            if body["next"] is None:
                break
            params = dict(httpx.URL(body["next"]).params)
        passes.append((time.perf_counter() - started) * 1000)
        if seen != n:
            raise RuntimeError(f"paging saw {seen} patches, not {n}")
    rows["page_all_per_page_1000"] = _stats(pages)
    rows["page_all_pass"] = _stats(passes)
    return rows


def run(n: int, repeat: int, results: Path) -> dict[str, Any]:
    """Fill, serve, measure, write ``results``; returns the report."""
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        home = Path(tmp)
        settings, token, fill_s = fill(home, n)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIANDI_")}
        env.update(TIANDI_HOME=str(home), PYTHONPATH=str(REPO))
        command = [sys.executable, "-m", "tiandi.cli.app", "serve", "--port", str(port)]
        with (home / "serve.log").open("wb") as log:
            child = spawn("bench-service", command, home=home, log=log, env=env)
            base = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {token}"}
            try:
                with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
                    _wait(client, lambda: child.process.poll() is None)
                    rows = measure(client, n, repeat)
            finally:
                child.stop()
        size_mb = settings.patch_store_path.stat().st_size / 1e6
    report = {
        "patches": n,
        "repeat": repeat,
        "fill_seconds": round(fill_s, 2),
        "store_mb": round(size_mb, 1),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "shapes": rows,
    }
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse arguments, run, print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--patches", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "service.json")
    args = parser.parse_args(argv)
    report = run(args.patches, args.repeat, args.results)
    print(
        f"{report['patches']} patches (store {report['store_mb']} MB, filled in "
        f"{report['fill_seconds']} s), {report['repeat']} calls per shape"
    )
    print(f"{'shape':<24}{'p50 ms':>10}{'p95 ms':>10}{'req/s':>10}")
    for name, row in report["shapes"].items():
        print(f"{name:<24}{row['p50_ms']:>10.1f}{row['p95_ms']:>10.1f}{row['req_per_s']:>10.1f}")
    print(f"results: {args.results}")
    return report


if __name__ == "__main__":
    main()
