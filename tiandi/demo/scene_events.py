"""Planted human-activity events of the demo scene: shapes, places and truth footprints.

Six kinds with the sizes of docs/architecture.md (1 px = 100 m²): quarries (blobs of
3–15 ha), construction sites (rectangles of 1–6 ha), roads (curved lines 2–3 px wide,
1–3 km long, shorter only where the scene is too small), aquaculture (grids of ponds with
1 px dikes, 2–10 ha), solar farms (rectangles of 3–15 ha) and clearings (elongated blobs
of 2–10 ha). Each event is placed wholly inside one zone or wholly outside every zone
(with a margin), on its preferred land cover where possible, never on water or a
settlement, and apart from every other event. Its truth footprint is the exact outline
of the pixels it changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
from rasterio import features
from rasterio.transform import Affine
from shapely import affinity
from shapely.geometry import LineString, Polygon, box, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from tiandi.demo.scene_fields import F32, blob
from tiandi.demo.scene_landcover import U8, LandCover, rasterize
from tiandi.demo.scene_layout import Layout
from tiandi.demo.scene_spectra import CROP_COVERS, Cover
from tiandi.errors import InputError

HJ1156_OF_KIND = {
    "quarry": "mining",
    "construction": "industry",
    "road": "transport",
    "aquaculture": "aquaculture",
    "solar": "energy",
    "clearing": "agriculture",
}
KINDS = tuple(HJ1156_OF_KIND)

_PREFERRED: dict[str, tuple[int, ...]] = {
    "quarry": (Cover.FOREST, Cover.GRASS),
    "construction": (Cover.GRASS, *CROP_COVERS),
    "road": (Cover.FOREST, Cover.GRASS, *CROP_COVERS),
    "aquaculture": CROP_COVERS,
    "solar": (Cover.GRASS, *CROP_COVERS),
    "clearing": (Cover.FOREST,),
}
_TEXTURE_SD = {"quarry": 0.10, "construction": 0.06}
_GAP = 12  # px kept free around every event
_ZONE_MARGIN = 8.0  # px an outside event keeps from every zone
_TRIES = 4000


@dataclass(frozen=True)
class Event:
    """One planted event: where it is (pixel window and mask) and what it becomes."""

    event_id: str
    kind: str
    hj1156_class: str
    date: date
    inside_zone: bool
    zone_id: str | None
    row: int
    col: int
    covers: U8  # after-state cover of each pixel of the window, 255 outside the event
    footprint: BaseGeometry  # pixel coordinates of the scene

    @property
    def mask(self) -> npt.NDArray[np.bool_]:
        """Pixels of the window that the event changes."""
        out: npt.NDArray[np.bool_] = self.covers != 255
        return out


@dataclass(frozen=True)
class EventPlan:
    """The events and the after-period cover and texture they leave behind."""

    events: tuple[Event, ...]
    cover_after: U8
    texture_after: F32


def _burn(geom: BaseGeometry, height: int, width: int, value: int) -> U8:
    out: U8 = np.full((height, width), 255, dtype=np.uint8)
    burnt = features.rasterize(
        [(geom, 1)], out_shape=(height, width), transform=Affine.identity(), dtype="uint8"
    )
    out[burnt == 1] = value
    return out


def _place_in_window(geom: BaseGeometry, value: int) -> U8:
    minx, miny, maxx, maxy = geom.bounds
    moved = affinity.translate(geom, 2 - math.floor(minx), 2 - math.floor(miny))
    return _burn(moved, math.ceil(maxy - miny) + 5, math.ceil(maxx - minx) + 5, value)


def _rectangle(area: float, aspect: float, angle: float) -> Polygon:
    w = math.sqrt(area * aspect)
    h = area / w
    rect = box(-w / 2, -h / 2, w / 2, h / 2)
    return affinity.rotate(rect, angle, origin=(0, 0), use_radians=True)


def _ponds(rng: np.random.Generator) -> U8:
    side = int(rng.integers(6, 10))
    cell = side + 1
    area = rng.uniform(220, 1000)
    nx = max(2, round(math.sqrt(area * rng.uniform(1.0, 2.0)) / cell))
    ny = max(2, round(area / (nx * cell * cell)))
    height, width = ny * cell - 1, nx * cell - 1
    covers: U8 = np.full((height + 4, width + 4), 255, dtype=np.uint8)
    covers[2 : 2 + height, 2 : 2 + width] = Cover.POND
    for k in range(1, nx):
        covers[2 : 2 + height, 2 + k * cell - 1] = Cover.DIKE
    for k in range(1, ny):
        covers[2 + k * cell - 1, 2 : 2 + width] = Cover.DIKE
    return covers


def _road(rng: np.random.Generator, size: int) -> U8:
    length = rng.uniform(min(100.0, 0.3 * size), min(300.0, 0.45 * size))
    bend = rng.uniform(-0.25, 0.25) * length
    t = np.linspace(0.0, 1.0, 64)
    x = t * length
    y = 2 * (1 - t) * t * bend
    line = affinity.rotate(
        LineString(np.column_stack([x, y])),
        rng.uniform(0, math.pi),
        origin=(0, 0),
        use_radians=True,
    )
    return _place_in_window(line.buffer(rng.uniform(1.0, 1.5), cap_style="flat"), Cover.ROAD)


def event_shape(kind: str, rng: np.random.Generator, size: int) -> U8:
    """After-state covers of a new event of ``kind`` in a small window (255 = untouched)."""
    angle = rng.uniform(0, math.pi)
    if kind == "quarry":
        r = math.sqrt(rng.uniform(300, 1500) / math.pi)
        geom: BaseGeometry = blob(
            rng, 0, 0, r, aspect=rng.uniform(1.0, 1.8), angle=angle, roughness=0.2
        )
        return _place_in_window(geom, Cover.QUARRY)
    if kind == "clearing":
        r = math.sqrt(rng.uniform(200, 1000) / math.pi)
        geom = blob(rng, 0, 0, r, aspect=rng.uniform(1.5, 2.5), angle=angle, roughness=0.15)
        return _place_in_window(geom, Cover.CLEARING)
    if kind == "construction":
        geom = _rectangle(rng.uniform(100, 600), rng.uniform(1.0, 2.5), rng.uniform(-0.5, 0.5))
        return _place_in_window(geom, Cover.CONSTRUCTION)
    if kind == "solar":
        geom = _rectangle(rng.uniform(300, 1500), rng.uniform(1.0, 2.0), rng.uniform(-0.1, 0.1))
        return _place_in_window(geom, Cover.SOLAR)
    if kind == "aquaculture":
        return _ponds(rng)
    if kind == "road":
        return _road(rng, size)
    raise InputError(f"event kind {kind!r} is unknown; use one of {', '.join(KINDS)}")


def footprint(covers: U8, row: int, col: int) -> BaseGeometry:
    """Exact outline of the event's pixels, in scene pixel coordinates."""
    mask = covers != 255
    parts = [
        shape(geom)
        for geom, _ in features.shapes(
            mask.astype(np.uint8), mask=mask, transform=Affine.translation(col, row)
        )
    ]
    return unary_union(parts)


def _fits(
    covers: U8,
    row: int,
    col: int,
    *,
    kind: str,
    inside: bool,
    strict: bool,
    cover: U8,
    zone_idx: U8,
    near_zone: U8,
    occupied: npt.NDArray[np.bool_],
) -> bool:
    h, w = covers.shape
    window = (slice(row, row + h), slice(col, col + w))
    gap = (slice(max(row - _GAP, 0), row + h + _GAP), slice(max(col - _GAP, 0), col + w + _GAP))
    if occupied[gap].any():
        return False
    mask = covers != 255
    under = cover[window][mask]
    if np.isin(under, (Cover.WATER, Cover.SETTLEMENT)).any():
        return False
    if strict and np.isin(under, _PREFERRED[kind]).mean() < 0.6:
        return False
    if inside:
        zones = zone_idx[window][mask]
        return bool(zones.min() > 0 and zones.min() == zones.max())
    return bool(near_zone[window][mask].max() == 0)


def plant_events(
    layout: Layout,
    land: LandCover,
    rng: np.random.Generator,
    *,
    first_day: date,
    last_day: date,
) -> EventPlan:
    """Place the events (dated between ``first_day`` and ``last_day``) on the land cover."""
    n = layout.size
    ratio = (n / 2048.0) ** 2
    canvas = _canvas(layout, land)
    tasks = [(kind, True) for kind in KINDS for _ in range(max(1, round(3 * ratio)))]
    outside = rng.permutation(len(KINDS))[: max(1, math.ceil(2.5 * ratio))]
    tasks += [(KINDS[k], False) for k in sorted(outside)]
    span = (last_day - first_day).days
    events: list[Event] = []
    for number, (kind, inside) in enumerate(tasks, start=1):
        covers, row, col = _place(kind, inside, rng, land, canvas)
        mask = covers != 255
        h, w = covers.shape
        window = (slice(row, row + h), slice(col, col + w))
        zone_id = None
        if inside:
            zone_id = layout.zones[int(canvas.zone_idx[window][mask][0]) - 1].zone_id
        _paint(canvas, kind, covers, window, rng)
        events.append(
            Event(
                event_id=f"E{number:03d}",
                kind=kind,
                hj1156_class=HJ1156_OF_KIND[kind],
                date=first_day + timedelta(days=int(rng.integers(0, span + 1))),
                inside_zone=inside,
                zone_id=zone_id,
                row=row,
                col=col,
                covers=covers,
                footprint=footprint(covers, row, col),
            )
        )
    return EventPlan(tuple(events), canvas.cover_after, canvas.texture_after)


@dataclass(frozen=True)
class _Canvas:
    """The rasters event placement reads (zones) and writes (occupied, cover, texture)."""

    zone_idx: U8  # 1-based index of the zone under a pixel, 0 outside every zone
    near_zone: U8  # 1 within _ZONE_MARGIN of a zone
    occupied: npt.NDArray[np.bool_]
    cover_after: U8
    texture_after: F32


def _canvas(layout: Layout, land: LandCover) -> _Canvas:
    n = layout.size
    zone_idx = np.zeros((n, n), dtype=np.uint8)
    for i, zone in enumerate(layout.zones):
        zone_idx |= rasterize([zone.geometry], (n, n), i + 1)
    near_zone = rasterize([z.geometry.buffer(_ZONE_MARGIN) for z in layout.zones], (n, n))
    occupied = np.zeros((n, n), dtype=bool)
    return _Canvas(zone_idx, near_zone, occupied, land.cover.copy(), land.texture.copy())


def _place(
    kind: str, inside: bool, rng: np.random.Generator, land: LandCover, canvas: _Canvas
) -> tuple[U8, int, int]:
    """A shape of ``kind`` and its ``(row, col)`` where it fits (strictly in the first half
    of the tries); InputError when it fits nowhere."""
    n = canvas.zone_idx.shape[0]
    covers = event_shape(kind, rng, n)
    for attempt in range(_TRIES):
        if attempt and attempt % 200 == 0:
            covers = event_shape(kind, rng, n)
        h, w = covers.shape
        if h + 8 > n or w + 8 > n:
            continue
        row, col = int(rng.integers(4, n - h - 4)), int(rng.integers(4, n - w - 4))
        if _fits(
            covers,
            row,
            col,
            kind=kind,
            inside=inside,
            strict=attempt < _TRIES // 2,
            cover=land.cover,
            zone_idx=canvas.zone_idx,
            near_zone=canvas.near_zone,
            occupied=canvas.occupied,
        ):
            return covers, row, col
    where = "inside a zone" if inside else "outside the zones"
    raise InputError(
        f"demo scene of size {n} px: no room for a {kind} event {where}; "
        "use a larger size (512 px or more)"
    )


def _paint(
    canvas: _Canvas,
    kind: str,
    covers: U8,
    window: tuple[slice, slice],
    rng: np.random.Generator,
) -> None:
    """Write the event's covers and a fresh texture into the canvas; mark it occupied."""
    mask = covers != 255
    canvas.cover_after[window][mask] = covers[mask]
    sd = _TEXTURE_SD.get(kind, 0.04)
    canvas.texture_after[window][mask] = 1.0 + sd * rng.standard_normal(
        int(mask.sum()), dtype=np.float32
    )
    canvas.occupied[window] |= mask
