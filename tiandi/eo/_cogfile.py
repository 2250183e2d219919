"""Lay out a Cloud-Optimised GeoTIFF from tiles already encoded (:mod:`tiandi.eo._tiles`).

The layout is the one GDAL's COG driver writes, so that GDAL reports ``LAYOUT=COG`` and
readers fetch the header in one request: the TIFF header; GDAL's "ghost" structural
metadata (IFDs before the data, tiles row-major, each tile led by its size as 4 bytes and
trailed by its last 4 bytes repeated); the full-resolution IFD, then one IFD per overview
level (``NewSubfileType`` 1), each followed by its out-of-line tag values; then the tiles,
from the smallest overview level to the full resolution, each level row-major. Classic
TIFF when the file stays under 4 GiB, BigTIFF otherwise.

The georeferencing and GDAL's own tags (CRS keys, transform, no-data, metadata and band
descriptions, photometric interpretation, extra samples) are GDAL's: they are read from a
1 × 1 GeoTIFF GDAL writes in memory with the same profile, so this module writes only the
structure.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from rasterio.io import MemoryFile

from tiandi.eo._tiles import TileGrid, TileKey

__all__ = ["GdalTags", "gdal_tags", "write_cog_file"]

_GHOST = (
    "LAYOUT=IFDS_BEFORE_DATA\n"
    "BLOCK_ORDER=ROW_MAJOR\n"
    "BLOCK_LEADER=SIZE_AS_UINT4\n"
    "BLOCK_TRAILER=LAST_4_BYTES_REPEATED\n"
    "KNOWN_INCOMPATIBLE_EDITION=NO\n "  # and a space, as GDAL writes it
)
#: files of this many bytes or more are BigTIFF (classic TIFF's offsets are 32-bit)
CLASSIC_LIMIT = 2**32
#: TIFF field types: code -> bytes per value
_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 6: 1, 7: 1, 8: 2, 9: 4, 11: 4, 12: 8, 16: 8, 17: 8}
SHORT, LONG, LONG8 = 3, 4, 16
#: tags taken from GDAL's own GeoTIFF: photometric, extra samples, GeoTIFF, GDAL's
_FROM_GDAL = {262, 338, 33550, 33922, 34264, 34735, 34736, 34737, 42112, 42113}
#: of those, the ones every overview IFD carries too
_ON_OVERVIEWS = {262, 338, 42113}

#: one IFD entry: tag code, field type, count, value bytes (little-endian)
Entry = tuple[int, int, int, bytes]


@dataclass(frozen=True)
class GdalTags:
    """GDAL's tags for a file of this profile (:func:`gdal_tags`)."""

    entries: tuple[Entry, ...]


def gdal_tags(
    grid: TileGrid,
    profile: Mapping[str, Any],
    tags: Mapping[str, str] | None,
    descriptions: list[str],
) -> GdalTags:
    """The tags GDAL writes for the georeferencing, no-data, metadata and band names of
    a file of ``profile`` (crs, transform, nodata), read back from a 1 × 1 GeoTIFF."""
    with MemoryFile() as mem:
        with mem.open(
            driver="GTiff",
            width=1,
            height=1,
            count=grid.bands,
            dtype=grid.dtype,
            crs=profile["crs"],
            transform=profile["transform"],
            nodata=profile["nodata"],
        ) as dst:
            if tags:
                dst.update_tags(**dict(tags))
            for i, name in enumerate(descriptions, start=1):
                dst.set_band_description(i, name)
        raw = mem.read()
    with tifffile.TiffFile(io.BytesIO(raw)) as tif:
        if tif.byteorder != "<" or tif.is_bigtiff:
            raise RuntimeError("GDAL wrote an unexpected GeoTIFF header for the tag template")
        entries = []
        for tag in tif.pages.first.tags.values():
            if tag.code in _FROM_GDAL:
                size = _SIZES[tag.dtype] * tag.count
                value = raw[tag.valueoffset : tag.valueoffset + size]
                entries.append((tag.code, int(tag.dtype), tag.count, value))
    return GdalTags(tuple(entries))


def _values(field_type: int, values: list[int]) -> bytes:
    fmt = {SHORT: "H", LONG: "I", LONG8: "Q"}[field_type]
    return struct.pack(f"<{len(values)}{fmt}", *values)


def _structure(
    grid: TileGrid, level: int, offsets: list[int], counts: list[int], big: bool
) -> list[Entry]:
    """The structural entries of ``level``'s IFD (the tile offsets as given)."""
    rows, cols = grid.shapes[level]
    dtype = np.dtype(grid.dtype)
    sample_format = 3 if grid.floating else 2 if np.issubdtype(dtype, np.signedinteger) else 1
    bands = grid.bands
    entries: list[Entry] = [
        (256, LONG, 1, _values(LONG, [cols])),
        (257, LONG, 1, _values(LONG, [rows])),
        (258, SHORT, bands, _values(SHORT, [dtype.itemsize * 8] * bands)),
        (259, SHORT, 1, _values(SHORT, [8])),  # Adobe Deflate
        (277, SHORT, 1, _values(SHORT, [bands])),
        (284, SHORT, 1, _values(SHORT, [1])),  # samples interleaved by pixel
        (317, SHORT, 1, _values(SHORT, [grid.predictor])),
        (322, SHORT, 1, _values(SHORT, [grid.block])),
        (323, SHORT, 1, _values(SHORT, [grid.block])),
        (324, LONG8 if big else LONG, len(offsets), _values(LONG8 if big else LONG, offsets)),
        (325, LONG, len(counts), _values(LONG, counts)),
        (339, SHORT, bands, _values(SHORT, [sample_format] * bands)),
    ]
    if level > 0:
        entries.append((254, LONG, 1, _values(LONG, [1])))  # a reduced-resolution image
    return entries


def _ifd(entries: list[Entry], at: int, big: bool, next_ifd: int) -> bytes:
    """One IFD at offset ``at``, its out-of-line values right after it."""
    entries = sorted(entries)
    inline = 8 if big else 4
    head = 8 if big else 2
    size = head + len(entries) * (20 if big else 12) + inline
    data = bytearray()
    table = bytearray(struct.pack("<Q" if big else "<H", len(entries)))
    for code, field_type, count, value in entries:
        if len(value) <= inline:
            ref = value.ljust(inline, b"\0")
        else:
            ref = struct.pack("<Q" if big else "<I", at + size + len(data))
            data += value + (b"\0" if len(value) % 2 else b"")
        table += struct.pack("<HHQ" if big else "<HHI", code, field_type, count) + ref
    table += struct.pack("<Q" if big else "<I", next_ifd)
    return bytes(table + data)


def _header(
    grid: TileGrid, tags: GdalTags, offsets: list[list[int]], counts: list[list[int]], big: bool
) -> bytes:
    ghost = _GHOST.encode("ascii")
    ghost = f"GDAL_STRUCTURAL_METADATA_SIZE={len(ghost):06d} bytes\n".encode("ascii") + ghost
    ghost += b"\0" * ((len(ghost) + (16 if big else 8)) % 2)  # IFDs at even offsets
    first = (16 if big else 8) + len(ghost)  # the first IFD right after the ghost area
    head = struct.pack("<HHHQ", 43, 8, 0, first) if big else struct.pack("<HI", 42, first)
    out = bytearray(b"II" + head + ghost)
    levels = len(grid.shapes)
    for level in range(levels):
        entries = _structure(grid, level, offsets[level], counts[level], big)
        entries += [e for e in tags.entries if level == 0 or e[0] in _ON_OVERVIEWS]
        at = len(out)
        # the next IFD follows this one: its offset is this one's size (whatever ``next``)
        size = len(_ifd(entries, at, big, 0))
        out += _ifd(entries, at, big, at + size if level + 1 < levels else 0)
    return bytes(out)


def _layout(
    grid: TileGrid, tags: GdalTags, index: Mapping[TileKey, tuple[int, int]], big: bool
) -> tuple[bytes, list[TileKey]]:
    """The header (with every tile's final offset) and the tiles in file order."""
    levels = len(grid.shapes)
    counts = [[0] * (grid.tiles(level)[0] * grid.tiles(level)[1]) for level in range(levels)]
    order = []
    for level in reversed(range(levels)):
        keys = grid.level_keys(level)
        order += keys
        counts[level] = [index[k][1] for k in keys]
    zeros = [[0] * len(c) for c in counts]
    header_size = len(_header(grid, tags, zeros, counts, big))
    offsets = [[0] * len(c) for c in counts]
    pos = header_size
    for level, ty, tx in order:
        ntx = grid.tiles(level)[1]
        offsets[level][ty * ntx + tx] = pos + 4  # after the leader
        pos += 4 + index[(level, ty, tx)][1] + 4
    return _header(grid, tags, offsets, counts, big), order


def write_cog_file(
    target: Path,
    grid: TileGrid,
    tags: GdalTags,
    scratch: Path,
    index: Mapping[TileKey, tuple[int, int]],
) -> None:
    """Write the COG at ``target`` from the tiles in ``scratch`` (``index``: each tile's
    offset and length there, framed by its leader and trailer as :class:`TileSink`
    writes them): the header, then the framed tiles copied in the COG's order by the
    kernel (``copy_file_range``: the bytes do not pass through this process)."""
    data = sum(length + 8 for _, length in index.values())
    big = data + 2**20 * len(grid.shapes) >= CLASSIC_LIMIT  # a MiB of header a level: ample
    header, order = _layout(grid, tags, index, big)
    runs: list[list[int]] = []  # [start, stop) in the scratch file, tiles that follow merged
    for key in order:
        offset, length = index[key]
        start, stop = offset - 4, offset + length + 4
        if runs and runs[-1][1] == start:
            runs[-1][1] = stop
        else:
            runs.append([start, stop])
    with open(scratch, "rb") as src, open(target, "wb") as dst:
        dst.write(header)
        dst.flush()
        for start, stop in runs:
            _copy(src.fileno(), dst.fileno(), start, stop)


def _copy(src: int, dst: int, start: int, stop: int) -> None:
    """Bytes ``start:stop`` of ``src`` appended to ``dst`` (both file descriptors)."""
    while start < stop:
        try:
            done = os.copy_file_range(src, dst, stop - start, start)
        except OSError:  # a file system or kernel without it: through this process
            done = os.write(dst, os.pread(src, min(stop - start, 2**24), start))
        if done == 0:
            raise OSError(f"the tiles' scratch file ended at byte {start} of {stop}")
        start += done
