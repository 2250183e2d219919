"""HJ 1156 class per found event of a demo run: for every planted event inside a zone, the
patch that overlaps it most; the event's class is right when that patch carries it.

    PYTHONPATH=. python scripts/demo_event_classes.py demo-out \
        <home>/demo/scene-2048-seed0-real-disturbances

The run's summary gives the class accuracy of the patches on an event; this counts events
(a road found as three pieces counts once, by its largest overlap).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import geopandas as gpd

from tiandi.redline.run_layout import RunLayout


def event_classes(run: Path, scene: Path) -> gpd.GeoDataFrame:
    """One row per planted event inside a zone: ``event_id, kind, hj1156_class, found,
    patch_class, right`` (``patch_class`` of the patch overlapping it most)."""
    events = gpd.read_file(scene / "truth.gpkg", layer="events")
    events = events[events["inside_zone"].astype(bool)].reset_index(drop=True)
    patches = gpd.read_file(RunLayout(run).patches, layer="patches")
    crs = events.estimate_utm_crs()
    events, patches = events.to_crs(crs), patches.to_crs(crs)
    found, classes = [], []
    for geom in events.geometry:
        overlap = patches.geometry.intersection(geom).area
        best = overlap.idxmax() if len(overlap) and overlap.max() > 0 else None
        found.append(best is not None)
        classes.append(None if best is None else str(patches.loc[best, "hj1156_class"]))
    out = events[["event_id", "kind", "hj1156_class"]].copy()
    out["found"] = found
    out["patch_class"] = classes
    out["right"] = out["patch_class"] == out["hj1156_class"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the demo's output folder (demo-out)")
    parser.add_argument("scene", type=Path, help="the scene folder it ran on")
    args = parser.parse_args()
    table = event_classes(args.run, args.scene)
    print(table.to_string(index=False))
    n_found = int(table["found"].sum())
    print(
        f"found {n_found} / {len(table)} events in zones; "
        f"class right for {int(table['right'].sum())} / {n_found} found events"
    )


if __name__ == "__main__":
    main()
