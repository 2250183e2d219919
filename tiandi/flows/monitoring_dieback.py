"""The ``monitor_dieback`` Prefect flow: a scheduled ``detect_dieback`` run for one region.

Dieback shows in the growing season, so the monitoring periods are seasons, not the
calendar halves of ``monitor_zones``: regions monitored every half year (national
reserves) get spring (Apr–Jun, run from 1 July) and summer (Jul–Sep, run from 1 October);
yearly regions get the growing season May–Sep (run from 1 October). Each run compares
the last complete season with the same season of ``baseline_years`` earlier years, records
its patches in the patch store of the settings (a later run confirms the provisional
alerts of the earlier one) and writes ``<out_root>/<region>/dieback/<label>``. Regions come
from the same regions file as ``monitor_zones`` (``infra/regions.yaml``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from prefect import flow, get_run_logger

from tiandi.errors import InputError
from tiandi.flows.detect_dieback import DetectDiebackRequest, DetectDiebackResult, detect_dieback
from tiandi.flows.monitoring import Region, load_regions
from tiandi.settings import Settings


def dieback_period(cadence: str, on: date) -> tuple[str, str]:
    """``(period, label)``: the last complete season before ``on`` (see the module
    docstring): ``2026-04-01/2026-06-30``, ``2026-spring`` …"""
    y = on.year
    if cadence == "year":
        year = y if on >= date(y, 10, 1) else y - 1
        return f"{year}-05-01/{year}-09-30", f"{year}-season"
    if cadence != "half-year":
        raise InputError(f"cadence {cadence!r} is not half-year or year")
    if on >= date(y, 10, 1):
        return f"{y}-07-01/{y}-09-30", f"{y}-summer"
    if on >= date(y, 7, 1):
        return f"{y}-04-01/{y}-06-30", f"{y}-spring"
    return f"{y - 1}-07-01/{y - 1}-09-30", f"{y - 1}-summer"


def dieback_request(region: Region, on: date, baseline_years: int = 3) -> DetectDiebackRequest:
    """The ``detect_dieback`` request of ``region``'s run on ``on`` (recorded in the store)."""
    period, label = dieback_period(region.cadence, on)
    return DetectDiebackRequest(
        zones=region.zones,
        period=period,
        out=region.out_root / region.name / "dieback" / label,
        baseline_years=baseline_years,
        collection=region.collection,
        record=True,
    )


@flow(name="monitor_dieback")
def monitor_dieback(
    region: str,
    regions_file: Path = Path("infra/regions.yaml"),
    on: date | None = None,
    baseline_years: int = 3,
    settings: Settings | None = None,
) -> DetectDiebackResult:
    """Run ``detect_dieback`` for ``region`` of ``regions_file`` for the season due on
    ``on`` (None: today, UTC) against ``baseline_years`` earlier years."""
    regions = load_regions(regions_file)
    if region not in regions:
        raise InputError(
            f"region {region!r} is not in {regions_file} (it has {', '.join(sorted(regions))})"
        )
    request = dieback_request(regions[region], on or datetime.now(UTC).date(), baseline_years)
    get_run_logger().info("%s: dieback in %s into %s", region, request.period, request.out)
    return detect_dieback(request, settings)


__all__ = ["dieback_period", "dieback_request", "monitor_dieback"]
