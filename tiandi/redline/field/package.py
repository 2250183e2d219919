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

The GeoPackage schema is in :mod:`tiandi.redline.field.schema` and its layers and tables
are written by :mod:`._package_gpkg`; a crew opens the ``.gpkg`` (QField reads the
project stored inside) or the folder's ``.qgz``. The folder is staged and swapped in
whole, and its bytes depend only on the tasks, the composites and ``dispatched_at`` (an
input), so a re-run gives identical files. ``dispatch.json`` in ``<out>`` lists the
packages.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from tiandi._gpkg import finish_gpkg
from tiandi._io import atomic_path, staged_dir
from tiandi._time import iso_utc
from tiandi.errors import InputError
from tiandi.redline.field._package_gpkg import (
    package_frame,
    task_points,
    write_tables,
    write_vectors,
)
from tiandi.redline.field.chips import ChipOptions, write_basemap, write_chips
from tiandi.redline.field.form import QGIS_PYTHON, build_form
from tiandi.redline.field.form_fields import form_spec
from tiandi.redline.field.printout import write_kml, write_task_list
from tiandi.redline.field.schema import (
    BASEMAP_TABLE,
    CHIP_FOLDER,
    PHOTO_FOLDER,
    SCHEMA_VERSION,
    TASKS_LAYER,
    confidence_columns,
    disturbance_crew_columns,
)
from tiandi.redline.field.tasks import assign_tasks
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.vocabulary import STORE_CRS as PATCH_CRS
from tiandi.redline.zones.read import read_stations


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


@dataclass(frozen=True)
class _Station:
    """The station a package is being built for, and the dispatch it belongs to."""

    station_id: str
    station_name: str
    package_id: str
    dispatched_at: datetime
    run_id: str


def _build_station(
    part: gpd.GeoDataFrame,
    out_dir: Path,
    station_id: str,
    composites: Mapping[str, Path],
    dispatched_at: datetime,
    run_id: str,
    opts: PackageOptions,
) -> StationPackage:
    """Stage one station's folder, swap it in whole, and say what it holds."""
    _check_station_id(station_id)
    names = [str(v) for v in part.get("station_name", pd.Series(dtype=object)).dropna()]
    station = _Station(
        station_id=station_id,
        station_name=names[0] if names else station_id,
        package_id=package_id(station_id, dispatched_at, [str(t) for t in part["task_id"]]),
        dispatched_at=dispatched_at,
        run_id=run_id,
    )
    final = out_dir / station_id
    with staged_dir(final) as stage:
        frame, has_basemap, qgz = _write_station(stage, part, station, composites, opts)
    return _station_package(final.resolve(), station, len(frame), qgz, has_basemap)


def _check_station_id(station_id: str) -> None:
    """The station id names a folder: no path separators or special characters."""
    if not station_id or any(c in station_id for c in '/\\:*?"<>|') or station_id[0] == ".":
        raise InputError(
            f"station_id {station_id!r} cannot be used as a folder name; give stations ids "
            "without path separators or special characters"
        )


def _write_station(
    stage: Path,
    part: gpd.GeoDataFrame,
    station: _Station,
    composites: Mapping[str, Path],
    opts: PackageOptions,
) -> tuple[gpd.GeoDataFrame, bool, Path | None]:
    """Every file of the package into ``stage``: the task frame, whether the GeoPackage got
    a basemap, and the form project (None without ``opts.form``)."""
    (stage / PHOTO_FOLDER).mkdir()
    chips = write_chips(part, dict(composites), stage / CHIP_FOLDER, opts.chips)
    frame = package_frame(part, chips)
    gpkg = stage / f"{station.station_id}.gpkg"
    points = task_points(frame)
    write_vectors(gpkg, frame, points)
    has_basemap = "after" in composites and write_basemap(
        frame, Path(composites["after"]), gpkg, opts.chips, table=BASEMAP_TABLE
    )
    write_tables(gpkg, frame, _meta(station, len(frame)))
    extra = disturbance_crew_columns(part["change_type"]) if "change_type" in part else ()
    extra = (*extra, *confidence_columns(part.columns))
    qgz = _write_form(gpkg, station, has_basemap, opts, extra) if opts.form else None
    finish_gpkg(gpkg)  # fixed last_change, fresh copy: stable bytes
    _write_sidecars(stage, frame, points, station)
    return frame, has_basemap, qgz


def _meta(station: _Station, n_tasks: int) -> dict[str, str]:
    """The package metadata table (``tiandi_package``)."""
    return {
        "package_id": station.package_id,
        "station_id": station.station_id,
        "station_name": station.station_name,
        "dispatched_at": iso_utc(station.dispatched_at),
        "schema_version": SCHEMA_VERSION,
        "run": station.run_id,
        "tasks": str(n_tasks),
        "crs": PATCH_CRS,
    }


def _write_form(
    gpkg: Path,
    station: _Station,
    has_basemap: bool,
    opts: PackageOptions,
    extra: tuple[str, ...] = (),
) -> Path:
    """The crew's QGIS form, stored in ``gpkg`` and as ``<station>.qgz`` beside it
    (``extra``: crew fields of disturbance tasks, e.g. the burn severity)."""
    spec = form_spec(
        gpkg=str(gpkg),
        qgs="",
        title=f"{station.station_name} 地面核查 field verification {station.package_id}",
        basemap=has_basemap,
        extra=extra,
    )
    return build_form(
        gpkg,
        spec,
        project_name=station.station_id,
        saved_at=station.dispatched_at,
        python=opts.qgis_python,
    )


def _write_sidecars(
    stage: Path, frame: gpd.GeoDataFrame, points: gpd.GeoDataFrame, station: _Station
) -> None:
    """GeoJSON (web maps), KML (Google Earth, outdoor apps) and the printable task list."""
    sid = station.station_id
    with atomic_path(stage / f"{sid}.geojson") as tmp:
        pyogrio.write_dataframe(
            frame.to_crs("EPSG:4326"),
            tmp,
            layer=sid,
            driver="GeoJSON",
            layer_options={"RFC7946": "YES", "WRITE_NAME": "NO"},
        )
    write_kml(frame, points, stage / f"{sid}.kml")
    write_task_list(
        frame,
        stage / f"{sid}-tasks.html",
        station_id=sid,
        station_name=station.station_name,
        package_id=station.package_id,
        dispatched_at=iso_utc(station.dispatched_at),
    )


def _station_package(
    final: Path, station: _Station, n_tasks: int, qgz: Path | None, has_basemap: bool
) -> StationPackage:
    """Where the files of the package lie once its folder was swapped in."""
    sid = station.station_id
    return StationPackage(
        station_id=sid,
        station_name=station.station_name,
        package_id=station.package_id,
        folder=final,
        gpkg=final / f"{sid}.gpkg",
        qgz=None if qgz is None else final / qgz.name,
        geojson=final / f"{sid}.geojson",
        kml=final / f"{sid}.kml",
        task_list=final / f"{sid}-tasks.html",
        n_tasks=n_tasks,
        basemap=bool(has_basemap),
    )
