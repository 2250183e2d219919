"""The demo scene's vectors, from pixel coordinates to the vector CRS: the zones, the
stations and the truth of the planted events and disturbances (see :mod:`tiandi.demo.scene`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd

from tiandi.demo.scene_disturbances import DisturbancePlan
from tiandi.demo.scene_events import EventPlan
from tiandi.demo.scene_grid import CRS, RES, VECTOR_CRS, X0, Y0
from tiandi.demo.scene_io import write_gpkg, write_gpkg_layers
from tiandi.demo.scene_layout import REGION, Layout, to_map


def _frame(records: list[dict[str, Any]], geoms: list[Any]) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(records, geometry=[to_map(g, X0, Y0, RES) for g in geoms], crs=CRS)
    return frame.to_crs(VECTOR_CRS)


def write_vectors(
    root: Path, layout: Layout, plan: EventPlan, disturbances: DisturbancePlan | None
) -> None:
    """Write ``zones.gpkg``, ``stations.gpkg`` and ``truth.gpkg`` (layer "events", and
    "disturbances" when there are) into ``root``."""
    zones = _frame(
        [
            {
                "zone_id": z.zone_id,
                "name": z.name,
                "zone_type": z.zone_type,
                "level": z.level,
                "functional_zone": z.functional_zone,
                "region": REGION,
                "category": z.category,
            }
            for z in layout.zones
        ],
        [z.geometry for z in layout.zones],
    )
    write_gpkg(root / "zones.gpkg", zones, "zones")
    stations = _frame(
        [{"station_id": s.station_id, "name": s.name} for s in layout.stations],
        [s.geometry for s in layout.stations],
    )
    write_gpkg(root / "stations.gpkg", stations, "stations")
    write_gpkg_layers(root / "truth.gpkg", _truth_layers(plan, disturbances))


def _truth_layers(
    plan: EventPlan, disturbances: DisturbancePlan | None
) -> dict[str, gpd.GeoDataFrame]:
    """The layers of ``truth.gpkg``: "events", and "disturbances" when there are."""
    truth = _frame(
        [
            {
                "event_id": e.event_id,
                "kind": e.kind,
                "hj1156_class": e.hj1156_class,
                "change_type": "new",
                "date": e.date.isoformat(),
                "inside_zone": e.inside_zone,
                "zone_id": e.zone_id,
            }
            for e in plan.events
        ],
        [e.footprint for e in plan.events],
    )
    layers = {"events": truth}
    if disturbances is not None:
        planted = _frame(
            [
                {
                    "event_id": d.event_id,
                    "kind": d.kind,
                    "change_type": d.change_type,
                    "date": d.day.isoformat(),
                    "dates": ";".join(x.isoformat() for x in d.dates),
                    "inside_zone": True,
                    "zone_id": d.zone_id,
                    "n_px": len(d.index),
                    "spectra_source": d.source,
                }
                for d in disturbances.disturbances
            ],
            [d.footprint for d in disturbances.disturbances],
        )
        layers["disturbances"] = planted
    return layers
