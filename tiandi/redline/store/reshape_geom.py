"""The geometry of merging and splitting patches (EPSG:4490): union, cut by a line, cut
into given parts, and the area of the result.

Areas follow the rule :func:`tiandi.redline.patches.extract.extract_patches` applies to
geographic grids: measured in a Lambert azimuthal equal-area projection (GRS80) centred
on the geometry, in m², then hectares to 4 decimals and 亩 to 2. Every function raises
``InputError`` naming what is wrong with the input (nothing has been written then).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pyproj
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import split as split_geometry
from shapely.ops import transform

from tiandi.errors import InputError
from tiandi.redline.vocabulary import M2_PER_HA, MU_M2

#: Parts smaller than this share of the original (or overlaps larger) are refused.
TOLERANCE = 1e-6


def equal_area_m2(geom: BaseGeometry) -> float:
    """Area of ``geom`` (EPSG:4490 degrees) in m², in a local equal-area projection."""
    minx, miny, maxx, maxy = geom.bounds
    laea = pyproj.CRS.from_proj4(
        f"+proj=laea +lat_0={(miny + maxy) / 2:.4f} +lon_0={(minx + maxx) / 2:.4f} +ellps=GRS80"
    )
    to_laea = pyproj.Transformer.from_crs("EPSG:4490", laea, always_xy=True)
    return float(transform(to_laea.transform, geom).area)


def area_fields(geom: BaseGeometry) -> dict[str, float]:
    """``area_m2`` (0.1 m²), ``area_ha`` (4 decimals) and ``area_mu`` (2) of ``geom``."""
    m2 = equal_area_m2(geom)
    return {
        "area_m2": round(m2, 1),
        "area_ha": round(m2 / M2_PER_HA, 4),
        "area_mu": round(m2 / MU_M2, 2),
    }


def multipolygon(geom: BaseGeometry, what: str) -> MultiPolygon:
    """The polygonal part of ``geom`` as a valid MultiPolygon, or ``InputError``."""
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    parts: list[Polygon] = []
    for piece in getattr(geom, "geoms", [geom]):
        if isinstance(piece, Polygon) and not piece.is_empty:
            parts.append(piece)
        elif isinstance(piece, MultiPolygon):
            parts.extend(p for p in piece.geoms if not p.is_empty)
    if not parts:
        raise InputError(f"{what} has no area: give a polygon (EPSG:4490, degrees)")
    return MultiPolygon(parts)


def from_geojson(value: Mapping[str, Any], what: str, kinds: Sequence[str]) -> BaseGeometry:
    """A GeoJSON geometry object (EPSG:4490) of one of ``kinds``, or ``InputError``."""
    kind = value.get("type")
    if kind not in kinds:
        raise InputError(
            f"{what} is a GeoJSON {kind!r}; it must be a {' or '.join(kinds)} "
            "in EPSG:4490 (longitude, latitude)"
        )
    try:
        geom = shape(value)
    except (KeyError, TypeError, ValueError, IndexError, shapely.errors.GEOSException) as exc:
        raise InputError(f"{what} is not valid GeoJSON ({exc}); check its coordinates") from None
    coords = shapely.get_coordinates(geom)
    if geom.is_empty or not all(math.isfinite(float(v)) for v in coords.ravel()):
        raise InputError(f"{what} is empty or holds a non-finite coordinate")
    if not ((coords[:, 0] >= -180).all() and (coords[:, 0] <= 180).all()):
        raise InputError(f"{what} has a longitude outside -180..180: use EPSG:4490 degrees")
    if not ((coords[:, 1] >= -90).all() and (coords[:, 1] <= 90).all()):
        raise InputError(f"{what} has a latitude outside -90..90: use EPSG:4490 degrees")
    return geom


def union_of(geoms: Sequence[BaseGeometry]) -> MultiPolygon:
    """The union of the patches to merge."""
    return multipolygon(shapely.union_all(list(geoms)), "the union of the patches")


def cut_by_line(geom: BaseGeometry, line: BaseGeometry, uid: str) -> list[MultiPolygon]:
    """``geom`` cut by ``line`` into two or more parts (largest first)."""
    pieces = [
        p for p in split_geometry(shapely.make_valid(geom), line).geoms if isinstance(p, Polygon)
    ]
    if len(pieces) < 2:
        raise InputError(
            f"the line does not cut patch {uid} into parts: it must cross the patch from edge "
            "to edge (EPSG:4490, longitude/latitude)"
        )
    pieces.sort(key=lambda p: (-p.area, p.bounds))
    return [MultiPolygon([p]) for p in pieces]


def cut_into_parts(
    geom: BaseGeometry, parts: Sequence[BaseGeometry], uid: str
) -> list[MultiPolygon]:
    """The given ``parts`` clipped to ``geom``: two or more, each inside the patch, none
    overlapping another."""
    if len(parts) < 2:
        raise InputError(f"split of patch {uid} needs two or more parts, got {len(parts)}")
    whole = max(geom.area, 1e-30)
    clipped = []
    for i, part in enumerate(parts):
        inside = shapely.intersection(geom, shapely.make_valid(part))
        if inside.area <= TOLERANCE * whole:
            raise InputError(f"part {i} of the split does not lie on patch {uid}")
        clipped.append(multipolygon(inside, f"part {i} of the split"))
    for i, a in enumerate(clipped):
        for j in range(i + 1, len(clipped)):
            if shapely.intersection(a, clipped[j]).area > TOLERANCE * whole:
                raise InputError(f"parts {i} and {j} of the split of patch {uid} overlap")
    return clipped
