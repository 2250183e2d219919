"""The ``monitor_zones`` Prefect flow: a scheduled ``detect_changes`` run for one region.

The monitoring rules: national nature reserves every half year, provincial reserves and
ecological red-line zones every year. A region (zones file, verification stations,
collection, detector, where its runs go) is described once in a small YAML file,
``infra/regions.yaml`` by default::

    out_root: var/monitoring          # runs go to <out_root>/<region>/<period label>
    regions:
      national-reserves:
        kind: national_reserve        # national_reserve | provincial_reserve | redline
        zones: data/zones/national-reserves.gpkg
        stations: data/stations.gpkg  # optional
        collection: sentinel-2-l2a    # optional (this default)
        detector: baseline            # optional (this default)

Relative paths are read from the flow run's working directory (the checkout the
deployments were made from). ``prefect.yaml`` has one deployment per region,
``monitor_zones/<region>``, scheduled by the region's kind; each run compares the last
complete period with the one before it (:func:`monitoring_periods`), records its patches
in the patch store of the settings and writes ``<out_root>/<region>/<label>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml
from prefect import flow, get_run_logger

from tiandi.errors import InputError
from tiandi.flows.detect_changes import DetectChangesRequest, DetectChangesResult, detect_changes
from tiandi.models.names import DEFAULT_DETECTOR
from tiandi.settings import Settings

#: How often each kind of region is monitored.
CADENCE = {"national_reserve": "half-year", "provincial_reserve": "year", "redline": "year"}


@dataclass(frozen=True)
class Region:
    """One monitored region of the regions file."""

    name: str
    kind: str
    zones: Path
    out_root: Path
    stations: Path | None = None
    collection: str = "sentinel-2-l2a"
    detector: str = DEFAULT_DETECTOR

    @property
    def cadence(self) -> str:
        """``half-year`` or ``year`` (:data:`CADENCE`)."""
        return CADENCE[self.kind]


def _region(name: str, entry: Any, out_root: Path, source: Path) -> Region:
    if not isinstance(entry, dict) or "zones" not in entry or "kind" not in entry:
        raise InputError(f"regions file {source}: region {name!r} needs `kind` and `zones`")
    if entry["kind"] not in CADENCE:
        raise InputError(
            f"regions file {source}: region {name!r} has kind {entry['kind']!r}; use one of "
            f"{', '.join(CADENCE)}"
        )
    unknown = set(entry) - {"kind", "zones", "stations", "collection", "detector"}
    if unknown:
        raise InputError(f"regions file {source}: region {name!r} has unknown keys {unknown}")
    stations = entry.get("stations")
    return Region(
        name,
        str(entry["kind"]),
        Path(entry["zones"]),
        out_root,
        Path(stations) if stations else None,
        str(entry.get("collection", "sentinel-2-l2a")),
        str(entry.get("detector", DEFAULT_DETECTOR)),
    )


def load_regions(path: Path) -> dict[str, Region]:
    """The regions of the YAML file ``path``; ``InputError`` naming what is wrong."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"regions file {path} cannot be read as YAML ({exc}); fix it") from exc
    if not isinstance(data, dict) or not isinstance(data.get("regions"), dict):
        raise InputError(f"regions file {path} needs a `regions:` mapping of name to region")
    out_root = Path(data.get("out_root", "var/monitoring"))
    return {str(n): _region(str(n), e, out_root, path) for n, e in data["regions"].items()}


def monitoring_periods(cadence: str, on: date) -> tuple[str, str, str]:
    """``(before, after, label)``: the last complete period before ``on`` and the one
    before it (half-years: Jan–Jun, Jul–Dec; years), and the label of the later one."""
    if cadence == "year":
        y = on.year - 1
        return f"{y - 1}-01-01/{y - 1}-12-31", f"{y}-01-01/{y}-12-31", str(y)
    if cadence != "half-year":
        raise InputError(f"cadence {cadence!r} is not half-year or year")
    halves = [(y, h) for y in (on.year - 2, on.year - 1, on.year) for h in (1, 2)]
    current = halves.index((on.year, 1 if on.month <= 6 else 2))
    (yb, hb), (ya, ha) = halves[current - 2], halves[current - 1]

    def span(y: int, h: int) -> str:
        return f"{y}-01-01/{y}-06-30" if h == 1 else f"{y}-07-01/{y}-12-31"

    return span(yb, hb), span(ya, ha), f"{ya}H{ha}"


def region_request(region: Region, on: date) -> DetectChangesRequest:
    """The ``detect_changes`` request of ``region``'s run on ``on`` (recorded in the store)."""
    before, after, label = monitoring_periods(region.cadence, on)
    return DetectChangesRequest(
        zones=region.zones,
        before=before,
        after=after,
        out=region.out_root / region.name / label,
        stations=region.stations,
        collection=region.collection,
        detector=region.detector,
        record=True,
    )


@flow(name="monitor_zones")
def monitor_zones(
    region: str,
    regions_file: Path = Path("infra/regions.yaml"),
    on: date | None = None,
    settings: Settings | None = None,
) -> DetectChangesResult:
    """Run ``detect_changes`` for ``region`` of ``regions_file`` for the periods due on
    ``on`` (None: today, UTC)."""
    regions = load_regions(regions_file)
    if region not in regions:
        raise InputError(
            f"region {region!r} is not in {regions_file} (it has {', '.join(sorted(regions))})"
        )
    request = region_request(regions[region], on or datetime.now(UTC).date())
    get_run_logger().info(
        "%s: %s -> %s into %s", region, request.before, request.after, request.out
    )
    return detect_changes(request, settings)


__all__ = ["CADENCE", "Region", "load_regions", "monitor_zones", "monitoring_periods"]
