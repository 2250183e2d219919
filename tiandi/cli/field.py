"""``tiandi dispatch`` and ``tiandi field import``: the field verification round trip.

Registered on the main app by :mod:`tiandi.cli.app` (one import line there).
"""

from __future__ import annotations

import getpass
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tiandi.cli.common import friendly_errors, load_settings, make_console, parse_time
from tiandi.errors import TiandiError
from tiandi.settings import Settings

if TYPE_CHECKING:
    from tiandi.redline.field.package import StationPackage

field_app = typer.Typer(help="Field verification: take packages back.", no_args_is_help=True)


@friendly_errors
def dispatch(
    run: Annotated[Path, typer.Option(help="Output folder of a detect-changes run.")],
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the station packages (default: TIANDI_HOME/field/packages, "
            "where `tiandi serve` hands them to the stations)."
        ),
    ] = None,
    stations: Annotated[
        Path | None,
        typer.Option(help="Stations (jurisdictions) to assign the run's patches to afresh."),
    ] = None,
    dispatched_at: Annotated[
        str | None, typer.Option(help="Dispatch time (ISO 8601); default: now.")
    ] = None,
    form: Annotated[
        bool | None,
        typer.Option(
            "--form/--no-form",
            help="Build the QGIS form (needs python3-qgis); default: when QGIS is available.",
        ),
    ] = None,
    patch_store: Annotated[
        Path | None,
        typer.Option(
            help="Patch store to record the dispatch in (patches must be reviewed_accepted)."
        ),
    ] = None,
) -> None:
    """Build one field package per station (GeoPackage + form, chips, basemap, KML, list)."""
    settings = load_settings()
    from tiandi.redline.field.form import qgis_available
    from tiandi.redline.field.package import PackageOptions, dispatch_run

    console = make_console()
    build_form = qgis_available() if form is None else form
    if form is None and not build_form:
        console.print("QGIS (python3-qgis) not found: packages are written without the form")
    out = out if out is not None else settings.field_packages_dir
    packages = dispatch_run(
        run,
        out,
        dispatched_at=(
            parse_time(dispatched_at, "--dispatched-at")
            if dispatched_at
            else datetime.now(UTC).replace(microsecond=0)
        ),
        stations=stations,
        options=PackageOptions(form=build_form),
    )
    if patch_store is not None:
        _record_dispatch(_store_settings(settings, patch_store), packages)
    for p in packages:
        console.print(
            f"{p.station_id} ({p.station_name}): {p.n_tasks} tasks, {p.package_id}, {p.gpkg}"
        )
    console.print(f"{len(packages)} station packages in {out.resolve()}")


def _store_settings(settings: Settings, patch_store: Path) -> Settings:
    """``settings`` whose patch store is the GeoPackage ``--patch-store``."""
    return settings.model_copy(update={"patch_store": patch_store, "patch_dsn": None})


def _record_dispatch(settings: Settings, packages: list[StationPackage]) -> None:
    """Move the packages' patches to ``dispatched``; on refusal remove the packages."""
    from tiandi.redline.field.lifecycle import record_dispatch
    from tiandi.redline.store.open import open_store

    try:
        record_dispatch(open_store(settings), [p.gpkg for p in packages], actor=getpass.getuser())
    except TiandiError:
        for p in packages:
            shutil.rmtree(p.folder, ignore_errors=True)
        raise


@field_app.command("import")
@friendly_errors
def field_import(
    file: Annotated[Path, typer.Argument(help="The package's .gpkg, with its folder (photos).")],
    store: Annotated[
        Path | None, typer.Option(help="Field results store (default: TIANDI_HOME/field).")
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Who imports (default: login name).")] = None,
    max_mb: Annotated[
        float,
        typer.Option(envvar="TIANDI_FIELD_IMPORT_MAX_MB", help="Largest package accepted (MB)."),
    ] = 512.0,
    tolerance_m: Annotated[
        float, typer.Option(help="How far from the patch a photo may be taken (m).")
    ] = 150.0,
    patch_store: Annotated[
        Path | None,
        typer.Option(
            help="Patch store whose dispatched patches the results move to field_checked."
        ),
    ] = None,
) -> None:
    """Validate and record a field package brought back from the field."""
    settings = load_settings()
    from tiandi.redline.field.importer import ImportOptions, import_field_package
    from tiandi.redline.field.results_store import SqliteFieldStore

    target = store or settings.field_results_path
    options = ImportOptions(max_bytes=int(max_mb * 1e6), photo_tolerance_m=tolerance_m)
    who = actor or getpass.getuser()
    if patch_store is None:
        report = import_field_package(file, SqliteFieldStore(target), actor=who, options=options)
    else:
        from tiandi.redline.field.lifecycle import import_field_results
        from tiandi.redline.store.open import open_store

        patches = open_store(_store_settings(settings, patch_store))
        report, sync = import_field_results(
            file, SqliteFieldStore(target), patches, actor=who, options=options
        )
        moved = len(sync.transitions)
        make_console().print(f"{moved} patches moved to field_checked in {patch_store}")
    make_console().print(report.summary(), highlight=False)
