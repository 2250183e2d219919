"""Benchmark: tiled change inference over a lazy scene on CPU, against the raw forward pass.

    .venv/bin/python -m bench.bench_tiled_inference [--size 2048] [--workers 2] [--threads 1]

The scene is a lazy dask pair (13 bands, ``--size``² pixels, chunks of one band and
``--chunk``² pixels as composites read from COGs, deterministic random reflectance
0–0.4) that is never held whole in memory; the network is the shipped
``siamese-s2-13band-v0.3`` (or ``--weights``). Measured in the same run:

- ``tiled``: :func:`tiandi.models.tiling.predict_lazy` computed with the threaded Dask
  scheduler (``--workers`` blocks at a time, ``--threads`` torch threads each), the result
  stored block by block into one float32 array; wall time, tiles/s (tiles of the global
  grid, each predicted once: border tiles are shared by the blocks of a process),
  megapixels/s, and the process's peak resident memory above its level before the run
  (sampled every 20 ms) next to the size of the input pair;
- ``raw``: the network's forward pass alone on ``--raw-tiles`` random tiles of the same
  shape and batch size, in ``--workers`` threads with ``--threads`` torch threads each (no
  reading, no blending, no edge tiles): the ceiling the tiler is compared with; once in
  the channels-last layout the detector runs (weights and tiles), once in torch's plain
  NCHW layout (the baseline: what a forward pass of the loaded weights costs as is).

The network is prepared as the product's detector prepares it
(:class:`tiandi.models.siamese_detector.SiameseDetector`).
"""

from __future__ import annotations

import argparse
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import torch

from tiandi.models.precision import compute_in
from tiandi.models.registry import WEIGHTS_DIR
from tiandi.models.siamese_detector import SiameseDetector
from tiandi.models.tiling import predict_lazy
from tiandi.models.tiling_grid import TileConfig, tile_count

PAGE = 4096


class PeakRss:
    """Peak resident set size of this process while the context is open (sampled)."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self.interval_s = interval_s
        self.start = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(self.interval_s)

    def __enter__(self) -> PeakRss:
        self.start = self.peak = _rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _rss() -> int:
    fields = Path("/proc/self/statm").read_text().split()
    return int(fields[1]) * PAGE


def scene(size: int, bands: int, seed: int, chunk: int) -> tuple[da.Array, da.Array]:
    """A lazy before/after pair (bands, size, size), float32 reflectance 0–0.4, chunked
    band by band like composites read back from COGs."""
    rng = da.random.default_rng(seed)  # type: ignore[no-untyped-call]
    shape, chunks = (bands, size, size), (1, chunk, chunk)
    before = rng.random(shape, chunks=chunks, dtype=np.float32) * np.float32(0.4)
    after = rng.random(shape, chunks=chunks, dtype=np.float32) * np.float32(0.4)
    return before, after


def raw_forward(
    model: torch.nn.Module,
    bands: int,
    config: TileConfig,
    n_tiles: int,
    workers: int,
    layout: torch.memory_format,
) -> float:
    """Tiles per second of the bare forward pass, laid out as the tiler runs it:
    ``workers`` threads side by side, ``config.num_threads`` torch threads, batches of
    ``config.batch_size``, number format ``config.precision``; weights and tiles in
    ``layout``."""
    torch.set_num_threads(config.num_threads)
    gen = torch.Generator().manual_seed(0)
    shape = (config.batch_size, bands, config.tile, config.tile)
    x = (torch.rand(shape, generator=gen) * 0.4).contiguous(memory_format=layout)
    y = (torch.rand(shape, generator=gen) * 0.4).contiguous(memory_format=layout)
    model = model.to(memory_format=layout).eval()
    batches = max(1, n_tiles // config.batch_size)

    def run(count: int) -> None:
        with torch.inference_mode(), compute_in(config.precision):
            for _ in range(count):
                torch.sigmoid(model(x, y))

    run(1)  # warm-up
    share = [batches // workers + (i < batches % workers) for i in range(workers)]
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(run, share))
    return batches * config.batch_size / (time.perf_counter() - start)


def tiled(
    model: torch.nn.Module, config: TileConfig, size: int, chunk: int, workers: int
) -> dict[str, float]:
    """The tiled pass over a lazy ``size``² pair (:func:`scene`) as the detector runs it,
    ``workers`` blocks at a time: wall s, grid tiles/s, Mpx/s, peak RSS over
    the start (MiB) and the share of finite output pixels."""
    bands = len(model.bands)
    counts = tile_count((size, size), config)
    before, after = scene(size, bands, seed=0, chunk=chunk)
    out = np.empty((size, size), dtype=np.float32)
    prob = predict_lazy(model, before, after, config)
    with PeakRss() as rss:
        start = time.perf_counter()
        with dask.config.set(scheduler="threads", num_workers=workers):
            da.store(prob, out, lock=False)  # type: ignore[no-untyped-call]
        wall = time.perf_counter() - start
    return {
        "seconds": wall,
        "grid_tiles": counts["grid_tiles"],
        "block_tiles": counts["block_tiles"],
        "grid_tiles_per_s": counts["grid_tiles"] / wall,
        "mpx_per_s": size**2 / 1e6 / wall,
        "peak_rss_over_start_mib": (rss.peak - rss.start) / 2**20,
        "rss_start_mib": rss.start / 2**20,
        "block": prob.chunks[0][0],
        "input_mib": 2 * before.nbytes / 2**20,
        "finite_share": float(np.isfinite(out).mean()),
    }


LAYOUTS = (("NCHW", torch.contiguous_format), ("channels-last", torch.channels_last))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--weights", type=Path, default=WEIGHTS_DIR / "siamese-s2-13band-v0.3.pt")
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--overlap", type=int, default=64)
    parser.add_argument("--margin", type=int, default=8)
    parser.add_argument("--batch", type=int, default=TileConfig().batch_size)
    parser.add_argument("--block", type=int, default=TileConfig().block)
    parser.add_argument("--chunk", type=int, default=1024, help="input chunk side")
    parser.add_argument("--workers", type=int, default=2, help="blocks run side by side")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per block")
    parser.add_argument("--raw-tiles", type=int, default=24)
    return parser


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run both measurements, print them and return the figures."""
    args = _parser().parse_args(argv)
    model = SiameseDetector(args.weights).model
    bands = len(model.bands)
    config = TileConfig(
        tile=args.tile,
        overlap=args.overlap,
        margin=args.margin,
        batch_size=args.batch,
        num_threads=args.threads,
        block=args.block,
    )
    t = tiled(model, config, args.size, args.chunk, args.workers)
    print(
        f"scene {args.size}x{args.size} px, {bands} bands x 2 dates "
        f"({t['input_mib']:.0f} MiB if held whole), tile {config.tile}, "
        f"overlap {config.overlap}, block {t['block']} px, batch {config.batch_size}, "
        f"{args.workers} workers x {args.threads} torch threads"
    )
    print(
        f"tiled: {t['seconds']:.1f} s, {t['grid_tiles_per_s']:.2f} grid tiles/s "
        f"({t['grid_tiles']} tiles; the blocks touch {t['block_tiles']}), "
        f"{t['mpx_per_s']:.3f} Mpx/s; peak RSS "
        f"+{t['peak_rss_over_start_mib']:.0f} MiB over {t['rss_start_mib']:.0f} MiB; "
        f"output finite {t['finite_share']:.3f}"
    )
    px_per_tile = config.stride**2  # new pixels per grid tile
    rates = {}
    for name, layout in LAYOUTS:
        rates[name] = raw_forward(model, bands, config, args.raw_tiles, args.workers, layout)
        print(
            f"raw forward, {name}: {rates[name]:.2f} tiles/s of {config.tile}² "
            f"({args.workers} workers x {args.threads} torch threads), i.e. "
            f"{rates[name] * px_per_tile / 1e6:.3f} Mpx/s at stride {config.stride}"
        )
    rate = rates["channels-last"]
    print(f"raw forward channels-last / NCHW: {rate / rates['NCHW']:.2f}")
    print(f"tiled / raw: {t['grid_tiles_per_s'] / rate:.2f} (grid tiles)")
    return {
        "tiled_mpx_per_s": t["mpx_per_s"],
        "finite_share": t["finite_share"],
        **{f"raw_tiles_per_s_{name}": value for name, value in rates.items()},
    }


if __name__ == "__main__":
    main()
