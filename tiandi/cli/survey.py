"""CLI commands of the survey side: ``ingest uav``, ``accuracy sample|report``, ``ledger``.

Registered in :mod:`tiandi.cli.app`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from tiandi.cli.common import friendly_errors, load_settings, make_console, parse_time
from tiandi.errors import InputError
from tiandi.redline.run_layout import RunLayout

ingest_app = typer.Typer(help="Ingest imagery into the catalog.", no_args_is_help=True)
accuracy_app = typer.Typer(
    help="Accuracy assessment (Olofsson et al. 2014): sample design and report.",
    no_args_is_help=True,
)
ledger_app = typer.Typer(help="Ledgers (台账) per zone and period, CSV and XLSX.")


@ingest_app.command("uav")
@friendly_errors
def ingest_uav_command(
    orthophoto: Annotated[Path, typer.Argument(help="UAV orthophoto (GeoTIFF, RGB or RGBA).")],
    satellite: Annotated[
        Path | None, typer.Option(help="Satellite composite COG to co-register to.")
    ] = None,
    patches: Annotated[
        Path | None, typer.Option(help="patches.gpkg of a run: chips for the patches covered.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: <home>/uav/<item id>).")
    ] = None,
    when: Annotated[
        str | None, typer.Option("--datetime", help="Acquisition time (ISO 8601).")
    ] = None,
    item_id: Annotated[str | None, typer.Option("--id", help="Item id.")] = None,
) -> None:
    """Register ORTHOPHOTO as a STAC item (collection uav), co-registered and chipped."""
    from tiandi.catalog.store import GeoParquetCatalog
    from tiandi.catalog.uav import check_orthophoto, uav_item_id
    from tiandi.eo.uav_ingest import ingest_uav

    settings = load_settings()
    item_id = item_id or uav_item_id(check_orthophoto(orthophoto))
    folder = out or settings.uav_path / item_id
    result = ingest_uav(
        orthophoto,
        folder,
        satellite=satellite,
        patches=patches,
        datetime=parse_time(when, "--datetime") if when else None,
        item_id=item_id,
    )
    GeoParquetCatalog(settings.catalog_path).add([result.item])
    console = make_console(soft_wrap=True)
    c = result.coregistration
    if c is None:
        console.print("co-registration: not requested (no --satellite)")
    elif c.status == "skipped":
        console.print(f"co-registration skipped: {c.reason}")
    else:
        console.print(
            f"shift found: {c.shift_x_m:+.2f} m east, {c.shift_y_m:+.2f} m north "
            f"({c.shift_col_px:+.2f}, {c.shift_row_px:+.2f} px of {c.pixel_m:g} m); "
            + ("corrected copy written" if result.applied else "below 0.5 px, not applied")
        )
    if patches is not None:
        console.print(f"{len(result.chips)} patch chips in {folder / 'chips'}")
    console.print(f"registered {result.item.id} in {settings.catalog_path}")


@accuracy_app.command("sample")
@friendly_errors
def accuracy_sample(
    run: Annotated[Path, typer.Option(help="Output folder of a detect-changes run.")],
    out: Annotated[Path, typer.Option(help="Sample GeoPackage to write (.gpkg).")],
    zones: Annotated[
        Path | None, typer.Option(help="Zones (default: the run's zones file, if recorded).")
    ] = None,
    by_class: Annotated[bool, typer.Option(help="One stratum per HJ 1156 class.")] = False,
    target_se: Annotated[float, typer.Option(help="Target SE of overall accuracy.")] = 0.01,
    minimum: Annotated[int, typer.Option(help="Minimum sample units per stratum.")] = 50,
    buffer_px: Annotated[int, typer.Option(help="Width of the buffer stratum (pixels).")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Design a stratified random sample over a run's change map; write it as field tasks."""
    from tiandi.redline.accuracy.sampling import SamplingParams, design_sample, write_samples

    layout = RunLayout(run)
    mask, patches = layout.change_mask, layout.patches
    if not mask.is_file():
        raise InputError(f"run folder {run} has no {layout.CHANGE_MASK}; pass a run's output")
    zones = zones or _run_zones(run)
    params = SamplingParams(
        target_se=target_se, minimum=minimum, buffer_px=buffer_px, by_class=by_class, seed=seed
    )
    design = design_sample(
        mask, patches=patches if patches.is_file() else None, zones=zones, params=params
    )
    gpkg, geojson = write_samples(design, out)
    console = make_console(soft_wrap=True)
    for s in design.strata:
        console.print(f"{s.name:>12}: {s.area_m2 / 1e4:12.2f} ha  n = {s.n_samples}")
    console.print(
        f"{len(design.samples)} sample units (eq. 13 gives {design.n_target}) -> {gpkg}, {geojson}"
    )


def _run_zones(run: Path) -> Path | None:
    summary = RunLayout(run).summary_json
    if not summary.is_file():
        return None
    try:
        recorded = json.loads(summary.read_text(encoding="utf-8")).get("zones_file")
    except ValueError:
        return None
    return Path(recorded) if recorded and Path(recorded).is_file() else None


@accuracy_app.command("report")
@friendly_errors
def accuracy_report_command(
    samples: Annotated[Path, typer.Option(help="Sample GeoPackage after field verification.")],
    by: Annotated[
        str, typer.Option(help="Group by: reserve (zone name), zone_id, functional_zone, none.")
    ] = "reserve",
    out: Annotated[
        Path | None, typer.Option(help="Report .json (default: beside the samples).")
    ] = None,
) -> None:
    """Error matrix, accuracies and areas with 95 % CIs, overall and per group."""
    from tiandi.redline.accuracy.report import accuracy_report, write_accuracy_report
    from tiandi.redline.accuracy.sampling import read_samples

    frame, strata = read_samples(samples)
    report = accuracy_report(frame, strata, by=None if by == "none" else by)
    target = out or samples.with_name(f"{samples.stem}.accuracy.json")
    paths = write_accuracy_report(report, target)
    make_console(soft_wrap=True).print(report.to_markdown(), markup=False, highlight=False)
    make_console(soft_wrap=True).print(f"written: {', '.join(str(p) for p in paths)}")


@ledger_app.callback(invoke_without_command=True)
@friendly_errors
def ledger(
    out: Annotated[Path, typer.Option(help="Output folder for the CSV and XLSX files.")],
    run: Annotated[
        list[Path] | None, typer.Option(help="Run folder (repeat for several periods).")
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option(
            "--store",
            help="Instead of runs: the patch store GeoPackage (lifecycle states and the "
            "crew's answers on the ground included).",
        ),
    ] = None,
    dsn: Annotated[
        str | None, typer.Option("--dsn", help="Instead of runs: a PostGIS patch store.")
    ] = None,
    schema: Annotated[str, typer.Option(help="PostgreSQL schema of the patch store.")] = "tiandi",
) -> None:
    """Write ledgers (台账) of the patches of one or more runs, or of the patch store."""
    from tiandi.redline.reports.ledger import build_ledger, write_ledgers

    if bool(run) == (store is not None or bool(dsn)):
        raise InputError(
            "give the patches of the ledger: one or more --run folders, or the patch store "
            "(--store FILE or --dsn DSN), not both"
        )
    periods = _run_periods(run) if run else _store_periods(store, dsn, schema)
    paths = write_ledgers(build_ledger(periods), out)
    make_console(soft_wrap=True).print(
        f"ledgers of {len(periods)} period(s): {', '.join(p.name for p in paths)}"
    )


def _run_periods(runs: list[Path]) -> dict[str, Any]:
    """The patches of each run folder, by its period."""
    from tiandi.redline.reports.ledger_sources import read_run_patches, run_period

    periods: dict[str, Any] = {}
    for folder in runs:
        period = run_period(folder)
        if period in periods:
            raise InputError(f"two runs cover the period {period!r}; pass one run per period")
        periods[period] = read_run_patches(folder)
    return periods


def _store_periods(store: Path | None, dsn: str | None, schema: str) -> dict[str, Any]:
    """The patch store's patches, by the period of their latest detection."""
    from tiandi.cli.patches import _open
    from tiandi.redline.reports.ledger_sources import store_periods

    return dict(store_periods(_open(store, dsn, schema)))
