"""The tile grid of :mod:`tiandi.models.tiling`: :class:`TileConfig`, the tiles and
blocks of each axis and their blending weights (see that module's docstring)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from tiandi.errors import InputError
from tiandi.models.precision import DEFAULT_PRECISION, PRECISIONS, Precision

Ramp = Literal["cosine", "linear"]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class TileConfig:
    """How an array is cut into tiles and blocks.

    ``tile``: tile side (px); ``overlap``: pixels shared by neighbouring tiles;
    ``margin``: outer pixels of a tile that get weight 0 (at most ``overlap / 2``);
    ``ramp``: shape of the blending weights; ``batch_size``: tiles per forward pass;
    ``num_threads``: torch intra-op threads; ``block``: block side for lazy inputs
    (rounded down to whole strides); ``precision``: the number format of the forward
    passes (:mod:`tiandi.models.precision`).

    The defaults: 256-px tiles overlapping by 32 px, 1.31 forward passes per pixel (64 px
    before: 1.78, the same OSCD F1 within 0.0001 and the same demo result;
    ``scripts/experiments/tile_overlap/``), blocks of 4 strides.
    """

    tile: int = 256
    overlap: int = 32
    margin: int = 8
    ramp: Ramp = "cosine"
    batch_size: int = 2
    num_threads: int = 1
    block: int = 896
    precision: Precision = DEFAULT_PRECISION

    def __post_init__(self) -> None:
        problems = []
        if self.tile < 1 or not 0 <= self.overlap < self.tile:
            problems.append(
                f"tile {self.tile} must be >= 1 and overlap {self.overlap} in [0, tile)"
            )
        if not 0 <= 2 * self.margin <= self.overlap:
            problems.append(f"margin {self.margin} must be in [0, overlap / 2]")
        if self.stride < self.overlap - 2 * self.margin:
            problems.append(
                f"tile - overlap ({self.stride}) must be at least overlap - 2 * margin "
                f"({self.overlap - 2 * self.margin}), so a tile's two ramps do not overlap"
            )
        if self.ramp not in ("cosine", "linear"):
            problems.append(f"ramp {self.ramp!r} must be 'cosine' or 'linear'")
        if min(self.batch_size, self.num_threads, self.block) < 1:
            problems.append("batch_size, num_threads and block must be >= 1")
        if self.precision not in PRECISIONS:
            problems.append(f"precision {self.precision!r} must be one of {', '.join(PRECISIONS)}")
        if problems:
            raise InputError("TileConfig: " + "; ".join(problems))

    @property
    def stride(self) -> int:
        """Distance between the starts of neighbouring tiles."""
        return self.tile - self.overlap

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        return asdict(self)


@dataclass(frozen=True)
class TileAxis:
    """The tiles of one axis of length ``size``."""

    size: int
    config: TileConfig

    @property
    def n_tiles(self) -> int:
        """Number of tiles (the last one may be cut at the end)."""
        c = self.config
        return 1 + max(0, math.ceil((self.size - c.tile) / c.stride))

    def span(self, k: int) -> tuple[int, int]:
        """``(start, end)`` of tile ``k``."""
        start = k * self.config.stride
        return start, min(start + self.config.tile, self.size)

    def touching(self, lo: int, hi: int) -> range:
        """Tiles that intersect [lo, hi)."""
        c = self.config
        first = max(0, (lo - c.tile) // c.stride + 1)
        last = min(self.n_tiles - 1, (hi - 1) // c.stride)
        return range(first, last + 1)

    def weights(self, k: int) -> FloatArray:
        """Blending weights of tile ``k`` (its length)."""
        c = self.config
        start, end = self.span(k)
        w = np.ones(end - start, dtype=np.float32)
        ramp = _ramp(c.overlap - 2 * c.margin, c.ramp)
        if k > 0:
            w[: c.margin] = 0.0
            w[c.margin : c.overlap - c.margin] = ramp
        if k < self.n_tiles - 1:
            n = len(w)
            w[n - c.margin :] = 0.0
            w[n - c.overlap + c.margin : n - c.margin] = ramp[::-1]
        return w

    def blocks(self) -> list[tuple[int, int]]:
        """Block cores: whole strides, each holding at least one tile start."""
        c = self.config
        per_block = max(1, c.block // c.stride)
        starts = list(range(0, self.n_tiles, per_block))
        ends = [s * c.stride for s in starts[1:]] + [self.size]
        return [(s * c.stride, e) for s, e in zip(starts, ends, strict=True)]


def _ramp(length: int, kind: Ramp) -> FloatArray:
    """Rising weights whose mirror image completes them to 1 (sin² + cos² = 1)."""
    t = (np.arange(length, dtype=np.float64) + 0.5) / max(length, 1)
    r = np.sin(0.5 * np.pi * t) ** 2 if kind == "cosine" else t
    return r.astype(np.float32)


def tiles_touching(
    rows: TileAxis, cols: TileAxis, core: tuple[int, int, int, int]
) -> Iterator[tuple[int, int]]:
    """``(row, column)`` indices of the tiles that touch ``core``."""
    r0, r1, c0, c1 = core
    for ky in rows.touching(r0, r1):
        for kx in cols.touching(c0, c1):
            yield ky, kx


def tile_count(shape: tuple[int, int], config: TileConfig = TileConfig()) -> dict[str, int]:
    """Tiles of the global grid and tiles the blocks touch (tiles on block borders once
    per block: what the blocks would predict without sharing them, and do predict when
    each runs in a process of its own); no-data tiles included."""
    rows, cols = TileAxis(shape[0], config), TileAxis(shape[1], config)
    per_block = sum(
        len(rows.touching(r0, r1)) * len(cols.touching(c0, c1))
        for r0, r1 in rows.blocks()
        for c0, c1 in cols.blocks()
    )
    return {"grid_tiles": rows.n_tiles * cols.n_tiles, "block_tiles": per_block}


def window_of(
    rows: TileAxis, cols: TileAxis, core: tuple[int, int, int, int]
) -> tuple[slice, slice]:
    """Rows and columns of the input window holding every tile that touches ``core``."""
    r0, r1, c0, c1 = core
    ky, kx = rows.touching(r0, r1), cols.touching(c0, c1)
    return (
        slice(rows.span(ky[0])[0], rows.span(ky[-1])[1]),
        slice(cols.span(kx[0])[0], cols.span(kx[-1])[1]),
    )
