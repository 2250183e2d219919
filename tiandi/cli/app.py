"""The ``tiandi`` command line: the edge where settings are read and errors are printed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer

from tiandi.cli.auth import auth_app, serve
from tiandi.cli.backup import backup, restore, store_app
from tiandi.cli.bloom import run_monitor_blooms
from tiandi.cli.burned import evaluate_burned_command
from tiandi.cli.catalog import catalog_load
from tiandi.cli.common import (
    PrecisionOption,
    friendly_errors,
    load_settings,
    make_console,
    parse_period,
    parse_time,
)
from tiandi.cli.dieback import detect_dieback_command
from tiandi.cli.fetch import fetch_app
from tiandi.cli.field import dispatch, field_app
from tiandi.cli.ingest import ingest_gf, ingest_s2
from tiandi.cli.models import evaluate_app, run_train_change_model
from tiandi.cli.patches import audit_app, patches_app
from tiandi.cli.report import report
from tiandi.cli.runs import runs_app
from tiandi.cli.survey import accuracy_app, ingest_app, ledger_app
from tiandi.errors import InputError
from tiandi.models.names import DEFAULT_DETECTOR
from tiandi.models.precision import DEFAULT_PRECISION

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    name="tiandi",
    help="tiandi (天地一体): change detection over red-line zones and nature reserves.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
run_app = typer.Typer(help="Run a pipeline flow.", no_args_is_help=True)
catalog_app = typer.Typer(help="The STAC catalog: register, search, serve.", no_args_is_help=True)
zones_app = typer.Typer(help="Zones (red-line zones, reserves): validate.", no_args_is_help=True)
app.add_typer(run_app, name="run")
app.add_typer(zones_app, name="zones")
app.add_typer(catalog_app, name="catalog")
app.add_typer(ingest_app, name="ingest")
app.add_typer(accuracy_app, name="accuracy")
app.add_typer(ledger_app, name="ledger")
run_app.command("detect-dieback")(detect_dieback_command)


def _check_detector(name: str, precision: str) -> None:
    """An unknown detector or number format fails before any service starts."""
    from tiandi.models.precision import check_precision
    from tiandi.models.registry import load_detector

    load_detector(name, precision=check_precision(precision, "--precision"))


@run_app.command("detect-changes")
@friendly_errors
def run_detect_changes(
    zones: Annotated[Path, typer.Option(help="Zones file (GeoPackage, Shapefile, GeoJSON).")],
    before: Annotated[
        str, typer.Option(help="Before period START/END, e.g. 2025-01-01/2025-06-30.")
    ],
    after: Annotated[str, typer.Option(help="After period START/END.")],
    out: Annotated[Path, typer.Option(help="Output folder (replaced only when the run succeeds).")],
    stations: Annotated[
        Path | None, typer.Option(help="Verification stations with jurisdictions.")
    ] = None,
    truth: Annotated[Path | None, typer.Option(help="Known events, to score the run.")] = None,
    collection: Annotated[str, typer.Option(help="STAC collection to search.")] = "sentinel-2-l2a",
    max_cloud_cover: Annotated[
        float, typer.Option(help="Skip scenes cloudier than this (%).")
    ] = 80.0,
    mmu: Annotated[float, typer.Option(help="Minimum mapping unit in m².")] = 1000.0,
    detector: Annotated[
        str,
        typer.Option(
            help="Change detector: integrated-high (the default: network + spectral "
            "evidence, patches with confidence levels high and highest), integrated (every "
            "level), integrated-high@NETWORK (another shipped 6-band network inside it), "
            "baseline (change vectors), trained weights (evaluate oscd), burned-area "
            "(burn scars) or water (water gain/loss, reclamation)."
        ),
    ] = DEFAULT_DETECTOR,
    coastal_zone: Annotated[
        list[str] | None,
        typer.Option(help="A zone id or name mapped as coastal (coastline, 围填海); repeatable."),
    ] = None,
    precision: PrecisionOption = DEFAULT_PRECISION,
) -> None:
    """Detect changes in ZONES between two periods against the configured STAC API."""
    settings = load_settings()
    _check_detector(detector, precision)
    from tiandi.flows.detect_changes import DetectChangesRequest, check_inputs, detect_changes
    from tiandi.flows.runtime import prefect_session
    from tiandi.redline.reports.run_summary import print_summary

    request = DetectChangesRequest(
        zones=zones,
        before=parse_period(before, "--before"),
        after=parse_period(after, "--after"),
        out=out,
        stations=stations,
        truth=truth,
        collection=collection,
        max_cloud_cover=max_cloud_cover,
        min_mapping_unit_m2=mmu,
        record=True,
        detector=detector,
        coastal_zones=tuple(coastal_zone or ()),
        precision=precision,
    )
    check_inputs(request, settings)
    console = make_console()
    with prefect_session(settings) as prefect_url:
        console.print(f"Prefect API {prefect_url}")
        result = detect_changes(request, settings)
    print_summary(result.summary, result.patches, result.out, console)


@app.command("demo")
@friendly_errors
def demo(
    size: Annotated[int, typer.Option(help="Scene size in pixels (10 m).")] = 2048,
    seed: Annotated[int, typer.Option(help="Random seed of the demo scene.")] = 0,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("demo-out"),
    full_cycle: Annotated[
        bool,
        typer.Option(
            "--full-cycle",
            help="Then run the whole supervision cycle (review, dispatch, field import, "
            "accuracy, close, re-check, audit) in OUT/cycle.",
        ),
    ] = False,
    detector: Annotated[
        str | None,
        typer.Option(
            help="Change detector: baseline, integrated or trained weights (default: the flow's)."
        ),
    ] = None,
    disturbances: Annotated[
        bool,
        typer.Option(
            "--disturbances/--no-disturbances",
            help="Plant a burn scar, a dieback stand, a bloom and a reclaimed strip (real "
            "pixels from ../shared/data) in the scene, then run the burned-area, water, "
            "dieback and bloom flows and print found/planted and false alerts per type "
            "(--no-disturbances: the human-activity scene and run only, about 2.5x faster).",
        ),
    ] = True,
    real_spectra: Annotated[
        bool,
        typer.Option(
            "--real-spectra/--hand-set-spectra",
            help="Paint every land cover and every event with real Sentinel-2 pixels of "
            "its EuroSAT class, greenness from the eo-learn series (read from "
            "../shared/data; the default), or with the hand-set reflectance table "
            "(--hand-set-spectra: needs no real data together with --no-disturbances).",
        ),
    ] = True,
) -> None:
    """Generate the demo scene, catalogue it and run detect_changes on it, then the
    disturbance flows scored against the planted disturbances (not with --no-disturbances)."""
    settings = load_settings()
    from tiandi.demo.run import run_demo
    from tiandi.models.registry import load_detector

    if detector is not None:
        load_detector(detector)  # an unknown name fails before the scene is generated
    run_demo(
        settings,
        size=size,
        seed=seed,
        out=out,
        console=make_console(),
        full_cycle=full_cycle,
        detector=detector,
        disturbances=disturbances,
        real_spectra=real_spectra,
    )


@zones_app.command("validate")
@friendly_errors
def zones_validate(
    path: Annotated[Path, typer.Argument(help="Zones file (GeoPackage, Shapefile, GeoJSON, KML).")],
    collection: Annotated[
        str | None,
        typer.Option(help="Flag zones outside this collection's imagery (embedded catalog)."),
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write the report as JSON here.")] = None,
) -> None:
    """Report repaired, empty, duplicate and out-of-imagery zones and the zone-set version."""
    settings = load_settings()
    from tiandi.catalog.store import GeoParquetCatalog
    from tiandi.redline.zones.validation import (
        footprint_of_items,
        validate_zones,
        write_zone_report,
    )

    footprint = None
    if collection is not None:
        items = GeoParquetCatalog(settings.catalog_path).search(collections=[collection])
        footprint = footprint_of_items(items)
    result = validate_zones(path, imagery_footprint=footprint)
    console = make_console()
    console.print(
        f"{result.path}: {result.n_features} features -> {result.n_zones} zones, "
        f"CRS {result.crs}, encoding {result.encoding}, version {result.zone_set_version}"
    )
    for issue in result.issues:
        where = "" if issue.feature is None else f"feature {issue.feature}: "
        console.print(f"  {issue.kind:<18} {where}{issue.detail}", highlight=False)
    if not result.issues:
        console.print("  no issues")
    if report is not None:
        write_zone_report(result, report)


@catalog_app.command("register")
@friendly_errors
def catalog_register(
    files: Annotated[list[Path], typer.Argument(help="Rasters of one item (one per asset).")],
    item_id: Annotated[str, typer.Option("--id", help="Item id.")],
    when: Annotated[str, typer.Option("--datetime", help="Acquisition time (ISO 8601).")],
    collection: Annotated[str, typer.Option(help="Collection id.")] = "local",
    cloud_cover: Annotated[
        float | None,
        typer.Option(help="eo:cloud_cover in % (default: from an SCL or QA_PIXEL asset)."),
    ] = None,
) -> None:
    """Register local rasters (GeoTIFF/COG) as one STAC item in the embedded catalog.

    Each file becomes an asset named after its file stem (B04.tif -> asset B04). The cloud
    cover is --cloud-cover, else computed from an SCL or QA_PIXEL asset, else unknown
    (searches with a cloud maximum then keep the item and warn).
    """
    settings = load_settings()
    from tiandi.catalog.cloud_cover import resolve_cloud_cover
    from tiandi.catalog.items import item_from_rasters
    from tiandi.catalog.store import GeoParquetCatalog

    moment = parse_time(when, "--datetime")
    assets = {f.stem: f.resolve() for f in files}
    cloud = resolve_cloud_cover(assets, cloud_cover)
    properties = {} if cloud is None else {"eo:cloud_cover": cloud}
    item = item_from_rasters(
        item_id, assets, datetime=moment, collection=collection, properties=properties
    )
    GeoParquetCatalog(settings.catalog_path).add([item])
    make_console().print(
        f"registered {item.id} ({len(assets)} assets, cloud cover "
        f"{'unknown' if cloud is None else f'{cloud:g} %'}) in {settings.catalog_path}"
    )


@catalog_app.command("search")
@friendly_errors
def catalog_search(
    collection: Annotated[str | None, typer.Option(help="Collection id.")] = None,
    period: Annotated[str | None, typer.Option("--datetime", help="START/END period.")] = None,
    bbox: Annotated[str | None, typer.Option(help="minx,miny,maxx,maxy in degrees.")] = None,
) -> None:
    """Search the embedded catalog and list the items found."""
    settings = load_settings()
    from tiandi.catalog.store import GeoParquetCatalog

    box: tuple[float, float, float, float] | None = None
    if bbox:
        try:
            x0, y0, x1, y1 = (float(v) for v in bbox.split(","))
        except ValueError:
            raise InputError(f"--bbox {bbox!r} must be four numbers minx,miny,maxx,maxy") from None
        box = (x0, y0, x1, y1)
    items = GeoParquetCatalog(settings.catalog_path).search(
        bbox=box, datetime=period, collections=[collection] if collection else None
    )
    console = make_console()
    for item in items:
        cloud = item.properties.get("eo:cloud_cover")
        console.print(f"{item.collection_id}  {item.id}  {item.datetime}  cloud={cloud}")
    console.print(f"{len(items)} items")


@catalog_app.command("serve")
@friendly_errors
def catalog_serve() -> None:
    """Serve the embedded catalog read-only over HTTP until interrupted (Ctrl-C)."""
    settings = load_settings()
    from tiandi.catalog.server import EmbeddedStacServer

    with EmbeddedStacServer(settings.catalog_path, home=settings.home) as server:
        make_console().print(f"STAC API at {server.url} (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


app.command("dispatch")(dispatch)
app.add_typer(field_app, name="field")
app.add_typer(patches_app, name="patches")
app.add_typer(audit_app, name="audit")
app.add_typer(evaluate_app, name="evaluate")
evaluate_app.command("burned")(evaluate_burned_command)
run_app.command("train-change-model")(run_train_change_model)
run_app.command("monitor-blooms")(run_monitor_blooms)
ingest_app.command("s2")(ingest_s2)
ingest_app.command("gf")(ingest_gf)
app.add_typer(auth_app, name="auth")
app.command("serve")(serve)
app.command("backup")(backup)
app.command("restore")(restore)
app.add_typer(store_app, name="store")
app.add_typer(runs_app, name="runs")
app.add_typer(fetch_app, name="fetch")
catalog_app.command("load")(catalog_load)
app.command("report")(report)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
