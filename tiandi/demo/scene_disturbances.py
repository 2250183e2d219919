"""Planted ecological disturbances of the demo scene: a burn scar, a dieback stand, a bloom
in the reservoir and a reclaimed strip of its shore, each painted with real pixels.

Where (pixel coordinates, all inside one zone, apart from the human-activity events by
their 12 px gap, so the events' pixels do not change):

- **burn scar** (``burned``): an irregular blob of 5–9 ha on grass and shrub (at least
  95 % of it, so that no forest pixel makes it a dieback too; a grass fire, like the
  California chaparral fires its pixels come from), outside the reservoir's zone;
- **dieback stand** (``dieback``): a blob of 2.5–4.5 ha of forest (at least 95 %);
- **bloom** (``bloom``): one blob around the reservoir's deepest point, about 15 % of
  the reservoir on the first bloom date and grown to 35 % on the second, kept 3 px off
  the shore; only on those two dates (a bloom comes and goes). The truth has one record
  per bloom date;
- **reclaimed strip** (``reclamation``): the reservoir's water within a few pixels of the
  shore along a stretch of it (4–6 px wide, 38–62 px long), away from the river mouths and
  the bloom, turned into land (fill). The demo has no sea: the reservoir, whose rivers run
  to the scene's edges, stands in for it, and the demo maps its zone as coastal
  (:data:`COASTAL_ZONE`).

Scenes smaller than :data:`MIN_RESERVOIR_SIZE` get the burn scar and the dieback stand
only (their reservoir is a few hundred pixels, most of its shore taken by events).

After-state spectra come from real pixels, one drawn at random (seeded) per scene pixel
from the pools of :mod:`tiandi.demo.scene_real`; clouds, shadows and noise are added over
them like everywhere else. The burn scar, the dieback stand and the reclaimed strip
appear between the periods (like the events) and stay; the dieback stand is a
persistent drop that ``detect_dieback`` compares with the same season of the scene's
earlier-year acquisitions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from shapely.geometry.base import BaseGeometry

from tiandi.demo.scene_events import EventPlan, footprint
from tiandi.demo.scene_fields import F32, blob
from tiandi.demo.scene_landcover import U8, LandCover, rasterize
from tiandi.demo.scene_layout import Layout
from tiandi.demo.scene_real import RealSpectra
from tiandi.demo.scene_spectra import Cover
from tiandi.errors import InputError

CHANGE_TYPE_OF_KIND = {
    "burn_scar": "burned",
    "dieback": "dieback",
    "bloom": "bloom",
    "reclamation": "reclamation",
}
KINDS = tuple(CHANGE_TYPE_OF_KIND)
MIN_RESERVOIR_SIZE = 512
"""Scenes smaller than this (px) have too small a reservoir for the bloom and the strip."""
COASTAL_ZONE = "HX-01"
"""The zone of the reservoir, which the demo maps as coastal (reclamation, coastline)."""
_GAP = 12  # px kept free around every human-activity event
_TRIES = 4000
_LOOSE_SHARE = 0.6  # the cover share asked for in the second half of the tries
Paint = tuple[npt.NDArray[np.intp], F32]
"""Flat pixel indices of the scene and their (n, 6) reflectance."""


@dataclass(frozen=True)
class Disturbance:
    """One planted disturbance: its pixels, their after-state spectra, when it shows."""

    event_id: str
    kind: str
    day: date  # when it happened (a bloom: its date)
    dates: tuple[date, ...]  # the only acquisition days it shows on; () = every day from day
    zone_id: str
    index: npt.NDArray[np.intp]  # flat indices into the scene's pixels
    spectra: F32  # (n, 6) reflectance, B02 B03 B04 B08 B11 B12
    footprint: BaseGeometry  # pixel coordinates of the scene
    source: str

    @property
    def change_type(self) -> str:
        """The change type a detector should report here."""
        return CHANGE_TYPE_OF_KIND[self.kind]

    def shows_on(self, on: date) -> bool:
        """Whether the acquisition of day ``on`` sees it."""
        return on in self.dates if self.dates else on >= self.day


@dataclass(frozen=True)
class DisturbancePlan:
    """The disturbances and the after-period cover (the reclaimed strip is land)."""

    disturbances: tuple[Disturbance, ...]
    cover_after: U8

    def paint(self, day: date) -> list[Paint]:
        """What the acquisition of ``day`` paints over the covers."""
        return [(d.index, d.spectra) for d in self.disturbances if d.shows_on(day)]


@dataclass(frozen=True)
class _Site:
    zone_idx: U8
    cover: U8
    occupied: npt.NDArray[np.bool_]  # events' windows and their gap
    zone_ids: tuple[str, ...]


def _site(layout: Layout, land: LandCover, events: EventPlan) -> _Site:
    n = layout.size
    zone_idx = np.zeros((n, n), dtype=np.uint8)
    for i, zone in enumerate(layout.zones):
        zone_idx |= rasterize([zone.geometry], (n, n), i + 1)
    occupied = np.zeros((n, n), dtype=bool)
    for e in events.events:
        h, w = e.covers.shape
        r0, c0 = max(e.row - _GAP, 0), max(e.col - _GAP, 0)
        occupied[r0 : e.row + h + _GAP, c0 : e.col + w + _GAP] = True
    zone_ids = tuple(z.zone_id for z in layout.zones)
    return _Site(zone_idx, land.cover, occupied, zone_ids)


def _blob_mask(rng: np.random.Generator, area: float, n: int) -> tuple[npt.NDArray[np.bool_], int]:
    """An irregular blob of about ``area`` px in a small window; (mask, side)."""
    r = math.sqrt(area / math.pi)
    side = int(2 * r * 1.8) + 6
    geom = blob(
        rng,
        side / 2,
        side / 2,
        r,
        aspect=rng.uniform(1.0, 1.6),
        angle=rng.uniform(0, math.pi),
        roughness=0.15,
    )
    mask = rasterize([geom], (side, side)).astype(bool)
    return mask, min(side, n - 8)


def _place_blob(
    kind: str,
    rng: np.random.Generator,
    site: _Site,
    *,
    area: tuple[float, float],
    covers: tuple[int, ...],
    share: float,
    avoid_zone: int,
) -> npt.NDArray[np.bool_]:
    """A scene-sized mask of a blob inside one zone on ``covers`` (``share`` of it in the
    first half of the tries, :data:`_LOOSE_SHARE` then); half the area below 512 px."""
    n = site.cover.shape[0]
    scale = min(1.0, n / 512)  # smaller scenes (tests) have smaller zones
    low, high = area[0] * scale, area[1] * scale
    mask, side = _blob_mask(rng, rng.uniform(low, high), n)
    for attempt in range(_TRIES):
        if attempt and attempt % 200 == 0:
            mask, side = _blob_mask(rng, rng.uniform(low, high), n)
        if side + 8 >= n:
            continue
        row, col = int(rng.integers(4, n - side - 4)), int(rng.integers(4, n - side - 4))
        window = (slice(row, row + side), slice(col, col + side))
        m = mask[:side, :side]
        zones = site.zone_idx[window][m]
        if zones.min() == 0 or zones.min() != zones.max() or int(zones[0]) == avoid_zone:
            continue
        if site.occupied[window][m].any():
            continue
        under = site.cover[window][m]
        if np.isin(under, (Cover.WATER, Cover.SETTLEMENT)).any():
            continue
        if np.isin(under, covers).mean() < (share if attempt < _TRIES // 2 else _LOOSE_SHARE):
            continue
        out = np.zeros((n, n), dtype=bool)
        out[window] = m
        r0, c0 = max(row - _GAP, 0), max(col - _GAP, 0)
        site.occupied[r0 : row + side + _GAP, c0 : col + side + _GAP] = True
        return out
    raise InputError(
        f"demo scene of size {n} px: no room for the {kind} disturbance; use a larger size "
        "(512 px or more)"
    )


def _reservoir_parts(
    layout: Layout, site: _Site, rng: np.random.Generator
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(bloom on the first date, bloom on the second, reclaimed strip) as scene masks."""
    n = layout.size
    lake = rasterize([layout.lakes[0]], (n, n)).astype(bool)
    rivers = rasterize(list(layout.rivers), (n, n)).astype(bool) & ~lake
    depth = ndimage.distance_transform_edt(lake)
    cy, cx = np.unravel_index(int(np.argmax(depth)), depth.shape)
    interior = depth > 3
    area = float(lake.sum())
    blooms = []
    shape_rng = np.random.default_rng(rng.integers(2**32))
    for share in (0.15, 0.35):
        state = shape_rng.bit_generator.state
        geom = blob(shape_rng, float(cx), float(cy), math.sqrt(share * area / math.pi), aspect=1.3)
        shape_rng.bit_generator.state = state  # the same outline, grown
        blooms.append(rasterize([geom], (n, n)).astype(bool) & interior)
    width, length = 4 + n // 1024, 30 + n // 64
    margin = 12  # px kept from the bloom and the river mouths
    shore = lake & (depth <= 1.5)
    far = ndimage.distance_transform_edt(~blooms[1]) > width + margin
    mouths = ndimage.distance_transform_edt(~rivers) > margin
    rows, cols = np.nonzero(shore & far & mouths)
    order = rng.permutation(len(rows))
    half = length // 2
    near_river = ndimage.binary_dilation(rivers, iterations=margin)
    for k in order[:_TRIES]:
        r, c = int(rows[k]), int(cols[k])
        r0, c0 = max(r - half, 0), max(c - half, 0)
        window = (slice(r0, r + half + 1), slice(c0, c + half + 1))
        yy, xx = np.mgrid[window]
        near = (yy - r) ** 2 + (xx - c) ** 2 <= half**2
        local = lake[window] & (depth[window] <= width) & near
        if site.occupied[window][local].any() or (local & blooms[1][window]).any():
            continue
        if (local & near_river[window]).any():
            continue
        strip = np.zeros((n, n), dtype=bool)
        strip[window] = local
        return blooms[0], blooms[1], strip
    raise InputError(
        f"demo scene of size {n} px: no stretch of the reservoir's shore for the reclaimed "
        "strip; use a larger size (512 px or more)"
    )


def _draw(pool: F32, count: int, rng: np.random.Generator) -> F32:
    out: F32 = pool[rng.integers(0, len(pool), size=count)]
    return out


def plant_disturbances(
    layout: Layout,
    land: LandCover,
    events: EventPlan,
    spectra: RealSpectra,
    rng: np.random.Generator,
    *,
    first_day: date,
    last_day: date,
    bloom_days: Sequence[date],
) -> DisturbancePlan:
    """Place the four disturbances (module docstring); burn scar, dieback and strip dated
    between ``first_day`` and ``last_day``, the bloom on the two ``bloom_days``."""
    if len(bloom_days) != 2:
        raise InputError(f"bloom_days {list(bloom_days)} must be two acquisition days")
    site = _site(layout, land, events)
    cover_after = events.cover_after.copy()
    planted = _land_parts(rng, site, spectra)
    if layout.size >= MIN_RESERVOIR_SIZE:
        bloom_a, bloom_b, strip = _reservoir_parts(layout, site, rng)
        cover_after[strip] = Cover.CONSTRUCTION  # land after: no longer water in SCL
        planted += [
            ("reclamation", strip, spectra.fill, ()),
            ("bloom", bloom_a, spectra.bloom, (min(bloom_days),)),
            ("bloom", bloom_b, spectra.bloom, (max(bloom_days),)),
        ]
    span = (last_day - first_day).days
    out: list[Disturbance] = []
    for number, (kind, mask, pool, dates) in enumerate(planted, start=1):
        day = dates[0] if dates else first_day + timedelta(days=int(rng.integers(0, span + 1)))
        index = np.flatnonzero(mask)
        out.append(
            Disturbance(
                event_id=f"D{number:03d}",
                kind=kind,
                day=day,
                dates=dates,
                zone_id=_zone_of(mask, site),
                index=index,
                spectra=_draw(pool, len(index), rng),
                footprint=_outline(mask),
                source=spectra.sources[_POOL[kind]],
            )
        )
    return DisturbancePlan(tuple(out), cover_after)


_Part = tuple[str, npt.NDArray[np.bool_], F32, tuple[date, ...]]
"""A disturbance to plant: kind, pixel mask, pool of real pixels, its only dates."""


def _land_parts(rng: np.random.Generator, site: _Site, spectra: RealSpectra) -> list[_Part]:
    """The burn scar on grass, then the dieback stand in forest, both outside the
    reservoir's zone."""
    coastal = site.zone_ids.index(COASTAL_ZONE) + 1
    burn = _place_blob(
        "burn_scar",
        rng,
        site,
        area=(500, 900),
        covers=(Cover.GRASS,),
        share=0.95,
        avoid_zone=coastal,
    )
    dieback = _place_blob(
        "dieback",
        rng,
        site,
        area=(250, 450),
        covers=(Cover.FOREST,),
        share=0.95,
        avoid_zone=coastal,
    )
    return [("burn_scar", burn, spectra.burn, ()), ("dieback", dieback, spectra.dieback, ())]


_POOL = {"burn_scar": "burn", "dieback": "dieback", "reclamation": "fill", "bloom": "bloom"}


def _zone_of(mask: npt.NDArray[np.bool_], site: _Site) -> str:
    return site.zone_ids[int(site.zone_idx[mask].max()) - 1]


def _outline(mask: npt.NDArray[np.bool_]) -> BaseGeometry:
    covers = np.where(mask, np.uint8(0), np.uint8(255))
    return footprint(covers, 0, 0)
