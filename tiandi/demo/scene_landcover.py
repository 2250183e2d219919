"""Land-cover map and surface texture of the demo scene (10 m pixels).

The terrain is a fractal field plus the layout's hills, lowered along the river; the
highest 40 % is forest, the next 25 % grass and shrub, the lowest 35 % cropland cut into
parcels of 150–400 m, each with its crop calendar. Water (river, reservoir, pond) and
settlements are drawn from the layout's polygons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from rasterio import features
from rasterio.transform import Affine
from scipy import ndimage
from shapely import affinity
from shapely.geometry.base import BaseGeometry

from tiandi.demo.scene_fields import F32, bump, fractal_field, smooth_field, upsample
from tiandi.demo.scene_layout import Layout
from tiandi.demo.scene_spectra import Cover

U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class LandCover:
    """Cover (``Cover`` codes) and multiplicative texture of every 10 m pixel."""

    cover: U8
    texture: F32


def rasterize(geoms: list[BaseGeometry], shape: tuple[int, int], value: int = 1) -> U8:
    """Burn pixel-coordinate geometries (pixel centre inside) into a uint8 array."""
    if not geoms:
        return np.zeros(shape, dtype=np.uint8)
    out: U8 = features.rasterize(
        [(g, value) for g in geoms],
        out_shape=shape,
        transform=Affine.identity(),
        fill=0,
        dtype="uint8",
    )
    return out


def _river_distance(layout: Layout, shape: tuple[int, int]) -> F32:
    """Distance in pixels to the river's centre line (computed on an 8 px grid)."""
    step = 8
    coarse_shape = (shape[0] // step + 10, shape[1] // step + 10)
    scaled = affinity.affine_transform(layout.river_line, [1 / step, 0, 0, 1 / step, 4, 4])
    burnt = features.rasterize(
        [(scaled, 1)], out_shape=coarse_shape, transform=Affine.identity(), all_touched=True
    )
    dist = ndimage.distance_transform_edt(burnt == 0).astype(np.float32) * step
    return upsample(dist, shape, float(step))


def build_landcover(layout: Layout, rng: np.random.Generator) -> LandCover:
    """Land cover and texture for the layout; deterministic for the generator's state."""
    n = layout.size
    shape = (n, n)
    terrain = fractal_field(rng, shape, (250.0, 90.0, 30.0))
    for hill in layout.hills:
        terrain += np.float32(hill.height) * bump(shape, hill.cx, hill.cy, hill.sigma)
    dist = _river_distance(layout, shape)
    terrain -= np.float32(1.4) * np.exp(-0.5 * (dist / np.float32(70.0)) ** 2)
    sample = terrain[::4, ::4]
    q_crop, q_grass = np.quantile(sample, [0.35, 0.60])

    cover = np.full(shape, Cover.FOREST, dtype=np.uint8)
    cover[terrain < q_grass] = Cover.GRASS
    crop = terrain < q_crop

    # Parcels: irregular grid of 150–400 m by 100–300 m fields, each with a crop calendar.
    x_edges = np.cumsum(rng.integers(15, 41, size=n // 15 + 2))
    y_edges = np.cumsum(rng.integers(10, 31, size=n // 10 + 2))
    ix = np.searchsorted(x_edges, np.arange(n), side="right")
    iy = np.searchsorted(y_edges, np.arange(n), side="right")
    parcel = iy[:, None] * len(x_edges) + ix[None, :]
    n_parcels = len(x_edges) * len(y_edges)
    kinds = np.array([Cover.DOUBLE_CROP, Cover.SPRING_MAIZE, Cover.VEGETABLES], dtype=np.uint8)
    parcel_kind = kinds[rng.choice(3, size=n_parcels, p=[0.75, 0.05, 0.20])]
    parcel_gain = (1.0 + 0.08 * rng.standard_normal(n_parcels)).astype(np.float32)
    cover[crop] = parcel_kind[parcel[crop]]

    water = rasterize([*layout.rivers, *layout.lakes], shape).astype(bool)
    towns = rasterize(list(layout.towns), shape).astype(bool)
    cover[towns] = Cover.SETTLEMENT
    cover[water] = Cover.WATER

    texture = np.float32(1.0) + np.float32(0.06) * smooth_field(rng, shape, 20.0)
    texture += np.float32(0.03) * smooth_field(rng, shape, 3.0)
    texture += np.float32(0.02) * rng.standard_normal(shape, dtype=np.float32)
    texture[crop] *= parcel_gain[parcel[crop]]
    speckle = rng.standard_normal(shape, dtype=np.float32)
    texture[towns] *= np.clip(1.0 + 0.25 * speckle[towns], 0.5, 1.8)
    texture[water] = 1.0 + 0.02 * speckle[water]
    return LandCover(cover=cover, texture=texture.astype(np.float32))
