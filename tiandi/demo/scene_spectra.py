"""Surface covers of the demo scene and their Sentinel-2 L2A reflectances.

Reflectances (B02 B03 B04 B08 B11 B12) are those of the table in docs/architecture.md.
Vegetated covers move between a dormant and a green state with a greenness in 0..1 that
depends on the day of year: deciduous forest and grass peak in July, double-cropped
fields (winter wheat then summer maize, the North China Plain rotation) peak in late April
and again in August, spring maize in late July, vegetable plots stay half green.
"""

from __future__ import annotations

import math
from enum import IntEnum

import numpy as np
import numpy.typing as npt

BANDS_10M = ("B02", "B03", "B04", "B08")
BANDS_20M = ("B11", "B12")
BANDS = BANDS_10M + BANDS_20M


class Cover(IntEnum):
    """Surface cover of a pixel; events replace the cover in the after period."""

    FOREST = 0
    GRASS = 1
    DOUBLE_CROP = 2
    SPRING_MAIZE = 3
    VEGETABLES = 4
    WATER = 5
    SETTLEMENT = 6
    QUARRY = 7
    CONSTRUCTION = 8
    ROAD = 9
    POND = 10
    DIKE = 11
    SOLAR = 12
    CLEARING = 13


WATER_COVERS = (Cover.WATER, Cover.POND)
CROP_COVERS = (Cover.DOUBLE_CROP, Cover.SPRING_MAIZE, Cover.VEGETABLES)

# Green (peak) state; the table of docs/architecture.md.
_GREEN: dict[Cover, tuple[float, ...]] = {
    Cover.FOREST: (0.03, 0.05, 0.03, 0.32, 0.16, 0.08),
    Cover.GRASS: (0.05, 0.08, 0.07, 0.26, 0.22, 0.13),
    Cover.DOUBLE_CROP: (0.04, 0.08, 0.04, 0.38, 0.20, 0.12),
    Cover.SPRING_MAIZE: (0.04, 0.08, 0.04, 0.38, 0.20, 0.12),
    Cover.VEGETABLES: (0.04, 0.08, 0.04, 0.38, 0.20, 0.12),
    Cover.WATER: (0.07, 0.08, 0.06, 0.03, 0.02, 0.01),
    Cover.SETTLEMENT: (0.09, 0.10, 0.11, 0.17, 0.22, 0.20),
    Cover.QUARRY: (0.18, 0.20, 0.24, 0.28, 0.36, 0.32),
    Cover.CONSTRUCTION: (0.12, 0.13, 0.14, 0.19, 0.26, 0.23),
    Cover.ROAD: (0.10, 0.11, 0.12, 0.16, 0.21, 0.19),
    Cover.POND: (0.06, 0.07, 0.05, 0.03, 0.02, 0.01),
    Cover.DIKE: (0.09, 0.10, 0.12, 0.19, 0.24, 0.20),
    Cover.SOLAR: (0.07, 0.07, 0.07, 0.10, 0.12, 0.10),
    Cover.CLEARING: (0.09, 0.11, 0.14, 0.22, 0.28, 0.22),
}

# Dormant state of the vegetated covers (leafless forest, dry grass, bare or stubble field).
_DORMANT: dict[Cover, tuple[float, ...]] = {
    Cover.FOREST: (0.05, 0.07, 0.08, 0.21, 0.22, 0.15),
    Cover.GRASS: (0.07, 0.09, 0.11, 0.18, 0.27, 0.20),
    Cover.DOUBLE_CROP: (0.08, 0.10, 0.12, 0.18, 0.26, 0.20),
    Cover.SPRING_MAIZE: (0.08, 0.10, 0.12, 0.18, 0.26, 0.20),
    Cover.VEGETABLES: (0.08, 0.10, 0.12, 0.18, 0.26, 0.20),
}

GREEN = np.array([_GREEN[c] for c in Cover], dtype=np.float32)
DORMANT = np.array([_DORMANT.get(c, _GREEN[c]) for c in Cover], dtype=np.float32)

CLOUD = np.array([0.42, 0.43, 0.44, 0.48, 0.36, 0.27], dtype=np.float32)
"""Reflectance of an opaque cloud top."""


def _peak(doy: float, centre: float, width: float) -> float:
    return math.exp(-0.5 * ((doy - centre) / width) ** 2)


def greenness(doy: int) -> npt.NDArray[np.float32]:
    """Greenness (0 dormant .. 1 peak) of every cover on a day of year."""
    g = np.ones(len(Cover), dtype=np.float32)
    g[Cover.FOREST] = _peak(doy, 200, 55)
    g[Cover.GRASS] = _peak(doy, 195, 50)
    wheat = _peak(doy, 125, 28) if doy < 165 else 0.0
    maize = _peak(doy, 230, 25) if doy > 172 else 0.0
    g[Cover.DOUBLE_CROP] = max(wheat, maize)
    g[Cover.SPRING_MAIZE] = _peak(doy, 210, 35)
    g[Cover.VEGETABLES] = 0.55 + 0.05 * math.sin(2 * math.pi * doy / 60.0)
    return g


def signatures(doy: int) -> npt.NDArray[np.float32]:
    """Reflectance table (cover x band, bands in ``BANDS`` order) on a day of year."""
    g = greenness(doy)[:, None]
    out: npt.NDArray[np.float32] = (DORMANT + (GREEN - DORMANT) * g).astype(np.float32)
    return out
