"""COG tiles encoded per chunk and collected into a scratch file (tiandi/eo/_tiles.py)."""

from __future__ import annotations

from pathlib import Path

import imagecodecs
import numpy as np
import pytest

from tiandi.eo._tiles import TileGrid, TileSink, encode_chunk, encode_tile


def _decoded(grid: TileGrid, data: bytes) -> np.ndarray:
    """A tile back to ``(bands, rows, cols)``: inflate, undo the horizontal predictor."""
    raw = np.frombuffer(imagecodecs.zlib_decode(data), grid.dtype)
    pixels = np.cumsum(raw.reshape(grid.block, grid.block, grid.bands), axis=1, dtype=grid.dtype)
    return np.moveaxis(pixels, -1, 0)


def test_an_edge_tile_is_padded_with_the_fill_and_keeps_its_pixels() -> None:
    grid = TileGrid(height=700, width=600, bands=2, dtype="uint16", block=512, level=1, fill=7)
    tile = np.random.default_rng(1).integers(0, 65535, (2, 188, 88), dtype=np.uint16)
    back = _decoded(grid, encode_tile(grid, tile))
    np.testing.assert_array_equal(back[:, :188, :88], tile)
    assert (back[:, 188:] == 7).all() and (back[:, :, 88:] == 7).all()


def test_a_chunk_aligned_to_the_tiles_encodes_them_and_sends_the_shared_ones_raw() -> None:
    grid = TileGrid(height=2048, width=2048, bands=1, dtype="uint8", block=512, level=1)
    block = np.random.default_rng(2).integers(0, 255, (1, 1024, 1024), dtype=np.uint8)
    tiles = encode_chunk(grid, 1024, 0, block)
    # full resolution: 2 x 2 tiles; first level: the chunk is one whole tile
    assert sorted(k for k, _ in tiles.whole) == [
        (0, 2, 0),
        (0, 2, 1),
        (0, 3, 0),
        (0, 3, 1),
        (1, 1, 0),
    ]
    # second level (512 px, one tile): the chunk's quarter of it, at its place
    assert [(k, y, x, p.shape) for k, y, x, p in tiles.parts] == [
        ((2, 0, 0), 256, 0, (1, 256, 256))
    ]
    np.testing.assert_array_equal(tiles.parts[0][3], block[:, ::4, ::4])


def test_the_sink_refuses_a_tile_twice_and_an_incomplete_grid(tmp_path: Path) -> None:
    grid = TileGrid(height=600, width=512, bands=1, dtype="uint8", block=512)
    block = np.zeros((1, 512, 512), np.uint8)
    with TileSink(grid, tmp_path / "tiles") as sink:
        sink.add(encode_chunk(grid, 0, 0, block))
        with pytest.raises(RuntimeError, match=r"2 tiles were not computed \(1 in part\)"):
            sink.check_complete()  # the second row of tiles, and the overview in part
        with pytest.raises(ValueError, match="computed twice"):
            sink.add(encode_chunk(grid, 0, 0, block))
        sink.add(encode_chunk(grid, 512, 0, block[:, :88]))
        sink.check_complete()
