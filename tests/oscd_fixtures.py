"""A tiny synthetic folder with the OSCD layout, generated in tests (never real OSCD data).

Each city: 13 single-band uint16 GeoTIFFs per date at 10/20/60 m (EPSG:4326, same
bounds for every band), ``dates.txt``, and a change map with values 1 (no change) /
2 (change). The change is a bright rectangle that appears in date 2.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from tiandi.models.oscd import IMAGES_DIR, LABEL_DIRS, S2_BANDS

RES_M = {"B02": 10, "B03": 10, "B04": 10, "B08": 10, "B01": 60, "B09": 60, "B10": 60}
PIXEL_DEG = 1e-4


def _write(path: Path, data: np.ndarray, bounds: tuple[float, float, float, float] | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile: dict[str, object] = {
        "driver": "GTiff",
        "height": data.shape[0],
        "width": data.shape[1],
        "count": 1,
        "dtype": data.dtype.name,
    }
    if bounds is not None:
        profile["crs"] = "EPSG:4326"
        west, south, east, north = bounds
        xres = (east - west) / data.shape[1]
        yres = (north - south) / data.shape[0]
        profile["transform"] = Affine(xres, 0.0, west, 0.0, -yres, north)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data, 1)


def make_city(
    root: Path,
    city: str,
    *,
    size: tuple[int, int] = (48, 40),
    seed: int = 0,
    date2_shrink: int = 0,
    skip_bands: Sequence[str] = (),
    label: bool = True,
) -> np.ndarray:
    """Write one synthetic city; return its 0/1 change truth (rows, cols)."""
    rng = np.random.default_rng(seed)
    h, w = size
    x0, y1 = 10.0 + seed, 45.0
    bounds = (x0, y1 - h * PIXEL_DEG, x0 + w * PIXEL_DEG, y1)
    truth = np.zeros((h, w), dtype=np.uint8)
    r, c = int(rng.integers(4, h // 2)), int(rng.integers(4, w // 2))
    truth[r : r + 10, c : c + 12] = 1
    city_dir = root / IMAGES_DIR / city
    for date_dir, changed in (("imgs_1", False), ("imgs_2", True)):
        shrink = date2_shrink if changed else 0
        for i, band in enumerate(S2_BANDS):
            if band in skip_bands and changed:
                continue
            factor = RES_M.get(band, 20) // 10
            base = 800 + 150 * i + rng.normal(0, 60, (h, w))
            if changed:
                base = base + 2500.0 * truth
            dn = np.clip(base, 1, 10000).astype(np.uint16)
            hh, ww = max(1, (h - shrink) // factor), max(1, (w - shrink) // factor)
            rows = np.linspace(0, h - 1, hh).astype(int)
            cols = np.linspace(0, w - 1, ww).astype(int)
            _write(city_dir / date_dir / f"T00XXX_2017_{band}.tif", dn[np.ix_(rows, cols)], bounds)
    (city_dir / "dates.txt").write_text("date_1: 20160101\ndate_2: 20170615\n")
    if label:
        _write(root / LABEL_DIRS[0] / city / "cm" / f"{city}-cm.tif", truth + 1, None)
    return truth


def make_oscd(root: Path, cities: Sequence[str] = ("alpha", "beta", "gamma")) -> Path:
    """Write several synthetic cities under ``root``; return ``root``."""
    for i, city in enumerate(cities):
        make_city(root, city, seed=i)
    return root
