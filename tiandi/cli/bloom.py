"""``tiandi run monitor-blooms``: algal-bloom screening of the water bodies of a zone set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from tiandi.cli.common import friendly_errors, load_settings, make_console, parse_period


@friendly_errors
def run_monitor_blooms(
    zones: Annotated[Path, typer.Option(help="Zones with lakes or reservoirs (vector file).")],
    period: Annotated[str, typer.Option(help="Period START/END, e.g. 2026-04-01/2026-10-31.")],
    out: Annotated[Path, typer.Option(help="Output folder (replaced only when the run succeeds).")],
    collection: Annotated[str, typer.Option(help="STAC collection to search.")] = "sentinel-2-l2a",
    max_cloud_cover: Annotated[
        float, typer.Option(help="Skip scenes cloudier than this (%).")
    ] = 80.0,
    fai_threshold: Annotated[
        float, typer.Option(help="Bloom where FAI is above this (Hu et al. 2010, 太湖).")
    ] = -0.004,
    min_clear_share: Annotated[
        float, typer.Option(help="A date is no data for a water body below this clear share.")
    ] = 0.5,
    alert_from: Annotated[
        str, typer.Option(help="Lowest grade that alerts: scattered, local, regional, widespread.")
    ] = "scattered",
    record: Annotated[
        bool, typer.Option(help="Record the alert dates' bloom patches in the patch store.")
    ] = True,
) -> None:
    """Screen the water bodies of ZONES for algal blooms on every clear date of PERIOD."""
    settings = load_settings()
    from tiandi.flows.monitor_blooms import (
        MonitorBloomsRequest,
        check_bloom_inputs,
        monitor_blooms,
    )
    from tiandi.flows.runtime import prefect_session

    request = MonitorBloomsRequest(
        zones=zones,
        period=parse_period(period, "--period"),
        out=out,
        collection=collection,
        max_cloud_cover=max_cloud_cover,
        fai_threshold=fai_threshold,
        min_clear_share=min_clear_share,
        alert_from=alert_from,
        record=record,
    )
    check_bloom_inputs(request, settings)
    console = make_console()
    with prefect_session(settings) as prefect_url:
        console.print(f"Prefect API {prefect_url}")
        result = monitor_blooms(request, settings)
    table = Table("water body", "date", "clear", "bloom ha", "share", "grade")
    for row in result.series.itertuples(index=False):
        share = "" if pd.isna(row.bloom_share) else f"{row.bloom_share:.1%}"
        area = "" if pd.isna(row.bloom_area_ha) else f"{row.bloom_area_ha:.2f}"
        grade = row.grade_zh + (" [bold red]alert[/]" if row.alert else "")
        table.add_row(row.water_id, row.date, f"{row.clear_share:.0%}", area, share, grade)
    console.print(table)
    for water_id in result.without_clear_dates:
        console.print(f"[yellow]{water_id}: no clear date in {period}: no data[/]")
    console.print(
        f"outputs in {result.out}; alert dates: {', '.join(result.alert_dates) or 'none'}"
    )
