"""Verification tasks (地面核查任务): one per patch, assigned to a station, packaged per station.

:func:`assign_tasks` gives each patch to the station whose jurisdiction contains the
patch's representative point (a point guaranteed inside the patch). A patch outside every
jurisdiction goes to the nearest station and says so in ``assignment`` ("nearest") and
``warning``; where jurisdictions overlap, the lowest ``station_id`` wins.

:func:`write_station_packages` writes, per station, ``<station_id>.gpkg`` for offline field
apps (QField, Mergin Maps, any GeoPackage reader) with layers ``tasks`` (polygons) and
``task_points`` (representative points), EPSG:4490, spatial index, and the fields a crew
fills in — ``field_result`` (confirmed / not_found / different_class, the lifecycle's
``FieldOutcome`` values), ``field_class`` (an HJ 1156 class), ``field_notes``, ``photo``
(a file name) — all empty; and
``<station_id>.geojson`` (EPSG:4326, RFC 7946) with the same polygons for web maps.
Column names are ASCII; Chinese labels are in ``*_zh`` columns. Files are written
atomically and are byte-identical for the same tasks.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj

from tiandi._io import atomic_path
from tiandi.errors import InputError
from tiandi.redline.patches.extract import write_gpkg_layers
from tiandi.redline.vocabulary import STORE_CRS as PATCH_CRS

FIELD_COLUMNS: tuple[str, ...] = ("field_result", "field_class", "field_notes", "photo")

TASK_COLUMNS: tuple[str, ...] = (
    "task_id",
    "station_id",
    "station_name",
    "patch_id",
    "zone_id",
    "zone_name",
    "zone_type",
    "functional_zone",
    "hj1156_class",
    "hj1156_zh",
    "change_type",
    "change_type_zh",
    "area_m2",
    "area_ha",
    "area_mu",
    "confidence",
    "lon",
    "lat",
    "assignment",
    "warning",
    *FIELD_COLUMNS,
)
_CARRIED = TASK_COLUMNS[3:16]
CONFIDENCE_TASK_COLUMNS: tuple[str, ...] = ("confidence_level", "evidence")
"""Carried after ``confidence`` only when the patches have them (integrated detector), so
the tasks of other detectors keep :data:`TASK_COLUMNS` as they were."""


def task_columns(frame: pd.DataFrame) -> tuple[str, ...]:
    """:data:`TASK_COLUMNS` plus the confidence columns ``frame`` has, after ``confidence``."""
    extra = tuple(c for c in CONFIDENCE_TASK_COLUMNS if c in frame)
    at = TASK_COLUMNS.index("confidence") + 1
    return (*TASK_COLUMNS[:at], *extra, *TASK_COLUMNS[at:])


def assign_tasks(patches: gpd.GeoDataFrame, stations: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One task per patch, in EPSG:4490, with :data:`TASK_COLUMNS`, sorted by station and id.

    ``lon``/``lat`` are the patch's representative point (CGCS2000 degrees), where a crew
    should go. Raises :class:`InputError` when patches or stations have no CRS, when
    there are no stations, or when ``patch_id`` is missing.
    """
    if patches.crs is None:
        raise InputError("patches have no CRS; produce them with extract_patches")
    if "patch_id" not in patches:
        raise InputError("patches have no 'patch_id' column; produce them with extract_patches")
    if stations.crs is None or stations.empty:
        raise InputError(
            "stations are empty or have no CRS; read them with "
            "tiandi.redline.zones.read.read_stations"
        )
    if patches.empty:
        return _empty()
    tasks = patches.to_crs(PATCH_CRS).reset_index(drop=True)
    points = gpd.GeoSeries(tasks.geometry.representative_point(), crs=PATCH_CRS)
    st = stations.sort_values("station_id", kind="stable").reset_index(drop=True)
    st_points = points.to_crs(st.crs)
    station_idx, how, warn = _match(st_points, st)
    rows: dict[str, Any] = {}
    rows["station_id"] = [str(st["station_id"].iloc[i]) for i in station_idx]
    rows["station_name"] = [st["name"].iloc[i] if "name" in st else None for i in station_idx]
    rows["task_id"] = [
        "VT-" + hashlib.sha256(f"{s}|{p}".encode()).hexdigest()[:12]
        for s, p in zip(rows["station_id"], tasks["patch_id"], strict=True)
    ]
    columns = task_columns(tasks)
    for col in (*_CARRIED, *CONFIDENCE_TASK_COLUMNS):
        rows[col] = tasks[col].tolist() if col in tasks else [None] * len(tasks)
    rows["lon"] = np.round(points.x.to_numpy(), 7)
    rows["lat"] = np.round(points.y.to_numpy(), 7)
    rows["assignment"] = how
    rows["warning"] = warn
    for col in FIELD_COLUMNS:
        rows[col] = [None] * len(tasks)
    out = gpd.GeoDataFrame(
        {c: rows[c] for c in columns}, geometry=tasks.geometry.values, crs=PATCH_CRS
    )
    return out.sort_values(["station_id", "task_id"], kind="stable").reset_index(drop=True)


def write_station_packages(tasks: gpd.GeoDataFrame, out_dir: Path) -> list[Path]:
    """Write ``<station_id>.gpkg`` and ``<station_id>.geojson`` per station with tasks.

    Returns the GeoPackage paths, sorted by station id (the GeoJSON lies beside each).
    Raises :class:`InputError` when ``tasks`` lack ``station_id`` or a CRS.
    """
    if "station_id" not in tasks or tasks.crs is None:
        raise InputError("tasks lack 'station_id' or a CRS; produce them with assign_tasks")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = tasks.to_crs(PATCH_CRS)
    paths: list[Path] = []
    for station_id in sorted(tasks["station_id"].astype(str).unique()):
        _check_name(station_id)
        part = tasks[tasks["station_id"].astype(str) == station_id]
        part = part.sort_values("task_id", kind="stable").reset_index(drop=True)
        part = _typed(part)
        points = part.set_geometry(
            gpd.GeoSeries.from_xy(part["lon"], part["lat"], crs=PATCH_CRS).values
        )
        gpkg = out_dir / f"{station_id}.gpkg"
        write_gpkg_layers(
            {"tasks": part, "task_points": points},
            gpkg,
            {"tasks": "MultiPolygon", "task_points": "Point"},
        )
        with atomic_path(out_dir / f"{station_id}.geojson") as tmp:
            pyogrio.write_dataframe(
                part.to_crs("EPSG:4326"),
                tmp,
                layer=station_id,
                driver="GeoJSON",
                layer_options={"RFC7946": "YES", "WRITE_NAME": "NO"},
            )
        paths.append(gpkg)
    return paths


def _match(
    points: gpd.GeoSeries, stations: gpd.GeoDataFrame
) -> tuple[list[int], list[str], list[str]]:
    """Index of each point's station, "within"/"nearest", and a warning ('' if within)."""
    hits = stations.sindex.query(points.values, predicate="within")
    containing: dict[int, int] = {}
    for p, s in zip(hits[0], hits[1], strict=True):
        containing[int(p)] = min(containing.get(int(p), int(s)), int(s))
    metric = _metric_crs(stations)
    st_m = stations.geometry.to_crs(metric)
    pts_m = points.to_crs(metric)
    idx, how, warn = [], [], []
    for p in range(len(points)):
        if p in containing:
            idx.append(containing[p])
            how.append("within")
            warn.append("")
            continue
        dist = st_m.distance(pts_m.iloc[p]).to_numpy()
        best = int(np.argmin(dist))  # first minimum: lowest station_id on ties
        idx.append(best)
        how.append("nearest")
        warn.append(
            f"outside every station jurisdiction; assigned to the nearest station "
            f"{stations['station_id'].iloc[best]} ({dist[best] / 1000:.2f} km away)"
        )
    return idx, how, warn


def _metric_crs(frame: gpd.GeoDataFrame) -> pyproj.CRS:
    crs = pyproj.CRS.from_user_input(frame.crs)
    if crs.is_projected:
        return crs
    utm = frame.estimate_utm_crs()
    return pyproj.CRS.from_user_input(utm)


def _typed(part: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Fix column types so empty (all-null) columns are written as text or real."""
    out = part.copy()
    for col in out.columns:
        if col == out.geometry.name:
            continue
        if col in ("area_m2", "area_ha", "area_mu", "confidence", "lon", "lat"):
            out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
        elif out[col].dtype == object or col in FIELD_COLUMNS:
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


def _check_name(station_id: str) -> None:
    if not station_id or any(ch in station_id for ch in '/\\:*?"<>|') or station_id.startswith("."):
        raise InputError(
            f"station_id {station_id!r} cannot be used as a file name; give stations ids "
            "without path separators or special characters"
        )


def _empty() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {c: [] for c in TASK_COLUMNS}, geometry=gpd.GeoSeries([], crs=PATCH_CRS), crs=PATCH_CRS
    )
