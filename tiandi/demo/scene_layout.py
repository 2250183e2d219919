"""Where things are in the demo scene: zones, stations, river, lakes, settlements, hills.

All geometries are in pixel coordinates (column, row; origin at the upper-left corner of
the scene, rows growing southwards, 1 px = 10 m); ``scene.py`` turns them into map
coordinates. Positions are fractions of the scene side with a small seeded jitter, so the
picture is the same kind of landscape at every size: a national nature reserve on the
western hills (核心区 inside 缓冲区 inside 实验区), three red-line zones around it, a
reservoir in the water-conservation zone, a river running south past a town.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from shapely import affinity
from shapely.geometry import LineString, MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from tiandi.demo.scene_fields import blob

REGION = "北京市昌平区"


@dataclass(frozen=True)
class ZoneSpec:
    """One zone feature, geometry in pixel coordinates."""

    zone_id: str
    name: str
    zone_type: str
    level: str | None
    functional_zone: str | None
    category: str
    geometry: Polygon


@dataclass(frozen=True)
class StationSpec:
    """One verification station and its jurisdiction (pixel coordinates)."""

    station_id: str
    name: str
    geometry: Polygon


@dataclass(frozen=True)
class Hill:
    """A Gaussian rise of the terrain (pixel coordinates)."""

    cx: float
    cy: float
    sigma: float
    height: float


@dataclass(frozen=True)
class Layout:
    """Geometries of the scene that do not change with the date."""

    size: int
    zones: tuple[ZoneSpec, ...]
    stations: tuple[StationSpec, ...]
    rivers: tuple[Polygon, ...]
    river_line: LineString
    lakes: tuple[Polygon, ...]
    towns: tuple[Polygon, ...]
    hills: tuple[Hill, ...]


def _largest(geom: BaseGeometry) -> Polygon:
    if isinstance(geom, Polygon):
        return geom
    if isinstance(geom, MultiPolygon):
        return max(geom.geoms, key=lambda g: g.area)
    polys = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)]
    return max(polys, key=lambda g: g.area)


def _meander(
    points: list[tuple[float, float]], rng: np.random.Generator, amplitude: float
) -> LineString:
    """Densify a polyline to 2 px steps and add a sinuous lateral offset."""
    line = LineString(points)
    n = max(int(line.length / 2.0), 2)
    dist = np.linspace(0.0, line.length, n)
    xy = np.array([line.interpolate(d).coords[0] for d in dist])
    tangent = np.gradient(xy, axis=0)
    tangent /= np.maximum(np.hypot(tangent[:, 0], tangent[:, 1]), 1e-9)[:, None]
    normal = np.column_stack([-tangent[:, 1], tangent[:, 0]])
    phase = rng.uniform(0, 2 * math.pi, 2)
    offset = amplitude * (
        np.sin(2 * math.pi * dist / 130.0 + phase[0])
        + 0.4 * np.sin(2 * math.pi * dist / 47.0 + phase[1])
    )
    offset *= np.minimum(1.0, np.minimum(dist, line.length - dist) / 40.0)  # pinned ends
    return LineString(xy + normal * offset[:, None])


def _reserve(rng: np.random.Generator, s: float, inner: Polygon) -> tuple[Polygon, ...]:
    cx, cy = (0.32 + rng.uniform(-0.03, 0.03)) * s, (0.38 + rng.uniform(-0.03, 0.03)) * s
    core = blob(rng, cx, cy, 0.10 * s, roughness=0.2).intersection(inner)
    buffer_outer = core.buffer(0.06 * s).union(blob(rng, cx, cy, 0.16 * s, roughness=0.12))
    experimental_outer = buffer_outer.buffer(0.05 * s).union(
        blob(rng, cx + 0.03 * s, cy + 0.02 * s, 0.24 * s, roughness=0.12)
    )
    buffer_outer = _largest(buffer_outer.intersection(inner))
    experimental_outer = _largest(experimental_outer.intersection(inner))
    return (
        _largest(core),
        _largest(buffer_outer.difference(core)),
        _largest(experimental_outer.difference(buffer_outer)),
        experimental_outer,
    )


def _stations(rng: np.random.Generator, s: float) -> tuple[StationSpec, ...]:
    """Three jurisdictions that tile the scene plus a 2 km margin, sharing exact vertices."""
    m = 200.0
    x0, y0, x1, y1 = -m, -m, s + m, s + m
    ys = np.linspace(y0, y1, 19)
    xv = (
        0.42 * s
        + 0.04 * s * np.sin(ys / s * 5.0 + rng.uniform(0, 6))
        + rng.normal(0, 0.006 * s, 19)
    )
    v = [(float(x), float(y)) for x, y in zip(xv, ys, strict=True)]
    k = 9  # middle vertex of v, where the east boundary starts
    xs = np.linspace(v[k][0], x1, 12)
    yh = (
        v[k][1] + 0.05 * s * np.sin(xs / s * 4.0 + rng.uniform(0, 6)) + rng.normal(0, 0.006 * s, 12)
    )
    yh[0], xs[-1] = v[k][1], x1
    h = [(float(x), float(y)) for x, y in zip(xs, yh, strict=True)]
    h[0] = v[k]
    west = Polygon([(x0, y0), *v, (x0, y1)])
    north_east = Polygon([v[0], (x1, y0), *reversed(h), *reversed(v[1:k])])
    south_east = Polygon([*h, (x1, y1), *reversed(v[k + 1 :])])
    return (
        StationSpec("ST01", "昌平西部生态环境核查站", west),
        StationSpec("ST02", "昌平东北生态环境核查站", north_east),
        StationSpec("ST03", "昌平东南生态环境核查站", south_east),
    )


_REDLINE_CENTRES = {"A": (0.78, 0.22), "B": (0.20, 0.83), "C": (0.86, 0.80)}
"""Centres of the three redline zones as fractions of the scene size."""
_REDLINE_RADII = {"A": 0.22, "B": 0.20, "C": 0.21}


def make_layout(size: int, rng: np.random.Generator) -> Layout:
    """Draw the zones, stations, river, lakes, towns and hills of a scene of ``size`` px."""
    s = float(size)
    inner = box(0.01 * s, 0.01 * s, 0.99 * s, 0.99 * s)
    core, buffer_ring, experimental_ring, reserve_outer = _reserve(rng, s, inner)
    town_c = ((0.62 + rng.uniform(-0.02, 0.02)) * s, (0.62 + rng.uniform(-0.02, 0.02)) * s)
    town = blob(rng, *town_c, 0.045 * s, roughness=0.25)
    keep_out = town.buffer(0.03 * s).union(reserve_outer.buffer(0.012 * s))
    redline, keep_out = _redlines(rng, s, inner, keep_out)
    reservoir, pond, main, rivers = _waters(rng, s, redline["A"])
    zones = _zones(core, buffer_ring, experimental_ring, redline)
    towns = _towns(rng, s, town, keep_out.union(rivers[0]).union(reservoir))
    hill_at = [core.centroid, redline["B"].centroid, redline["C"].centroid]
    hills = (
        Hill(hill_at[0].x, hill_at[0].y, 0.20 * s, 1.5),
        Hill(hill_at[1].x, hill_at[1].y, 0.14 * s, 0.9),
        Hill(hill_at[2].x, hill_at[2].y, 0.15 * s, 0.8),
        Hill(town_c[0], town_c[1], 0.10 * s, -0.8),
    )
    return Layout(
        size=size,
        zones=zones,
        stations=_stations(rng, s),
        rivers=rivers,
        river_line=main,
        lakes=(reservoir, pond),
        towns=tuple(towns),
        hills=hills,
    )


def _centre(key: str, s: float) -> tuple[float, float]:
    fx, fy = _REDLINE_CENTRES[key]
    return fx * s, fy * s


def _redlines(
    rng: np.random.Generator, s: float, inner: Polygon, keep_out: BaseGeometry
) -> tuple[dict[str, Polygon], BaseGeometry]:
    """The three redline zones A, B, C (each kept clear of ``keep_out`` and of the ones
    before it) and ``keep_out`` grown by them."""
    clips = {"A": inner, "B": inner, "C": box(0.01 * s, 0.01 * s, 1.04 * s, 0.99 * s)}
    redline: dict[str, Polygon] = {}
    for key in ("A", "B", "C"):
        cx, cy = _centre(key, s)
        radius = _REDLINE_RADII[key] * s
        shape = blob(rng, cx, cy, radius, aspect=rng.uniform(0.8, 1.3), roughness=0.15)
        shape = shape.intersection(clips[key]).difference(keep_out)
        redline[key] = _largest(shape)
        keep_out = keep_out.union(redline[key].buffer(0.005 * s))
    return redline, keep_out


def _waters(
    rng: np.random.Generator, s: float, redline_a: Polygon
) -> tuple[Polygon, Polygon, LineString, tuple[Polygon, Polygon]]:
    """The reservoir in zone A, a pond, the main river's centre line and both rivers."""
    ax, ay = _centre("A", s)
    lake_c = (ax - 0.02 * s, ay + 0.03 * s)
    reservoir = _largest(
        blob(rng, *lake_c, 0.05 * s, aspect=1.6, angle=0.5, roughness=0.2).intersection(
            redline_a.buffer(-0.01 * s)
        )
    )
    pond = blob(rng, 0.14 * s, 0.58 * s, 0.015 * s, roughness=0.2)
    amplitude = min(15.0, 0.02 * s)
    main = _meander(
        [lake_c, (0.67 * s, 0.45 * s), (0.56 * s, 0.62 * s), (0.50 * s, 1.03 * s)], rng, amplitude
    )
    upper = _meander([(0.88 * s, -0.03 * s), lake_c], rng, amplitude * 0.6)
    rivers = (_largest(main.buffer(2.6, cap_style="flat")), _largest(upper.buffer(1.6)))
    return reservoir, pond, main, rivers


def _zones(
    core: Polygon, buffer_ring: Polygon, experimental_ring: Polygon, redline: dict[str, Polygon]
) -> tuple[ZoneSpec, ...]:
    """The reserve's three functional zones and the three redline zones."""
    reserve = "云峰山国家级自然保护区"
    return (
        ZoneSpec("NNR01-1", reserve, "reserve", "national", "核心区", "森林生态系统", core),
        ZoneSpec("NNR01-2", reserve, "reserve", "national", "缓冲区", "森林生态系统", buffer_ring),
        ZoneSpec(
            "NNR01-3", reserve, "reserve", "national", "实验区", "森林生态系统", experimental_ring
        ),
        ZoneSpec(
            "HX-01", "云峰水库水源涵养生态保护红线", "redline", None, None, "水源涵养", redline["A"]
        ),
        ZoneSpec(
            "HX-02",
            "西岭生物多样性维护生态保护红线",
            "redline",
            None,
            None,
            "生物多样性维护",
            redline["B"],
        ),
        ZoneSpec(
            "HX-03", "南岭水土保持生态保护红线", "redline", None, None, "水土保持", redline["C"]
        ),
    )


def _towns(rng: np.random.Generator, s: float, town: Polygon, avoid: BaseGeometry) -> list[Polygon]:
    """The town and villages (more for larger scenes) at least 20 px from ``avoid``."""
    towns = [town]
    for _ in range(200):
        if len(towns) >= 1 + max(1, round(4 * (s / 2048.0) ** 2)):
            break
        village = blob(
            rng, rng.uniform(0.05, 0.95) * s, rng.uniform(0.05, 0.95) * s, rng.uniform(10, 17)
        )
        if not village.buffer(20).intersects(avoid):
            towns.append(village)
    return towns


def to_map(geom: BaseGeometry, x0: float, y0: float, res: float) -> BaseGeometry:
    """Pixel coordinates to map coordinates of a north-up grid with origin (x0, y0)."""
    return affinity.affine_transform(geom, [res, 0.0, 0.0, -res, x0, y0])
