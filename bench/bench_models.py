"""Benchmark: inference speed of every shipped model on this machine's CPU.

    .venv/bin/python -m bench.bench_models [--size 2048] [--workers 2] [--weights-dir DIR]

Writes ``bench/results/models-<UTC time>.json`` and ``.md`` (cores, memory, load) and
prints the table. Each row has a baseline measured in the same run on the same pixels:

- **change networks** (every ``<name>.pt`` the registry offers as a detector,
  :func:`tiandi.models.registry.available_detectors`): the tiled pass as the detector runs
  it (:func:`bench.bench_tiled_inference.tiled`: a lazy ``--size``² pair, the product's
  :class:`~tiandi.models.tiling_grid.TileConfig`, ``--workers`` blocks side by side with
  one torch thread each, as on the embedded default's Dask threads): Mpx/s and tiles/s of
  the tile grid; baseline: the bare forward pass on tiles of the same shape in the same
  threads, layout (channels-last) and number format, the ceiling the tiler is held to
  (``x raw``). The tiler runs in the product's format (float32) and again in bfloat16
  (``bfloat16 Mpx/s``, :mod:`tiandi.models.precision`).
- **land cover** (``landcover-s2-v0.1``, per pixel, run by ``make_patches`` on the
  candidate patches' boxes): ``predict_proba`` on ``--size``² random reflectance with one
  torch thread (per core); baseline: its features alone (``band_features``).
- **burned-learned** (trees + combiner, numpy): ``probability`` on a random pair
  (``--burned-size``², per core); baseline: the burn index dNBR of the same pixels.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.bench_composite import REPO, _machine
from bench.bench_tiled_inference import raw_forward, tiled
from tiandi.models.precision import resolved
from tiandi.models.registry import WEIGHTS_DIR, available_detectors
from tiandi.models.siamese_detector import SiameseDetector
from tiandi.models.tiling_grid import TileConfig


def _best_of(fn: Callable[[], object], repeat: int) -> float:
    """The shortest of ``repeat`` wall times of ``fn()`` (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def network_row(weights: Path, size: int, workers: int, raw_tiles: int) -> dict[str, Any]:
    """The tiled pass and the bare forward pass of one change network."""
    detector = SiameseDetector(weights)
    model = detector.model
    config = TileConfig()  # the product's (float32)
    t = tiled(model, config, size, 1024, workers)
    raw = raw_forward(model, len(model.bands), config, raw_tiles, workers, torch.channels_last)
    half = tiled(model, replace(config, precision="bfloat16"), size, 1024, workers)
    return {
        "model": weights.stem,
        "kind": "change network (tiled)",
        "bands": len(detector.bands),
        "parameters": sum(p.numel() for p in model.parameters()),
        "mpx_per_s": t["mpx_per_s"],
        "tiles_per_s": t["grid_tiles_per_s"],
        "baseline": "bare forward pass",
        "baseline_tiles_per_s": raw,
        "baseline_mpx_per_s": raw * config.stride**2 / 1e6,
        "x_baseline": t["grid_tiles_per_s"] / raw,
        "threads": f"{workers} blocks x 1 torch thread",
        "precision": resolved(config.precision),
        "bfloat16_mpx_per_s": half["mpx_per_s"],
        "peak_rss_over_start_mib": t["peak_rss_over_start_mib"],
    }


def landcover_row(size: int, repeat: int) -> dict[str, Any]:
    """``predict_proba`` of the shipped land-cover model against its features alone."""
    from tiandi.models.landcover import band_features, load_landcover

    model = load_landcover()
    rng = np.random.default_rng(0)
    refl = rng.random((6, size * size), dtype=np.float32) * np.float32(0.4)
    torch.set_num_threads(1)
    seconds = _best_of(lambda: model.predict_proba(refl), repeat)
    features = _best_of(lambda: band_features(refl), repeat)
    mpx = size * size / 1e6
    return {
        "model": f"{model.name}-v{model.version}",
        "kind": "land cover (per pixel)",
        "bands": 6,
        "parameters": sum(p.numel() for p in model.net.parameters()),
        "mpx_per_s": mpx / seconds,
        "tiles_per_s": None,
        "baseline": "its features alone",
        "baseline_mpx_per_s": mpx / features,
        "x_baseline": features / seconds,
        "threads": "1 (per core)",
    }


def burned_row(size: int, repeat: int) -> dict[str, Any]:
    """``probability`` of burned-learned against the burn index of the same pixels."""
    from tiandi.models.burned.learned import BurnedLearnedDetector

    detector = BurnedLearnedDetector()
    rng = np.random.default_rng(0)
    names = ("pre_B04", "pre_B08", "pre_B12", "post_B04", "post_B08", "post_B12")
    bands = {n: rng.random((size, size)) * 0.4 for n in names}

    def dnbr() -> object:
        pre = (bands["pre_B08"] - bands["pre_B12"]) / (bands["pre_B08"] + bands["pre_B12"])
        post = (bands["post_B08"] - bands["post_B12"]) / (bands["post_B08"] + bands["post_B12"])
        return pre - post

    seconds = _best_of(lambda: detector.probability(bands), repeat)
    index = _best_of(dnbr, repeat)
    mpx = size * size / 1e6
    return {
        "model": f"{detector.name}-v{detector.version}",
        "kind": "burned area (per pixel)",
        "bands": 6,
        "parameters": None,
        "mpx_per_s": mpx / seconds,
        "tiles_per_s": None,
        "baseline": "dNBR of the same pixels",
        "baseline_mpx_per_s": mpx / index,
        "x_baseline": index / seconds,
        "threads": "1 (per core)",
    }


def _fmt(value: Any, spec: str) -> str:
    return "" if value is None else format(value, spec)


def markdown(report: dict[str, Any]) -> str:
    """The report as a markdown table."""
    m = report["machine"]
    lines = [
        f"# bench_models {report['started']}",
        "",
        f"{m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}, torch "
        f"{report['torch']}, 1-min load average at start {m['load_avg_1m']:.2f}; scene "
        f"{report['size']}²",
        "",
        "| model | kind | bands | parameters | threads | format | Mpx/s | tiles/s | baseline | "
        "baseline Mpx/s | x baseline | bfloat16 Mpx/s |",
        "|---|---|---:|---:|---|---|---:|---:|---|---:|---:|---:|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['model']} | {r['kind']} | {r['bands']} | {_fmt(r['parameters'], ',')} "
            f"| {r['threads']} | {r.get('precision', '')} | {r['mpx_per_s']:.3f} "
            f"| {_fmt(r['tiles_per_s'], '.2f')} | {r['baseline']} "
            f"| {r['baseline_mpx_per_s']:.3f} | {r['x_baseline']:.3g} "
            f"| {_fmt(r.get('bfloat16_mpx_per_s'), '.3f')} |"
        )
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--size", type=int, default=2048, help="scene side (px)")
    parser.add_argument("--workers", type=int, default=2, help="network blocks side by side")
    parser.add_argument("--raw-tiles", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=3, help="best of, per-pixel models")
    parser.add_argument("--burned-size", type=int, default=1024, help="burned-learned side (px)")
    parser.add_argument("--weights-dir", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument(
        "--networks-only", action="store_true", help="skip land cover and burned area"
    )
    return parser


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Measure every shipped model; print and write JSON + markdown."""
    args = _parser().parse_args(argv)
    started = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report: dict[str, Any] = {
        "started": started,
        "machine": _machine(),
        "torch": torch.__version__,
        "size": args.size,
        "rows": [],
    }
    networks = [n for n in available_detectors(args.weights_dir) if n != "baseline"]
    for name in networks:
        row = network_row(args.weights_dir / f"{name}.pt", args.size, args.workers, args.raw_tiles)
        report["rows"].append(row)
        print(json.dumps(row), flush=True)
    if not args.networks_only:
        for row in (
            landcover_row(args.size, args.repeat),
            burned_row(args.burned_size, args.repeat),
        ):
            report["rows"].append(row)
            print(json.dumps(row), flush=True)
    args.results.mkdir(parents=True, exist_ok=True)
    stem = args.results / f"models-{started}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    stem.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    print(f"# wrote {stem}.json and .md")
    return report


if __name__ == "__main__":
    main()
