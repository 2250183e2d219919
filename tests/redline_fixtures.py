"""Tiny synthetic inputs for the redline tests: change maps, composites, zones, stations."""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
from shapely.geometry import box

BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
SIGNATURES: Mapping[str, tuple[float, ...]] = {
    "quarry": (0.18, 0.20, 0.24, 0.28, 0.36, 0.32),
    "construction": (0.12, 0.13, 0.14, 0.19, 0.26, 0.23),
    "road": (0.10, 0.11, 0.12, 0.16, 0.21, 0.19),
    "aquaculture": (0.06, 0.07, 0.05, 0.03, 0.02, 0.01),
    "solar": (0.07, 0.07, 0.07, 0.10, 0.12, 0.10),
    "clearing": (0.09, 0.11, 0.14, 0.22, 0.28, 0.22),
    "forest": (0.03, 0.05, 0.03, 0.32, 0.16, 0.08),
    "water": (0.07, 0.08, 0.06, 0.03, 0.02, 0.01),
}
X0, Y0, RES = 400000.0, 4460000.0, 10.0
CRS = "EPSG:32650"


class Scene:
    """A forest scene of ``height`` × ``width`` 10 m pixels in UTM 50N; plant events on it."""

    def __init__(self, height: int = 60, width: int = 40) -> None:
        self.height, self.width = height, width
        self.before = {b: np.full((height, width), v, "float32") for b, v in _sig("forest")}
        self.after = {b: a.copy() for b, a in self.before.items()}
        self.mask = np.zeros((height, width), "uint8")
        self.prob = np.full((height, width), 0.05, "float32")

    def plant(self, rows: slice, cols: slice, kind: str, *, before: str | None = None) -> None:
        """Put ``kind`` in the after-state (and ``before`` in the before-state) and flag change."""
        for band, value in _sig(kind):
            self.after[band][rows, cols] = value
        if before is not None:
            for band, value in _sig(before):
                self.before[band][rows, cols] = value
        self.mask[rows, cols] = 1
        self.prob[rows, cols] = 0.9

    def datasets(self) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
        """(change, before, after) as rioxarray-style datasets with indices."""
        xs = X0 + RES / 2 + RES * np.arange(self.width)
        ys = Y0 - RES / 2 - RES * np.arange(self.height)
        coords = {"y": ys, "x": xs}

        def ds(vars_: Mapping[str, np.ndarray]) -> xr.Dataset:
            out = xr.Dataset({k: (("y", "x"), v) for k, v in vars_.items()}, coords=coords)
            return out.rio.write_crs(CRS)

        change = ds({"change_mask": self.mask, "change_prob": self.prob})
        return change, ds(with_indices(self.before)), ds(with_indices(self.after))

    def bounds_of(self, rows: slice, cols: slice) -> tuple[float, float, float, float]:
        """UTM bounds of a pixel block."""
        r0, r1 = rows.start, rows.stop
        c0, c1 = cols.start, cols.stop
        return (X0 + c0 * RES, Y0 - r1 * RES, X0 + c1 * RES, Y0 - r0 * RES)


def with_indices(bands: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Bands plus ndvi, ndwi, ndbi, bsi (float32)."""
    b = bands

    def nd(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        return ((p - q) / (p + q)).astype("float32")

    return {
        **b,
        "ndvi": nd(b["B08"], b["B04"]),
        "ndwi": nd(b["B03"], b["B08"]),
        "ndbi": nd(b["B11"], b["B08"]),
        "bsi": nd(b["B11"] + b["B04"], b["B08"] + b["B02"]),
    }


def _sig(kind: str) -> list[tuple[str, float]]:
    return list(zip(BANDS, SIGNATURES[kind], strict=True))


def zones_utm(*boxes: tuple[float, float, float, float], to_4490: bool = True) -> gpd.GeoDataFrame:
    """Zones (contract columns) from UTM boxes, returned in EPSG:4490 by default."""
    n = len(boxes)
    gdf = gpd.GeoDataFrame(
        {
            "zone_id": [f"Z{i + 1}" for i in range(n)],
            "name": [f"红线区{i + 1}" for i in range(n)],
            "zone_type": ["redline"] * n,
            "level": [None] * n,
            "functional_zone": [None] * n,
            "region": ["测试县"] * n,
            "category": [None] * n,
        },
        geometry=[box(*b) for b in boxes],
        crs=CRS,
    )
    return gdf.to_crs("EPSG:4490") if to_4490 else gdf


def scene_box() -> tuple[float, float, float, float]:
    """UTM bounds of the default 60 × 40 scene."""
    return (X0, Y0 - 60 * RES, X0 + 40 * RES, Y0)
