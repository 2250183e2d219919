"""The GeoPackage of a station package: task layer, points, empty crew layers, tables.

:func:`package_frame` turns a station's tasks into the ``tasks`` layer (dispatched
columns, chip paths, empty crew columns); :func:`write_vectors` writes the four vector
layers and :func:`write_tables` the package metadata and the dispatch snapshot that the
import checks against. The schema is in :mod:`tiandi.redline.field.schema`; the package
around it is assembled by :mod:`tiandi.redline.field.package`.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from tiandi._gpkg import FIXED_LAST_CHANGE
from tiandi.redline.field.schema import (
    CHIP_COLUMNS,
    CREW_COLUMNS,
    DISPATCHED_COLUMNS,
    META_TABLE,
    OBSERVATION_COLUMNS,
    OBSERVATIONS_LAYER,
    PACKAGE_TASK_COLUMNS,
    PHOTO_LAYER_COLUMNS,
    PHOTOS_LAYER,
    POINT_COLUMNS,
    POINTS_LAYER,
    SNAPSHOT_TABLE,
    TASKS_LAYER,
    confidence_columns,
    disturbance_crew_columns,
)
from tiandi.redline.store.audit_chain import canonical_json
from tiandi.redline.vocabulary import STORE_CRS as PATCH_CRS

_NUMERIC = ("area_m2", "area_ha", "area_mu", "confidence", "lon", "lat")


def package_frame(part: gpd.GeoDataFrame, chips: dict[str, dict[str, str]]) -> gpd.GeoDataFrame:
    """The ``tasks`` layer of a station: dispatched columns, chip paths, empty crew fields."""
    data: dict[str, object] = {}
    for col in DISPATCHED_COLUMNS:
        if col in _NUMERIC:
            data[col] = pd.to_numeric(part[col], errors="coerce").astype("float64")
        elif col in part:
            data[col] = [None if pd.isna(v) else str(v) for v in part[col]]
        else:
            data[col] = [None] * len(part)
    ids = [str(t) for t in part["task_id"]]
    data["chip_before"] = [chips.get(t, {}).get("before") for t in ids]
    data["chip_after"] = [chips.get(t, {}).get("after") for t in ids]
    extra = disturbance_crew_columns(part["change_type"]) if "change_type" in part else ()
    for col in (*CREW_COLUMNS, *extra):
        data[col] = [None] * len(part)
    graded = confidence_columns(part.columns)  # the integrated detector's, read-only
    for col in graded:
        data[col] = [None if pd.isna(v) else str(v) for v in part[col]]
    extra = (*extra, *graded)
    frame = gpd.GeoDataFrame(data, geometry=part.geometry.values, crs=PATCH_CRS)
    frame["checked_at"] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ms, UTC]")
    return frame[[*PACKAGE_TASK_COLUMNS, *extra, "geometry"]]


def task_points(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One point per task, at its ``lon``/``lat`` (the ``task_points`` layer)."""
    return gpd.GeoDataFrame(
        frame[list(POINT_COLUMNS)].copy(),
        geometry=gpd.points_from_xy(frame["lon"], frame["lat"]),
        crs=PATCH_CRS,
    )


def _empty_layer(columns: tuple[str, ...], time_column: str) -> gpd.GeoDataFrame:
    data: dict[str, object] = {c: pd.Series([], dtype=object) for c in columns}
    data[time_column] = pd.Series([], dtype="datetime64[ms, UTC]")
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=PATCH_CRS), crs=PATCH_CRS)


def write_vectors(gpkg: Path, frame: gpd.GeoDataFrame, points: gpd.GeoDataFrame) -> None:
    """The four vector layers, GeoPackage 1.2 (read by the GDAL of older field apps)."""
    layers = [
        (TASKS_LAYER, frame, "MultiPolygon"),
        (POINTS_LAYER, points, "Point"),
        (OBSERVATIONS_LAYER, _empty_layer(OBSERVATION_COLUMNS, "observed_at"), "Point"),
        (PHOTOS_LAYER, _empty_layer(PHOTO_LAYER_COLUMNS, "taken_at"), "Point"),
    ]
    for i, (name, data, geometry_type) in enumerate(layers):
        pyogrio.write_dataframe(
            data,
            gpkg,
            layer=name,
            driver="GPKG",
            append=i > 0,
            geometry_type=geometry_type,
            promote_to_multi=geometry_type.startswith("Multi"),
            dataset_options={"VERSION": "1.2"} if i == 0 else None,
            layer_options={"SPATIAL_INDEX": "YES", "FID": "fid"},
        )


def write_tables(gpkg: Path, frame: gpd.GeoDataFrame, meta: dict[str, str]) -> None:
    """Package metadata and the dispatch snapshot (attribute tables): every dispatched
    column, the integrated detector's read-only confidence ones included when present."""
    snapshot = []
    shown = (*DISPATCHED_COLUMNS, *CHIP_COLUMNS, *confidence_columns(frame.columns))
    for i in range(len(frame)):
        attrs = {c: _plain(frame[c].iloc[i]) for c in shown}
        text = canonical_json(attrs)
        geom = shapely.to_wkb(frame.geometry.iloc[i], output_dimension=2, byte_order=1)
        snapshot.append(
            (
                attrs["task_id"],
                attrs["patch_id"],
                geom,
                text,
                hashlib.sha256(text.encode("utf-8")).hexdigest(),
            )
        )
    con = sqlite3.connect(gpkg)
    try:
        with con:
            con.execute(f"CREATE TABLE {META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            con.executemany(f"INSERT INTO {META_TABLE} VALUES (?, ?)", sorted(meta.items()))
            con.execute(
                f"CREATE TABLE {SNAPSHOT_TABLE} (task_id TEXT PRIMARY KEY, patch_id TEXT NOT "
                "NULL, geometry_wkb BLOB NOT NULL, attributes TEXT NOT NULL, "
                "attributes_sha256 TEXT NOT NULL)"
            )
            con.executemany(f"INSERT INTO {SNAPSHOT_TABLE} VALUES (?,?,?,?,?)", snapshot)
            for table, text in (
                (META_TABLE, "tiandi field package metadata"),
                (SNAPSHOT_TABLE, "tasks as dispatched (checked on import)"),
            ):
                con.execute(
                    "INSERT INTO gpkg_contents (table_name, data_type, identifier, description,"
                    " last_change) VALUES (?, 'attributes', ?, ?, ?)",
                    (table, table, text, FIXED_LAST_CHANGE),
                )
    finally:
        con.close()


def _plain(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, float):
        return None if pd.isna(value) else round(value, 9)
    if isinstance(value, int | str | bool):
        return value
    return None if pd.isna(value) else str(value)  # type: ignore[call-overload]
