"""Greenness by day of year measured on a real Sentinel-2 time series (eo-learn TestEOPatch).

``../shared/data/eolearn-testeopatch`` holds the NDVI of 68 Sentinel-2 acquisitions
(July 2015 – December 2017) of a 1 km² patch in Slovenia, its cloud masks (``IS_VALID``)
and a land-cover raster (``LULC``: 2 forest, 3 grassland; SOURCE.md). For each of the two
classes, the median NDVI of its valid pixels on every date where more than half of them
are valid is fitted with two annual harmonics (least squares over day of year, all years
together); the fitted curve, rescaled to 0 at its yearly minimum and 1 at its maximum, is
the greenness of the demo's forest and grass covers on that day. The winter minimum of the
real series includes snow (NDVI near 0 in January); it is kept, as it is what a
Sentinel-2 series of a temperate forest shows. The patch has only 11 cultivated pixels,
and no double cropping: the crop covers keep the modelled crop calendars of
:mod:`tiandi.demo.scene_spectra`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tiandi.demo.scene_real import WITHOUT_DATA
from tiandi.demo.scene_spectra import Cover, greenness
from tiandi.errors import InputError

EOLEARN = "eolearn-testeopatch"
#: LULC codes of the eo-learn patch whose curve a demo cover takes.
LULC_OF_COVER = {Cover.FOREST: 2, Cover.GRASS: 3}
_MIN_VALID_SHARE = 0.5
_HARMONICS = 2

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Phenology:
    """Greenness tables (day of year 1..366 -> 0..1) of the covers measured on real data,
    and how well the harmonic fit follows the real medians."""

    table: dict[Cover, F64]  # index = day of year (0 unused)
    fit: dict[Cover, tuple[int, float]]  # dates used, R² of the fit

    def greenness(self, doy: int) -> npt.NDArray[np.float32]:
        """Greenness of every cover on ``doy``: measured for forest and grass, the
        modelled calendars of :func:`tiandi.demo.scene_spectra.greenness` otherwise."""
        g = greenness(doy)
        for cover, table in self.table.items():
            g[cover] = np.float32(table[doy])
        return g


def _design(doy: F64) -> F64:
    cols = [np.ones_like(doy)]
    for k in range(1, _HARMONICS + 1):
        w = 2 * math.pi * k * doy / 365.25
        cols += [np.cos(w), np.sin(w)]
    out: F64 = np.column_stack(cols)
    return out


def _load(folder: Path, name: str) -> npt.NDArray[np.generic]:
    path = folder / name
    if not path.is_file():
        raise InputError(
            f"{path} not found: the real-spectra demo scene takes its forest and grass "
            f"greenness from the eo-learn series in {folder.parent}; put ../shared/data "
            f"beside the repository or set $TIANDI_DEMO_DATA, or run {WITHOUT_DATA}"
        )
    out: npt.NDArray[np.generic] = np.load(path)
    return out


def load_phenology(root: Path) -> Phenology:
    """Fit the forest and grass greenness curves on ``root/eolearn-testeopatch``."""
    folder = root / EOLEARN / "TestEOPatch"
    if not folder.is_dir():
        raise InputError(
            f"{folder} not found: the real-spectra demo scene takes its forest and grass "
            "greenness from that eo-learn series; put ../shared/data beside the repository "
            f"or set $TIANDI_DEMO_DATA, or run {WITHOUT_DATA}"
        )
    ndvi = _load(folder, "data/NDVI.npy")[..., 0].astype(np.float64)
    valid = _load(folder, "mask/IS_VALID.npy")[..., 0].astype(bool)
    lulc = _load(folder, "mask_timeless/LULC.npy")[..., 0]
    stamps = json.loads((folder / "timestamps.json").read_text())
    doys = np.array([datetime.fromisoformat(s).timetuple().tm_yday for s in stamps], float)
    days = np.arange(367, dtype=np.float64)
    table: dict[Cover, F64] = {}
    fit: dict[Cover, tuple[int, float]] = {}
    for cover, code in LULC_OF_COVER.items():
        inside = lulc == code
        need = _MIN_VALID_SHARE * inside.sum()
        keep = [t for t in range(len(doys)) if (valid[t] & inside).sum() > need]
        med = np.array([np.median(ndvi[t][valid[t] & inside]) for t in keep])
        coef, *_ = np.linalg.lstsq(_design(doys[keep]), med, rcond=None)
        resid = med - _design(doys[keep]) @ coef
        r2 = 1.0 - float((resid**2).sum() / ((med - med.mean()) ** 2).sum())
        curve = _design(days) @ coef
        lo, hi = curve[1:].min(), curve[1:].max()
        table[cover] = np.round((curve - lo) / (hi - lo), 4)
        fit[cover] = (len(keep), round(r2, 3))
    return Phenology(table=table, fit=fit)
