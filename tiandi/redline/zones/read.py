"""Read red-line zones, reserves and verification stations from any vector file.

Inputs come from provincial GIS offices in many shapes: GeoPackage, Shapefile (often
GBK-encoded), GeoJSON or KML; geographic CGCS2000 (EPSG:4490), Gauss–Krüger
(EPSG:4513–4554) or anything else with a CRS. :func:`read_zones` and
:func:`read_stations` turn them into the strict column contract of
``docs/architecture.md``:

- zones: ``zone_id, name, zone_type ("redline"|"reserve"), level ("national"|
  "provincial"|None), functional_zone ("核心区"|"缓冲区"|"实验区"|None), region, category,
  geometry`` (polygonal, valid, in the file's CRS);
- stations: ``station_id, name, geometry``.

Column names are matched case-insensitively against alias lists (``名称``, ``mc``,
``ZONE_NAME`` … → ``name``). A missing id is generated from the feature's content
(``ZN-``/``ST-`` + 10 hex digits of a SHA-256 of name and geometry), so it is the same on
every run. Invalid geometries are repaired with ``shapely.make_valid`` and only their
polygonal parts kept; empty ones are dropped.

Files are read by :func:`tiandi.redline.zones.vector.read_vector`, which also finds a
shapefile's encoding (``.cpg``, else UTF-8, GBK or GB18030 from the ``.dbf`` bytes, with an
:class:`~tiandi.errors.EncodingGuessWarning` when it guessed); the encoding
used is reported in ``gdf.attrs["source_encoding"]``. ``encoding=`` overrides it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from tiandi.errors import InputError
from tiandi.redline.vocabulary import FunctionalZone
from tiandi.redline.zones.vector import read_vector

ZONE_COLUMNS: tuple[str, ...] = (
    "zone_id",
    "name",
    "zone_type",
    "level",
    "functional_zone",
    "region",
    "category",
)
STATION_COLUMNS: tuple[str, ...] = ("station_id", "name")

ZONE_ALIASES: Mapping[str, tuple[str, ...]] = {
    "zone_id": ("zone_id", "zoneid", "zone_code", "code", "bh", "编号", "代码", "dm", "hxbh"),
    "name": (
        "name",
        "zone_name",
        "zonename",
        "名称",
        "mc",
        "保护区名称",
        "红线名称",
        "bhqmc",
        "hxmc",
        "unit_name",
        "parkname",
    ),
    "zone_type": ("zone_type", "zonetype", "类型", "lx", "type", "unit_type", "保护地类型"),
    "level": ("level", "级别", "jb", "保护级别", "bhjb"),
    "functional_zone": (
        "functional_zone",
        "功能区",
        "功能分区",
        "gnq",
        "gnfq",
        "zone_func",
        "fzone",
    ),
    "region": ("region", "行政区", "行政区划", "xzq", "xzqmc", "地区", "province", "county"),
    "category": ("category", "类别", "lb", "红线类型", "iucn_kat", "iucn_cat", "iucn"),
}
STATION_ALIASES: Mapping[str, tuple[str, ...]] = {
    "station_id": ("station_id", "stationid", "code", "bh", "编号", "站点编号", "zdbh", "id"),
    "name": ("name", "station_name", "名称", "站点名称", "mc", "zdmc"),
}

_IUCN = re.compile(r"^\s*(i{1,3}|iv|v|vi|ia|ib)\s*$", re.IGNORECASE)
_RESERVE_WORDS = ("保护区", "保护地", "公园", "reserve", "park", "sanctuary", "protected", "nsg")


def read_zones(
    path: Path, *, layer: str | None = None, encoding: str | None = None
) -> gpd.GeoDataFrame:
    """Read zones (red-line zones or reserve functional zones) into the zones contract.

    ``zone_type`` comes from a type column when there is one (values containing 红线 or
    "redline" → ``redline``; 保护区/保护地/公园/reserve/park → ``reserve``); otherwise a
    feature is a ``reserve`` when it has a functional zone, an IUCN category or a reserve
    word in its name, else ``redline``. ``level`` maps 国家/national → ``national`` and
    省/provincial → ``provincial``; ``functional_zone`` maps 核心/core, 缓冲/buffer,
    实验/experimental onto the three :class:`FunctionalZone` values.

    Raises :class:`InputError` when the file is missing, unreadable, not a vector file,
    has no features or no CRS.
    """
    gdf, used = read_vector(Path(path), layer=layer, encoding=encoding, what="zones")
    gdf = _polygonal(gdf, Path(path))
    out = _rename(gdf, ZONE_ALIASES)
    out["functional_zone"] = [_functional_zone(v) for v in out["functional_zone"]]
    out["level"] = [_level(v) for v in out["level"]]
    out["zone_type"] = [
        _zone_type(t, fz, cat, name)
        for t, fz, cat, name in zip(
            out["zone_type"], out["functional_zone"], out["category"], out["name"], strict=True
        )
    ]
    for col in ("name", "region", "category"):
        out[col] = [_text(v) for v in out[col]]
    out["zone_id"] = _ids(out, "zone_id", "ZN", gdf.geometry.values, Path(path))
    result = _frame(out, ZONE_COLUMNS, gdf)
    result.attrs["source_encoding"] = used
    return result


def read_stations(
    path: Path, *, layer: str | None = None, encoding: str | None = None
) -> gpd.GeoDataFrame:
    """Read verification stations (jurisdiction polygons) as ``station_id, name, geometry``.

    Polygonal geometries are repaired like zones; point stations are kept as points (a
    task then goes to the nearest one). Raises :class:`InputError` like :func:`read_zones`.
    """
    gdf, used = read_vector(Path(path), layer=layer, encoding=encoding, what="stations")
    gdf = _polygonal(gdf, Path(path), keep_points=True)
    out = _rename(gdf, STATION_ALIASES)
    out["name"] = [_text(v) for v in out["name"]]
    out["station_id"] = _ids(out, "station_id", "ST", gdf.geometry.values, Path(path))
    result = _frame(out, STATION_COLUMNS, gdf)
    result.attrs["source_encoding"] = used
    return result


def _frame(
    out: pd.DataFrame, columns: tuple[str, ...], source: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Contract columns as object dtype (None for missing, not NaN), source geometry."""
    data = {c: pd.Series([_text(v) for v in out[c]], dtype=object) for c in columns}
    return gpd.GeoDataFrame(data, geometry=list(source.geometry.values), crs=source.crs)


# --- geometry --------------------------------------------------------------------------


def _polygonal(gdf: gpd.GeoDataFrame, path: Path, *, keep_points: bool = False) -> gpd.GeoDataFrame:
    geoms = [_clean(g, keep_points=keep_points) for g in gdf.geometry.values]
    keep = np.array([g is not None for g in geoms], dtype=bool)
    if not keep.any():
        kinds = "polygons" + (" or points" if keep_points else "")
        raise InputError(
            f"file {path} has no non-empty {kinds} (after repairing invalid geometries); "
            "pass the layer that holds the zone boundaries"
        )
    out = gdf.loc[keep].copy()
    out = out.set_geometry(gpd.GeoSeries([g for g in geoms if g is not None], crs=gdf.crs).values)
    return out


def _clean(geom: BaseGeometry | None, *, keep_points: bool) -> BaseGeometry | None:
    if geom is None or geom.is_empty:
        return None
    geom = shapely.force_2d(geom)
    if keep_points and geom.geom_type in ("Point", "MultiPoint"):
        return geom
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    polys = _polygon_parts(geom)
    if not polys:
        return None
    if len(polys) == 1:
        return polys[0]
    return shapely.MultiPolygon(polys)


def _polygon_parts(geom: BaseGeometry) -> list[shapely.Polygon]:
    if isinstance(geom, shapely.Polygon):
        return [] if geom.is_empty or geom.area == 0 else [geom]
    if isinstance(geom, shapely.MultiPolygon | shapely.GeometryCollection):
        parts: list[shapely.Polygon] = []
        for sub in geom.geoms:
            parts.extend(_polygon_parts(sub))
        return parts
    return []


# --- attributes ------------------------------------------------------------------------


def _rename(gdf: gpd.GeoDataFrame, aliases: Mapping[str, tuple[str, ...]]) -> pd.DataFrame:
    by_lower: dict[str, str] = {}
    for col in gdf.columns:
        if col != gdf.geometry.name:
            by_lower.setdefault(str(col).strip().lower(), str(col))
    out = pd.DataFrame(index=gdf.index)
    for target, names in aliases.items():
        source = next((by_lower[n.lower()] for n in names if n.lower() in by_lower), None)
        out[target] = gdf[source].astype(object) if source is not None else None
    return out


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    return text or None


def _functional_zone(value: Any) -> str | None:
    text = (_text(value) or "").lower()
    if not text:
        return None
    if "核心" in text or "core" in text:
        return FunctionalZone.CORE.value
    if "缓冲" in text or "buffer" in text:
        return FunctionalZone.BUFFER.value
    if "实验" in text or "experiment" in text or "transition" in text:
        return FunctionalZone.EXPERIMENTAL.value
    return None


def _level(value: Any) -> str | None:
    text = (_text(value) or "").lower()
    if "国家" in text or "national" in text:
        return "national"
    if "省" in text or "provinc" in text:
        return "provincial"
    return None


def _zone_type(value: Any, functional_zone: str | None, category: Any, name: Any) -> str:
    text = (_text(value) or "").lower()
    if "红线" in text or "redline" in text or "red line" in text or "red-line" in text:
        return "redline"
    if any(word in text for word in _RESERVE_WORDS):
        return "reserve"
    if functional_zone is not None or _IUCN.match(_text(category) or ""):
        return "reserve"
    name_text = (_text(name) or "").lower()
    if any(word in name_text for word in _RESERVE_WORDS):
        return "reserve"
    return "redline"


def _ids(out: pd.DataFrame, column: str, prefix: str, geoms: Any, path: Path) -> list[str]:
    """Keep given ids (made unique with -2, -3 … suffixes), generate missing ones."""
    ids: list[str] = []
    seen: dict[str, int] = {}
    for value, name, geom in zip(out[column], out["name"], geoms, strict=True):
        text = _text(value)
        if text is not None and text.endswith(".0") and text[:-2].isdigit():
            text = text[:-2]  # integer codes read as floats
        if text is None:
            text = f"{prefix}-{content_hash(name, geom)[:10]}"
        count = seen.get(text, 0) + 1
        seen[text] = count
        ids.append(text if count == 1 else f"{text}-{count}")
    if len(ids) != len(set(ids)):
        raise InputError(f"file {path}: could not make unique ids; give each feature a {column}")
    return ids


def content_hash(label: Any, geom: BaseGeometry) -> str:
    """SHA-256 hex digest of a label and a geometry rounded to 1e-6 of its units.

    Rounding makes the digest stable across tiny floating-point differences (a re-export,
    a different GDAL); normalisation makes it independent of ring start and orientation.
    """
    rounded = shapely.normalize(shapely.set_precision(geom, 1e-6))
    data = f"{label}|".encode() + shapely.to_wkb(rounded, hex=False, output_dimension=2)
    return hashlib.sha256(data).hexdigest()
