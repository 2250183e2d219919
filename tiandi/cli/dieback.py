"""``tiandi run detect-dieback``: forest dieback alerts for zones and a monitoring period.

Registered on the ``run`` group by :mod:`tiandi.cli.app` (one line there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from tiandi.cli.common import friendly_errors, load_settings, make_console, parse_period


@friendly_errors
def detect_dieback_command(
    zones: Annotated[Path, typer.Option(help="Zones file (GeoPackage, Shapefile, GeoJSON).")],
    period: Annotated[
        str, typer.Option(help="Monitoring period START/END, e.g. 2025-05-01/2025-09-30.")
    ],
    baseline_years: Annotated[
        int, typer.Option(help="Years before the period whose same season is the baseline.")
    ] = 3,
    out: Annotated[
        Path | None,
        typer.Option(help="Output folder (default dieback-START_END; replaced on success)."),
    ] = None,
    window_days: Annotated[
        int, typer.Option(help="Seasonal window: baseline days within ± this day of year.")
    ] = 30,
    z_threshold: Annotated[
        float, typer.Option(help="Drop (robust SDs) that makes a clear date anomalous.")
    ] = 3.0,
    collection: Annotated[str, typer.Option(help="STAC collection to search.")] = "sentinel-2-l2a",
    max_cloud_cover: Annotated[
        float, typer.Option(help="Skip scenes cloudier than this (%).")
    ] = 80.0,
    mmu: Annotated[float, typer.Option(help="Minimum mapping unit in m².")] = 1000.0,
) -> None:
    """Forest dieback (病虫害、干旱导致的林木枯死) in ZONES: each clear date of PERIOD
    against the same season of the BASELINE_YEARS before it; patches recorded in the patch
    store as provisional or confirmed alerts (clear-cuts are left to detect-changes)."""
    settings = load_settings()
    from tiandi.flows.detect_dieback import (
        DetectDiebackRequest,
        check_dieback_inputs,
        detect_dieback,
    )
    from tiandi.flows.runtime import prefect_session

    checked = parse_period(period, "--period")
    request = DetectDiebackRequest(
        zones=zones,
        period=checked,
        out=out if out is not None else Path(f"dieback-{checked.replace('/', '_')}"),
        baseline_years=baseline_years,
        window_days=window_days,
        z_threshold=z_threshold,
        collection=collection,
        max_cloud_cover=max_cloud_cover,
        min_mapping_unit_m2=mmu,
        record=True,
    )
    check_dieback_inputs(request, settings)
    console = make_console()
    with prefect_session(settings) as prefect_url:
        console.print(f"Prefect API {prefect_url}")
        result = detect_dieback(request, settings)
    _print_result(console, result.summary, result.out)


def _print_result(console: Console, s: dict[str, Any], out: Path) -> None:
    console.print(
        f"{s['n_patches']} dieback patch(es) ({s['n_confirmed']} confirmed, "
        f"{s['n_provisional']} provisional, {s['total_area_ha']} ha); {s['n_clear_cuts']} "
        f"clear-cut(s) left to detect-changes; {len(s['dates_period'])} clear date(s) against "
        f"{len(s['dates_baseline'])} baseline date(s) of {', '.join(s['baseline_years'])}"
    )
    for gap in s["no_data_zones"]:
        console.print(f"[yellow]no data:[/] {gap['reason']}", highlight=False)
    console.print(f"outputs in {out}")
