"""Windows of a local tiled GeoTIFF decoded straight from its tiles, without GDAL.

The one pass reads every input window once. Through rasterio each window costs GDAL's
per-request machinery on top of the decompression: the block cache (every tile decoded
into it, then copied out), its locks and the dataset's I/O layer. Reading the tiles' bytes
with ``os.pread`` and decoding them with tifffile's decoder (imagecodecs' libdeflate, LZW,
ZSTD, the TIFF predictors) gives the same pixels for about two thirds of the CPU (the
56 files of the 4096² scale scene in 1024² windows: 3.7–3.9 CPU-s through rasterio,
2.5–2.6 from the tiles; ``bench.bench_window_reads``, bench/README.md, "Input tiles
decoded without GDAL").

Only what this reads exactly as GDAL does is taken: a local file whose first image is
tiled, of one sample per pixel or of separate planes (band 1 is then the first plane's
tiles), of a plain numeric type, whose first tile decodes. Anything else (strips,
pixel-interleaved bands, a remote file, a codec or file tifffile cannot read) returns
None from :func:`tiled_band` and is read through rasterio as before. A tile that is
absent from the file (GDAL's sparse tiles, offset and size 0) reads as the file's nodata
value, or 0 without one, as GDAL reads it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import tifffile
from numpy.typing import NDArray

__all__ = ["TiledBand", "tiled_band"]

#: TIFF PlanarConfiguration of samples stored by plane.
_SEPARATE = 2


@dataclass(frozen=True)
class TiledBand:
    """Band 1 of a tiled GeoTIFF: where each tile's bytes are and how to decode them."""

    path: str
    shape: tuple[int, int]
    tile: tuple[int, int]
    dtype: np.dtype[Any]
    fill: float
    offsets: tuple[int, ...]
    counts: tuple[int, ...]
    decode: Callable[..., Any]
    identity: tuple[int, int, int]  # inode, size and mtime (ns) of the file parsed

    def read(self, row: int, col: int, height: int, width: int) -> NDArray[Any]:
        """Pixels ``[row, row + height) x [col, col + width)``, inside the image."""
        th, tw = self.tile
        across = math.ceil(self.shape[1] / tw)
        out = np.empty((height, width), dtype=self.dtype)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            st = os.fstat(fd)
            if (st.st_ino, st.st_size, st.st_mtime_ns) != self.identity:
                raise OSError(f"{self.path} changed on disk while it was read; run again")
            for tr in range(row // th, (row + height - 1) // th + 1):
                for tc in range(col // tw, (col + width - 1) // tw + 1):
                    self._place(fd, tr * across + tc, (tr * th, tc * tw), (row, col), out)
        finally:
            os.close(fd)
        return out

    def _place(
        self,
        fd: int,
        index: int,
        corner: tuple[int, int],
        origin: tuple[int, int],
        out: NDArray[Any],
    ) -> None:
        """Decode tile ``index`` (its top-left pixel at ``corner``) into ``out``, whose
        top-left pixel is ``origin``."""
        th, tw = self.tile
        r0, c0 = max(corner[0], origin[0]), max(corner[1], origin[1])
        r1 = min(corner[0] + th, origin[0] + out.shape[0])
        c1 = min(corner[1] + tw, origin[1] + out.shape[1])
        target = out[r0 - origin[0] : r1 - origin[0], c0 - origin[1] : c1 - origin[1]]
        if not self.counts[index]:
            target[...] = self.fill
            return
        data = os.pread(fd, self.counts[index], self.offsets[index])
        if len(data) != self.counts[index]:
            raise OSError(f"{self.path}: tile {index} is cut short (the file is truncated)")
        tile, _, _ = self.decode(data, index)
        tile = tile.reshape(th, tw)
        target[...] = tile[r0 - corner[0] : r1 - corner[0], c0 - corner[1] : c1 - corner[1]]


def tiled_band(path: str) -> TiledBand | None:
    """Band 1 of the local GeoTIFF ``path`` when it can be read tile by tile as GDAL reads
    it; None when it cannot (read it through rasterio)."""
    try:
        with tifffile.TiffFile(path) as tif:
            st = os.fstat(tif.filehandle.fileno())
            return _band(path, tif.pages.first, (st.st_ino, st.st_size, st.st_mtime_ns))
    except Exception:  # whatever tifffile cannot read, rasterio reads
        return None


def _band(path: str, page: Any, identity: tuple[int, int, int]) -> TiledBand | None:
    if not page.is_tiled or page.tiledepth != 1 or page.dtype is None:
        return None
    if page.dtype.kind not in "uif":
        return None
    if page.samplesperpixel != 1 and page.planarconfig != _SEPARATE:
        return None
    th, tw = page.tilelength, page.tilewidth
    per_plane = math.ceil(page.imagelength / th) * math.ceil(page.imagewidth / tw)
    offsets = tuple(int(v) for v in page.dataoffsets[:per_plane])
    counts = tuple(int(v) for v in page.databytecounts[:per_plane])
    if len(offsets) != per_plane or len(counts) != per_plane:
        return None
    fill = 0 if page.nodata is None else page.nodata
    band = TiledBand(
        path=path,
        shape=(page.imagelength, page.imagewidth),
        tile=(th, tw),
        dtype=page.dtype.newbyteorder("="),
        fill=fill,
        offsets=offsets,
        counts=counts,
        decode=page.decode,
        identity=identity,
    )
    first = next((i for i, n in enumerate(counts) if n), None)
    if first is not None:  # a codec tifffile lacks fails here, not in the pass
        row, col = divmod(first, math.ceil(page.imagewidth / tw))
        band.read(row * th, col * tw, 1, 1)
    return band
