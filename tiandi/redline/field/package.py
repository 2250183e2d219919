"""Field packages (外业核查包) for ``tiandi dispatch``: one folder per station.

Each station's folder ``<out>/<station_id>/`` holds::

    <station_id>.gpkg        data, basemap and form (QGIS project in ``qgis_projects``)
    <station_id>.qgz         the same form as a project file (Mergin Maps, QField folders)
    chips/<task>_before.png  image chips, referenced relatively by the form
    chips/<task>_after.png
    DCIM/                    where QField / Mergin Maps put the crew's photos
    <station_id>.geojson     polygons for web maps (EPSG:4326, RFC 7946)
    <station_id>.kml         polygons and points for Google Earth and outdoor apps
    <station_id>-tasks.html  printable task list, Chinese and English

The GeoPackage schema is in :mod:`tiandi.redline.field.schema`; a crew opens the
``.gpkg`` (QField reads the project stored inside) or the folder's ``.qgz``. The folder
is staged and swapped in whole, and its bytes depend only on the tasks, the composites
and ``dispatched_at`` (an input), so a re-run gives identical files. ``dispatch.json`` in
``<out>`` lists the packages.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from tiandi._gpkg import FIXED_LAST_CHANGE, finish_gpkg
from tiandi._io import atomic_path, staged_dir
from tiandi._time import iso_utc
from tiandi.errors import InputError
from tiandi.redline.field.chips import ChipOptions, write_basemap, write_chips
from tiandi.redline.field.form import QGIS_PYTHON, build_form
from tiandi.redline.field.printout import write_kml, write_task_list
from tiandi.redline.field.schema import (
    BASEMAP_TABLE,
    CHIP_COLUMNS,
    CHIP_FOLDER,
    CREW_COLUMNS,
    DISPATCHED_COLUMNS,
    META_TABLE,
    OBSERVATION_COLUMNS,
    OBSERVATIONS_LAYER,
    PACKAGE_TASK_COLUMNS,
    PHOTO_FOLDER,
    PHOTO_LAYER_COLUMNS,
    PHOTOS_LAYER,
    POINT_COLUMNS,
    POINTS_LAYER,
    SCHEMA_VERSION,
    SNAPSHOT_TABLE,
    TASKS_LAYER,
    form_spec,
)
from tiandi.redline.field.tasks import assign_tasks
from tiandi.redline.patches.extract import PATCH_CRS
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.store.audit import canonical_json
from tiandi.redline.zones.read import read_stations

_NUMERIC = ("area_m2", "area_ha", "area_mu", "confidence", "lon", "lat")


@dataclass(frozen=True)
class PackageOptions:
    """How packages are built. ``form=False`` skips the QGIS project (no python3-qgis)."""

    chips: ChipOptions = field(default_factory=ChipOptions)
    form: bool = True
    qgis_python: str = QGIS_PYTHON


@dataclass(frozen=True)
class StationPackage:
    """One station's package: where its files are and what it holds."""

    station_id: str
    station_name: str
    package_id: str
    folder: Path
    gpkg: Path
    qgz: Path | None
    geojson: Path
    kml: Path
    task_list: Path
    n_tasks: int
    basemap: bool


def package_id(station_id: str, dispatched_at: datetime, task_ids: list[str]) -> str:
    """``FP-`` + 12 hex of a hash of station, dispatch time and task ids."""
    text = f"{station_id}|{iso_utc(dispatched_at)}|{','.join(sorted(task_ids))}"
    return "FP-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def read_run_tasks(run_dir: Path, stations: Path | None = None) -> gpd.GeoDataFrame:
    """Tasks of a detect-changes run: assigned afresh to ``stations`` when given, else the
    run's own ``tasks/*.gpkg``. Raises :class:`InputError` when the run has neither."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"run folder {run_dir} does not exist; pass a detect-changes output")
    if stations is not None:
        patches_path = RunLayout(run_dir).patches
        if not patches_path.exists():
            raise InputError(
                f"run folder {run_dir} has no {RunLayout.PATCHES}; pass a detect-changes "
                "output folder"
            )
        patches = gpd.read_file(patches_path, layer="patches")
        return assign_tasks(patches, read_stations(stations))
    files = sorted(RunLayout(run_dir).tasks_dir.glob("*.gpkg"))
    if not files:
        raise InputError(
            f"run folder {run_dir} has no {RunLayout.TASKS_DIR}/*.gpkg (it was run without "
            "stations); "
            "pass --stations FILE to assign its patches to stations"
        )
    parts = [gpd.read_file(f, layer=TASKS_LAYER) for f in files]
    tasks = pd.concat(parts, ignore_index=True)
    return gpd.GeoDataFrame(tasks, geometry="geometry", crs=parts[0].crs).to_crs(PATCH_CRS)


def dispatch_run(
    run_dir: Path,
    out_dir: Path,
    *,
    dispatched_at: datetime,
    stations: Path | None = None,
    options: PackageOptions | None = None,
) -> list[StationPackage]:
    """Build the station packages of a detect-changes run folder (``tiandi dispatch``)."""
    run_dir = Path(run_dir)
    composites = RunLayout(run_dir).composites()
    for period, path in composites.items():
        if not path.exists():
            raise InputError(
                f"run folder {run_dir} has no {RunLayout.composite_name(period)}; the packages "
                "need the run's composites for image chips and the basemap: re-run detect-changes"
            )
    tasks = read_run_tasks(run_dir, stations)
    return build_field_packages(
        tasks,
        out_dir,
        composites=composites,
        dispatched_at=dispatched_at,
        run_id=run_dir.resolve().name,
        options=options,
    )


def build_field_packages(
    tasks: gpd.GeoDataFrame,
    out_dir: Path,
    *,
    composites: Mapping[str, Path],
    dispatched_at: datetime,
    run_id: str = "",
    options: PackageOptions | None = None,
) -> list[StationPackage]:
    """One package folder per station of ``tasks`` (from :func:`assign_tasks`).

    ``composites``: ``{"before": COG, "after": COG}`` with bands described B02…B12.
    Raises :class:`InputError` for tasks without ``station_id``/``task_id`` or CRS, or
    when there are no tasks.
    """
    opts = options or PackageOptions()
    for col in ("station_id", "task_id"):
        if col not in tasks:
            raise InputError(f"tasks have no {col!r} column; produce them with assign_tasks")
    if tasks.crs is None:
        raise InputError("tasks have no CRS; produce them with assign_tasks")
    if tasks.empty:
        raise InputError("there are no tasks to dispatch: the run found no patches")
    stamp = iso_utc(dispatched_at)
    tasks = tasks.to_crs(PATCH_CRS)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    packages = []
    for station_id in sorted(tasks["station_id"].astype(str).unique()):
        part = tasks[tasks["station_id"].astype(str) == station_id]
        part = part.sort_values("task_id", kind="stable").reset_index(drop=True)
        packages.append(
            _build_station(part, out_dir, station_id, composites, dispatched_at, run_id, opts)
        )
    manifest = {
        "dispatched_at": stamp,
        "run": run_id,
        "schema_version": SCHEMA_VERSION,
        "packages": [
            {
                "station_id": p.station_id,
                "package_id": p.package_id,
                "folder": p.folder.name,
                "gpkg": f"{p.folder.name}/{p.gpkg.name}",
                "tasks": p.n_tasks,
                "form": p.qgz is not None,
            }
            for p in packages
        ],
    }
    with atomic_path(out_dir / "dispatch.json") as tmp:
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", "utf-8")
    return packages


def _build_station(
    part: gpd.GeoDataFrame,
    out_dir: Path,
    station_id: str,
    composites: Mapping[str, Path],
    dispatched_at: datetime,
    run_id: str,
    opts: PackageOptions,
) -> StationPackage:
    if not station_id or any(c in station_id for c in '/\\:*?"<>|') or station_id[0] == ".":
        raise InputError(
            f"station_id {station_id!r} cannot be used as a folder name; give stations ids "
            "without path separators or special characters"
        )
    names = [str(v) for v in part.get("station_name", pd.Series(dtype=object)).dropna()]
    station_name = names[0] if names else station_id
    pid = package_id(station_id, dispatched_at, [str(t) for t in part["task_id"]])
    final = out_dir / station_id
    with staged_dir(final) as stage:
        (stage / PHOTO_FOLDER).mkdir()
        chips = write_chips(part, dict(composites), stage / CHIP_FOLDER, opts.chips)
        frame = _package_frame(part, chips)
        gpkg = stage / f"{station_id}.gpkg"
        points = _points(frame)
        _write_vectors(gpkg, frame, points)
        has_basemap = "after" in composites and write_basemap(
            frame, Path(composites["after"]), gpkg, opts.chips, table=BASEMAP_TABLE
        )
        meta = {
            "package_id": pid,
            "station_id": station_id,
            "station_name": station_name,
            "dispatched_at": iso_utc(dispatched_at),
            "schema_version": SCHEMA_VERSION,
            "run": run_id,
            "tasks": str(len(frame)),
            "crs": PATCH_CRS,
        }
        _write_tables(gpkg, frame, meta)
        qgz = None
        if opts.form:
            spec = form_spec(
                gpkg=str(gpkg),
                qgs="",
                title=f"{station_name} 地面核查 field verification {pid}",
                basemap=has_basemap,
            )
            qgz = build_form(
                gpkg, spec, project_name=station_id, saved_at=dispatched_at, python=opts.qgis_python
            )
        finish_gpkg(gpkg)  # fixed last_change, fresh copy: stable bytes
        with atomic_path(stage / f"{station_id}.geojson") as tmp:
            pyogrio.write_dataframe(
                frame.to_crs("EPSG:4326"),
                tmp,
                layer=station_id,
                driver="GeoJSON",
                layer_options={"RFC7946": "YES", "WRITE_NAME": "NO"},
            )
        write_kml(frame, points, stage / f"{station_id}.kml")
        write_task_list(
            frame,
            stage / f"{station_id}-tasks.html",
            station_id=station_id,
            station_name=station_name,
            package_id=pid,
            dispatched_at=iso_utc(dispatched_at),
        )
    final = final.resolve()

    def moved(p: Path | None) -> Path | None:
        return None if p is None else final / p.name

    return StationPackage(
        station_id=station_id,
        station_name=station_name,
        package_id=pid,
        folder=final,
        gpkg=final / f"{station_id}.gpkg",
        qgz=moved(qgz),
        geojson=final / f"{station_id}.geojson",
        kml=final / f"{station_id}.kml",
        task_list=final / f"{station_id}-tasks.html",
        n_tasks=len(frame),
        basemap=bool(has_basemap),
    )


def _package_frame(part: gpd.GeoDataFrame, chips: dict[str, dict[str, str]]) -> gpd.GeoDataFrame:
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
    for col in CREW_COLUMNS:
        data[col] = [None] * len(part)
    frame = gpd.GeoDataFrame(data, geometry=part.geometry.values, crs=PATCH_CRS)
    frame["checked_at"] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ms, UTC]")
    return frame[[*PACKAGE_TASK_COLUMNS, "geometry"]]


def _points(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        frame[list(POINT_COLUMNS)].copy(),
        geometry=gpd.points_from_xy(frame["lon"], frame["lat"]),
        crs=PATCH_CRS,
    )


def _empty_layer(columns: tuple[str, ...], time_column: str) -> gpd.GeoDataFrame:
    data: dict[str, object] = {c: pd.Series([], dtype=object) for c in columns}
    data[time_column] = pd.Series([], dtype="datetime64[ms, UTC]")
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=PATCH_CRS), crs=PATCH_CRS)


def _write_vectors(gpkg: Path, frame: gpd.GeoDataFrame, points: gpd.GeoDataFrame) -> None:
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


def _write_tables(gpkg: Path, frame: gpd.GeoDataFrame, meta: dict[str, str]) -> None:
    """Package metadata and the dispatch snapshot (attribute tables)."""
    snapshot = []
    for i in range(len(frame)):
        attrs = {c: _plain(frame[c].iloc[i]) for c in DISPATCHED_COLUMNS + CHIP_COLUMNS}
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
