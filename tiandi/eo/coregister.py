"""Co-registration of a fine image (UAV orthophoto) to a satellite grid by phase correlation.

1. The satellite window over the image's footprint is read (``InputError`` when they do
   not overlap).
2. The image's bands are resampled onto that window's grid by averaging (downsampling
   from cm–dm pixels to the satellite's), its alpha band/nodata giving the valid area.
3. Matching bands are paired by name: image red/green/blue with satellite ``B04/B03/B02``
   (or bands described red/green/blue); each is standardised over the valid pixels and
   the pairs are summed into one image per side.
4. ``skimage.registration.phase_cross_correlation`` (upsampled 20×, i.e. 0.05 px) on the
   largest rectangle where both are valid — not on the masked area, so that the edge of
   the valid region (identical in both) cannot pull the peak to zero shift.

The shift is what has to be added to the image's georeference so it lies on the
satellite: ``shift_x_m`` east and ``shift_y_m`` north, and in satellite pixels
(``shift_col_px`` right, ``shift_row_px`` down). Fewer than ``min_overlap_px`` pixels on
a side of the rectangle: status ``skipped`` (a 100 m flight is 10 Sentinel-2 pixels,
too few to correlate reliably), never a guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.errors
import rasterio.shutil
import rasterio.warp
import rasterio.windows
from affine import Affine
from rasterio.enums import ColorInterp, Resampling
from scipy import ndimage

from tiandi._io import atomic_path
from tiandi.eo.grid import outward_window
from tiandi.errors import InputError

SATELLITE_RGB = {"red": ("B04", "red"), "green": ("B03", "green"), "blue": ("B02", "blue")}
_INTERP = {ColorInterp.red: "red", ColorInterp.green: "green", ColorInterp.blue: "blue"}


@dataclass(frozen=True)
class Coregistration:
    """Result of :func:`coregister` (shifts 0 when ``status`` is ``skipped``)."""

    status: str  # "estimated" or "skipped"
    shift_x_m: float
    shift_y_m: float
    shift_col_px: float
    shift_row_px: float
    pixel_m: float
    error: float
    overlap_px: tuple[int, int]
    bands: tuple[str, ...]
    reason: str = ""

    @property
    def shift_m(self) -> float:
        """Length of the shift in metres."""
        return math.hypot(self.shift_x_m, self.shift_y_m)

    @property
    def shift_px(self) -> float:
        """Length of the shift in satellite pixels."""
        return math.hypot(self.shift_col_px, self.shift_row_px)

    def properties(self) -> dict[str, Any]:
        """Flat ``tiandi:coreg_*`` STAC properties."""
        out: dict[str, Any] = {
            "tiandi:coreg_status": self.status,
            "tiandi:coreg_shift_x_m": round(self.shift_x_m, 3),
            "tiandi:coreg_shift_y_m": round(self.shift_y_m, 3),
            "tiandi:coreg_shift_col_px": round(self.shift_col_px, 3),
            "tiandi:coreg_shift_row_px": round(self.shift_row_px, 3),
            "tiandi:coreg_pixel_m": round(self.pixel_m, 3),
            "tiandi:coreg_bands": ",".join(self.bands),
        }
        if self.reason:
            out["tiandi:coreg_reason"] = self.reason
        return out


def _open(path: Path, what: str) -> Any:
    try:
        return rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"{what} {path} cannot be read as a raster ({exc})") from exc


def _image_bands(src: Any) -> dict[str, int]:
    found = {_INTERP[c]: i + 1 for i, c in enumerate(src.colorinterp) if c in _INTERP}
    if len(found) < 3 and src.count >= 3:
        found = {"red": 1, "green": 2, "blue": 3}
    return found


def _satellite_bands(src: Any, path: Path) -> dict[str, int]:
    names = [(d or "").lower() for d in src.descriptions]
    found: dict[str, int] = {}
    for colour, aliases in SATELLITE_RGB.items():
        for alias in aliases:
            if alias.lower() in names:
                found[colour] = names.index(alias.lower()) + 1
                break
    if not found:
        found = {_INTERP[c]: i + 1 for i, c in enumerate(src.colorinterp) if c in _INTERP}
    if not found:
        raise InputError(
            f"satellite composite {path} has no band named B02/B03/B04 (or red/green/blue); "
            f"its bands are {list(src.descriptions)}. Pass a composite written by the flow"
        )
    return found


def _window(sat: Any, img: Any, sat_path: Path, img_path: Path) -> rasterio.windows.Window:
    bounds = rasterio.warp.transform_bounds(img.crs, sat.crs, *img.bounds, densify_pts=21)
    win = rasterio.windows.from_bounds(*bounds, transform=sat.transform)
    win = outward_window(win)
    full = rasterio.windows.Window(0, 0, sat.width, sat.height)
    try:
        win = win.intersection(full)
    except rasterio.errors.WindowError:
        win = None
    if win is None or win.width < 1 or win.height < 1:
        raise InputError(
            f"orthophoto {img_path} (bounds {tuple(round(v, 1) for v in bounds)} in "
            f"{sat.crs}) does not overlap satellite composite {sat_path} (bounds "
            f"{tuple(round(v, 1) for v in sat.bounds)}); pass the composite that covers it"
        )
    return win


def _standard(a: npt.NDArray[np.float64], valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    out = np.zeros(a.shape)
    v = a[valid]
    if v.size > 1 and v.std() > 0:
        out[valid] = (v - v.mean()) / v.std()
    return out


@dataclass(frozen=True)
class _Pair:
    """The satellite window and the image resampled onto its grid, band by band."""

    ref: npt.NDArray[np.float64]  # (band, row, col) satellite values
    moving: npt.NDArray[np.float64]  # (band, row, col) image averages, NaN outside it
    valid: npt.NDArray[np.bool_]  # satellite valid, image fully covering, both finite
    transform: Affine  # of the window
    factor: float  # metres per CRS unit
    pixel: float  # satellite pixel size in metres
    colours: tuple[str, ...]


def coregister(
    image: Path, satellite: Path, *, min_overlap_px: int = 12, upsample: int = 20
) -> Coregistration:
    """Shift that puts ``image`` (UAV orthophoto) onto ``satellite`` (composite COG)."""
    pair = _on_satellite_grid(Path(image), Path(satellite))
    rows, cols = _largest_rectangle(pair.valid)
    size = (rows.stop - rows.start, cols.stop - cols.start)
    if min(size) < min_overlap_px:
        return Coregistration(
            "skipped", 0.0, 0.0, 0.0, 0.0, pair.pixel, math.nan, size, pair.colours,
            f"overlap of {size[0]} x {size[1]} satellite pixels is under {min_overlap_px}; "
            "too few to correlate",
        )  # fmt: skip
    d_row, d_col, error = _phase_shift(pair, rows, cols, upsample)
    return Coregistration(
        "estimated",
        d_col * pair.transform.a * pair.factor,
        d_row * pair.transform.e * pair.factor,
        d_col,
        d_row,
        pair.pixel,
        error,
        size,
        pair.colours,
    )


def _on_satellite_grid(image: Path, satellite: Path) -> _Pair:
    """Steps 1 and 2: the satellite window over the image and the image averaged onto it."""
    with _open(satellite, "satellite composite") as sat, _open(image, "image") as img:
        win = _window(sat, img, satellite, image)
        sat_bands = _satellite_bands(sat, satellite)
        img_bands = _image_bands(img)
        colours = tuple(c for c in ("red", "green", "blue") if c in sat_bands and c in img_bands)
        if not colours:
            raise InputError(f"image {image} and satellite {satellite} share no RGB band")
        transform = sat.window_transform(win)
        shape = (int(win.height), int(win.width))
        sat_nodata = sat.nodata if sat.nodata is not None else 0
        ref = sat.read([sat_bands[c] for c in colours], window=win).astype(np.float64)
        sat_valid = np.all(ref != sat_nodata, axis=0)
        moving = np.zeros((len(colours), *shape))
        grid = (sat.crs, transform)
        pixels = img.read([img_bands[c] for c in colours]).astype(np.float64)
        _average_onto(pixels, moving, img, grid, dst_nodata=np.nan, source_nodata=False)
        cover = np.zeros(shape)
        mask = _valid_mask(img).astype(np.float64)
        _average_onto(mask, cover, img, grid, dst_nodata=0.0, source_nodata=True)
        if sat.crs.is_geographic:
            raise InputError(
                f"satellite composite {satellite} is in a geographic CRS; co-registration needs "
                "its projected grid (the flow writes composites in UTM)"
            )
        factor = float(sat.crs.linear_units_factor[1])
        pixel = math.sqrt(abs(transform.a * transform.e)) * factor
    # GDAL averages only the source pixels that exist: a satellite pixel half outside the
    # image still gets a full value, so the window border is dropped (erosion by 1 px).
    full = ndimage.binary_erosion(cover > 0.99, iterations=1, border_value=0)
    valid = sat_valid & full & np.all(np.isfinite(moving), axis=0)
    return _Pair(ref, moving, valid, transform, factor, pixel, colours)


def _average_onto(
    source: npt.NDArray[np.float64],
    out: npt.NDArray[np.float64],
    img: Any,
    grid: tuple[Any, Affine],
    *,
    dst_nodata: float,
    source_nodata: bool,
) -> None:
    """Average ``source`` (on the image's grid) into ``out`` on ``grid = (crs, transform)``;
    ``source_nodata=False`` ignores the image's nodata value."""
    crs, transform = grid
    kwargs: dict[str, Any] = {} if source_nodata else {"src_nodata": None}
    rasterio.warp.reproject(
        source,
        out,
        src_transform=img.transform,
        src_crs=img.crs,
        dst_transform=transform,
        dst_crs=crs,
        resampling=Resampling.average,
        dst_nodata=dst_nodata,
        **kwargs,
    )


def _phase_shift(
    pair: _Pair, rows: slice, cols: slice, upsample: int
) -> tuple[float, float, float]:
    """Steps 3 and 4: ``(row shift, column shift, error)`` of the standardised band sums
    over the rectangle ``rows`` x ``cols``, Hann-tapered (no FFT wrap edges)."""
    from skimage.filters import window
    from skimage.registration import phase_cross_correlation

    box = np.zeros(pair.valid.shape, bool)
    box[rows, cols] = True
    r = np.sum([_standard(b, box) for b in pair.ref], axis=0)[rows, cols]
    m = np.sum([_standard(b, box) for b in np.nan_to_num(pair.moving)], axis=0)[rows, cols]
    taper = window("hann", r.shape)  # type: ignore[no-untyped-call]
    r, m = r * taper, m * taper
    shift, error, _ = phase_cross_correlation(  # type: ignore[no-untyped-call]
        r, m, upsample_factor=upsample
    )
    return float(shift[0]), float(shift[1]), float(error)


def _valid_mask(src: Any) -> npt.NDArray[np.bool_]:
    alpha = [i + 1 for i, c in enumerate(src.colorinterp) if c == ColorInterp.alpha]
    if alpha:
        mask: npt.NDArray[np.bool_] = src.read(alpha[0]) > 0
        return mask
    return np.asarray(src.dataset_mask() > 0)


def _largest_rectangle(valid: npt.NDArray[np.bool_]) -> tuple[slice, slice]:
    """A large axis-aligned rectangle of valid pixels (greedy shrink of the bounding box)."""
    if not valid.any():
        return slice(0, 0), slice(0, 0)
    rs, cs = np.flatnonzero(valid.any(axis=1)), np.flatnonzero(valid.any(axis=0))
    r0, r1, c0, c1 = int(rs[0]), int(rs[-1]) + 1, int(cs[0]), int(cs[-1]) + 1
    while r1 > r0 and c1 > c0 and not valid[r0:r1, c0:c1].all():
        sub = ~valid[r0:r1, c0:c1]
        sides = {
            "top": sub[0].mean(),
            "bottom": sub[-1].mean(),
            "left": sub[:, 0].mean(),
            "right": sub[:, -1].mean(),
        }
        side = max(sides, key=lambda k: sides[k])
        if side == "top":
            r0 += 1
        elif side == "bottom":
            r1 -= 1
        elif side == "left":
            c0 += 1
        else:
            c1 -= 1
    return slice(r0, r1), slice(c0, c1)


def shifted_copy(source: Path, target: Path, result: Coregistration) -> Path:
    """Copy ``source`` to ``target`` with its georeference moved by the shift; atomic."""
    with atomic_path(Path(target)) as tmp:
        rasterio.shutil.copy(str(source), str(tmp), driver="GTiff", COMPRESS="DEFLATE", TILED="YES")
        with rasterio.open(tmp, "r+") as dst:
            if dst.crs.is_geographic:
                lat = math.radians(dst.xy(dst.height // 2, dst.width // 2)[1])
                dx, dy = (
                    result.shift_x_m / (111_320.0 * math.cos(lat)),
                    result.shift_y_m / 110_574.0,
                )
            else:
                factor = float(dst.crs.linear_units_factor[1])
                dx, dy = result.shift_x_m / factor, result.shift_y_m / factor
            dst.transform = Affine.translation(dx, dy) @ dst.transform
    return Path(target)
