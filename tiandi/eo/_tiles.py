"""A COG's tiles encoded where the pixels are computed, and collected where they are written.

:func:`encode_chunk` runs in the Dask task that computes a chunk (a thread of this
process, or a worker of a cluster): it picks the chunk's pixels of every overview level
(nearest, as :mod:`tiandi.eo._overviews` picks them), and encodes every tile of every
level that lies wholly in the chunk (horizontal or floating-point predictor, then DEFLATE
with libdeflate through ``imagecodecs``). What it sends back is the compressed tiles and,
for tiles shared with other chunks (the deeper overview levels, or chunks not aligned to
the tiles), the chunk's raw part of them. :class:`TileSink`, in the process that writes
the file, appends the compressed tiles to a scratch file as they come, completes the
shared tiles from their parts, and hands :mod:`tiandi.eo._cogfile` the index it lays out
the COG from. So the pixels are compressed once, in parallel, where they are computed, and
a cluster sends compressed tiles instead of arrays.
"""

from __future__ import annotations

import functools
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import imagecodecs
import numpy as np
from numpy.typing import NDArray

from tiandi.eo._overviews import Level, overview_shapes

__all__ = ["ChunkTiles", "TileGrid", "TileSink", "encode_chunk", "encode_tile"]

#: (level, tile row, tile column): level 0 is the full resolution, 1.. the overviews.
TileKey = tuple[int, int, int]


@dataclass(frozen=True)
class TileGrid:
    """The tiling of one COG: its size, bands, sample type, tile side and encoding."""

    height: int
    width: int
    bands: int
    dtype: str
    block: int = 512
    level: int = 6  # DEFLATE level
    fill: float = 0  # value of the padding of the edge tiles (the no-data value, or 0)

    @property
    def floating(self) -> bool:
        return bool(np.issubdtype(np.dtype(self.dtype), np.floating))

    @property
    def predictor(self) -> int:
        """TIFF predictor: 3 (floating point) for floats, 2 (horizontal) for integers."""
        return 3 if self.floating else 2

    @functools.cached_property
    def shapes(self) -> list[tuple[int, int]]:
        """(rows, columns) of the full resolution, then of each overview level."""
        return [(self.height, self.width), *overview_shapes(self.height, self.width, self.block)]

    def tiles(self, level: int) -> tuple[int, int]:
        """Tile rows and columns of ``level``."""
        rows, cols = self.shapes[level]
        return -(-rows // self.block), -(-cols // self.block)

    def valid(self, key: TileKey) -> tuple[int, int]:
        """Rows and columns of image inside tile ``key`` (less than a tile at the edges)."""
        level, ty, tx = key
        rows, cols = self.shapes[level]
        return min(self.block, rows - ty * self.block), min(self.block, cols - tx * self.block)

    def level_keys(self, level: int) -> list[TileKey]:
        """The tiles of ``level``, row-major."""
        nty, ntx = self.tiles(level)
        return [(level, ty, tx) for ty in range(nty) for tx in range(ntx)]

    @functools.cached_property
    def count(self) -> int:
        """Tiles in the file, every level."""
        return sum(rows * cols for rows, cols in map(self.tiles, range(len(self.shapes))))


@functools.lru_cache(maxsize=8)
def _levels(grid: TileGrid) -> tuple[Level, ...]:
    """Each overview level of ``grid`` as reduced from the one above it: cached per
    process, not on the grid, which every chunk's task carries (a level holds the rows
    and columns it keeps, 256 KB for a 16384² file)."""
    return tuple(Level(p, s) for p, s in itertools.pairwise(grid.shapes))


def encode_tile(grid: TileGrid, tile: NDArray[Any]) -> bytes:
    """One tile (``(bands, rows, cols)``, at most a tile's side each) as the COG stores
    it: padded to the tile's side with ``grid.fill``, samples interleaved by pixel,
    predictor, DEFLATE (zlib stream, as TIFF's Adobe Deflate)."""
    bands, rows, cols = tile.shape
    side = grid.block
    pixels = np.empty((side, side, bands), dtype=np.dtype(grid.dtype).newbyteorder("<"))
    pixels[:rows, :cols] = np.moveaxis(tile, 0, -1)
    if rows < side or cols < side:
        pixels[rows:] = grid.fill
        pixels[:rows, cols:] = grid.fill
    if grid.floating:
        coded: NDArray[Any] = imagecodecs.floatpred_encode(pixels, axis=-2)
    else:
        coded = np.empty_like(pixels)
        coded[:, 0] = pixels[:, 0]
        np.subtract(pixels[:, 1:], pixels[:, :-1], out=coded[:, 1:])  # wraps, as TIFF's
    return bytes(imagecodecs.deflate_encode(coded, level=grid.level))  # type: ignore[arg-type]


@dataclass
class ChunkTiles:
    """What one chunk sends back: its whole tiles encoded, its parts of shared tiles raw
    (``(key, row in the tile, column in the tile, (bands, rows, cols) pixels)``)."""

    whole: list[tuple[TileKey, bytes]] = field(default_factory=list)
    parts: list[tuple[TileKey, int, int, NDArray[Any]]] = field(default_factory=list)


def encode_chunk(grid: TileGrid, row: int, col: int, *blocks: NDArray[Any]) -> ChunkTiles:
    """The tiles of the chunk at full-resolution ``row``, ``col`` (``blocks``: its
    ``(band, rows, cols)`` arrays, concatenated along the bands), at every level."""
    block = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=0)
    block = block.astype(grid.dtype, copy=False)
    out = ChunkTiles()
    levels = _levels(grid)
    for level in range(len(grid.shapes)):
        if level > 0:
            row, col, block = levels[level - 1].take(row, col, block)
            if block.shape[-2] == 0 or block.shape[-1] == 0:
                break  # no pixel of this level (nor of the smaller ones) in this chunk
        _split(grid, level, row, col, block, out)
    return out


def _split(
    grid: TileGrid, level: int, row: int, col: int, block: NDArray[Any], out: ChunkTiles
) -> None:
    """``block`` of ``level`` (at ``row``, ``col``) cut along the tiles: whole tiles
    encoded, the rest kept raw for the tiles it shares with other chunks."""
    side = grid.block
    rows, cols = block.shape[-2:]
    for ty in range(row // side, -(-(row + rows) // side)):
        for tx in range(col // side, -(-(col + cols) // side)):
            key = (level, ty, tx)
            y0, x0 = max(ty * side, row), max(tx * side, col)
            y1, x1 = min((ty + 1) * side, row + rows), min((tx + 1) * side, col + cols)
            piece = block[:, y0 - row : y1 - row, x0 - col : x1 - col]
            if (y1 - y0, x1 - x0) == grid.valid(key) and (y0, x0) == (ty * side, tx * side):
                out.whole.append((key, encode_tile(grid, piece)))
            else:
                out.parts.append((key, y0 - ty * side, x0 - tx * side, piece.copy()))


@dataclass
class _Partial:
    pixels: NDArray[Any]
    missing: int


class TileSink:
    """The encoded tiles of one COG, appended to ``scratch`` as they arrive (any order);
    tiles shared between chunks are completed from their parts, then encoded here."""

    def __init__(self, grid: TileGrid, scratch: Path) -> None:
        self.grid = grid
        self.scratch = scratch
        #: key -> (offset of the tile's bytes in the scratch file, length); the 4 bytes
        #: before them hold the length, the 4 after them repeat their last 4
        self.index: dict[TileKey, tuple[int, int]] = {}
        self._partial: dict[TileKey, _Partial] = {}
        self._fd = -1
        self._size = 0

    def __enter__(self) -> TileSink:
        self._fd = os.open(self.scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)
        self._fd = -1

    def add(self, chunk: ChunkTiles) -> None:
        for key, data in chunk.whole:
            self._store(key, data)
        for key, y, x, pixels in chunk.parts:
            self._add_part(key, y, x, pixels)

    def _store(self, key: TileKey, data: bytes) -> None:
        """Append ``data`` led by its size and trailed by its last 4 bytes, as the COG
        holds it (:mod:`tiandi.eo._cogfile` then copies it without reading it)."""
        if key in self.index:
            raise ValueError(f"tile {key} of {self.scratch.name} was computed twice")
        framed = [len(data).to_bytes(4, "little"), data, data[-4:]]
        written, size = os.writev(self._fd, framed), len(data) + 8
        if written < size:  # a short write (rare): the rest, copied once
            os.write(self._fd, b"".join(framed)[written:])
        self.index[key] = (self._size + 4, len(data))
        self._size += size

    def _add_part(self, key: TileKey, y: int, x: int, pixels: NDArray[Any]) -> None:
        partial = self._partial.get(key)
        if partial is None:
            rows, cols = self.grid.valid(key)
            buffer = np.full((self.grid.bands, rows, cols), self.grid.fill, self.grid.dtype)
            partial = self._partial[key] = _Partial(buffer, rows * cols)
        rows, cols = pixels.shape[-2:]
        partial.pixels[:, y : y + rows, x : x + cols] = pixels
        partial.missing -= rows * cols
        if partial.missing == 0:
            del self._partial[key]
            self._store(key, encode_tile(self.grid, partial.pixels))

    def check_complete(self) -> None:
        """Raise when a tile is missing (a chunk was not computed, or computed in part)."""
        missing = self.grid.count - len(self.index)
        if missing or self._partial:
            raise RuntimeError(
                f"{self.scratch.name}: {missing} tiles were not computed "
                f"({len(self._partial)} in part); the pass did not cover the whole grid"
            )
