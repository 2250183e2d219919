"""Nearest-neighbour overviews computed from the strips of a COG as they are written.

GDAL's COG driver, left to build the overviews itself (``OVERVIEWS=AUTO``), decodes the
whole full-resolution file once more and resamples it band by band: at 4096² px with 7
bands that took 16 of the 18 s of the COG translation (bench/README.md). For ``nearest``
the overviews are a pure selection of pixels, so they are computed here from each block
of the strips (a window of the image) while it is in memory, written to one small tiled
GeoTIFF per level, and handed to the COG driver (``OVERVIEWS=FORCE_USE_EXISTING``)
through a VRT that lists them as the source's overviews.

Each level picks from the level before it the pixel ``floor(0.5 + i * previous / size)``
along each axis; levels halve the previous level's size (rounding down) while either side
exceeds the block size. That is exactly what GDAL does for a single-band file (the change
maps: byte-identical COGs, checked in ``tests/eo/test_cog.py``). For a multi-band file
GDAL sometimes picks each level straight from the full resolution instead (depending on
its block cache), so a composite's overviews below the first one may differ from GDAL's by
a neighbouring pixel where a side is odd; full-resolution pixels and the first level are
the same.
"""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from numpy.typing import NDArray
from rasterio.windows import Window

__all__ = ["StreamedOverviews", "overview_shapes", "pick"]


def overview_shapes(height: int, width: int, block: int) -> list[tuple[int, int]]:
    """The (rows, columns) of each overview level GDAL's COG driver makes (``AUTO``)."""
    shapes = []
    while height > block or width > block:
        height, width = max(1, height // 2), max(1, width // 2)
        shapes.append((height, width))
    return shapes


def pick(previous: int, size: int) -> NDArray[np.intp]:
    """Indices along one axis of the level before that GDAL's nearest resampling keeps."""
    ratio = previous / size
    idx = np.floor(0.5 + np.arange(size) * ratio).astype(np.intp)
    out: NDArray[np.intp] = np.minimum(idx, previous - 1)
    return out


def _as_slice(idx: NDArray[np.intp]) -> slice | NDArray[np.intp]:
    """``idx`` as a slice when it is evenly spaced (an even side halves to every other
    pixel): a view instead of a fancy-indexed copy; the same pixels either way."""
    if len(idx) > 1:
        step = int(idx[1] - idx[0])
        if step > 0 and np.array_equal(np.diff(idx), np.full(len(idx) - 1, step)):
            return slice(int(idx[0]), int(idx[-1]) + 1, step)
    return idx


class _Level:
    """One overview level: which rows and columns of the level before it keeps."""

    def __init__(self, prev: tuple[int, int], shape: tuple[int, int]) -> None:
        self.shape = shape
        self.rows = pick(prev[0], shape[0])
        self.cols = pick(prev[1], shape[1])

    def take(self, row: int, col: int, block: NDArray[Any]) -> tuple[int, int, NDArray[Any]]:
        """The pixels of this level that fall in ``block`` (rows ``row..`` and columns
        ``col..`` of the level before), and the row and column of the first of them: the
        levels of a block are windows of each level, so blocks may come in any order."""
        i0, i1 = np.searchsorted(self.rows, [row, row + block.shape[-2]], side="left")
        j0, j1 = np.searchsorted(self.cols, [col, col + block.shape[-1]], side="left")
        rows = _as_slice(self.rows[i0:i1] - row)
        cols = _as_slice(self.cols[j0:j1] - col)
        return int(i0), int(j0), block[:, rows][:, :, cols]


class StreamedOverviews:
    """Overview files of one output, fed window by window (any order).

    ``profile`` is the full-resolution file's rasterio profile; each level is written to
    ``<stem>-ovr<k>.tif`` with the same compression and block size. :meth:`vrt` then
    describes the full-resolution file with these levels as its overviews."""

    def __init__(self, profile: dict[str, Any], stem: Path, block: int) -> None:
        full = (int(profile["height"]), int(profile["width"]))
        shapes = overview_shapes(*full, block)
        self.paths = [stem.with_name(f"{stem.name}-ovr{k}.tif") for k in range(len(shapes))]
        self._levels = [_Level(p, s) for p, s in zip([full, *shapes], shapes, strict=False)]
        self._profile = profile
        self._files: list[Any] = []
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> StreamedOverviews:
        transform: Affine = self._profile["transform"]
        full_h, full_w = int(self._profile["height"]), int(self._profile["width"])
        for path, level in zip(self.paths, self._levels, strict=True):
            h, w = level.shape
            scaled = transform * Affine.scale(full_w / w, full_h / h)
            profile = {**self._profile, "height": h, "width": w, "transform": scaled}
            self._files.append(self._stack.enter_context(rasterio.open(path, "w", **profile)))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def add(self, row: int, col: int, block: NDArray[Any]) -> None:
        """Feed a window of the full-resolution image (``(band, rows, cols)`` at ``row``,
        ``col``); windows may come in any order and need not be whole rows or tiles."""
        for level, dst in zip(self._levels, self._files, strict=True):
            row, col, block = level.take(row, col, block)
            if block.shape[-2] == 0 or block.shape[-1] == 0:
                return  # no pixel of this level (nor of the smaller ones) in this block
            dst.write(block, window=Window(col, row, block.shape[-1], block.shape[-2]))

    def vrt(self, source: Path, target: Path) -> Path:
        """A VRT of ``source`` (its metadata, nodata and band descriptions as GDAL copies
        them) that lists the level files as each band's overviews."""
        rasterio.shutil.copy(source, target, driver="VRT")
        tree = ET.parse(target)
        for band in tree.getroot().iter("VRTRasterBand"):
            number = band.get("band")
            for path in self.paths:
                ov = ET.SubElement(band, "Overview")
                name = ET.SubElement(ov, "SourceFilename", relativeToVRT="0")
                name.text = str(path)
                ET.SubElement(ov, "SourceBand").text = number
        tree.write(target)
        return target

    def remove(self) -> None:
        """Delete the level files (after the COG is written, or on failure)."""
        for path in self.paths:
            path.unlink(missing_ok=True)
