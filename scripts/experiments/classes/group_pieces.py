"""Would merging nearby patches make one patch per event? Measured on demo runs.

Patches whose outlines lie within ``d`` metres of each other are grouped (single
linkage). Each patch is given the planted event it overlaps most, or none (a false
patch). For each ``d`` the script counts the groups that hold two events, the groups that
join an event's pieces with a false patch, and into how many groups each road and each
solar farm falls. Figures in docs/decisions.md ("HJ 1156 classes on real spectra")::

    PYTHONPATH=. .venv/bin/python scripts/experiments/classes/group_pieces.py \\
        OUT:SCENE [OUT:SCENE ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import geopandas as gpd
import shapely
from shapely.geometry.base import BaseGeometry

DISTANCES_M = (20.0, 50.0, 100.0, 150.0, 200.0)


def groups(geoms: list[BaseGeometry], d: float) -> list[int]:
    """Group label of each geometry: single linkage at distance ``d``."""
    parent = list(range(len(geoms)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    tree = shapely.STRtree(geoms)
    for i, g in enumerate(geoms):
        for j in tree.query(g, predicate="dwithin", distance=d):
            parent[root(i)] = root(int(j))
    return [root(i) for i in range(len(geoms))]


def event_of(patches: gpd.GeoDataFrame, truth: gpd.GeoDataFrame) -> list[str | None]:
    """``kind:event_id`` of the event each patch overlaps most, None for none."""
    out: list[str | None] = []
    for geom in patches.geometry.values:
        overlap = truth.intersection(geom).area
        best = int(overlap.argmax()) if len(overlap) else 0
        hit = len(overlap) and overlap.iloc[best] > 0
        out.append(f"{truth.kind.iloc[best]}:{truth.event_id.iloc[best]}" if hit else None)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="OUT:SCENE pairs (tiandi demo folders)")
    args = parser.parse_args()
    runs = []
    for pair in args.runs:
        out, scene = (Path(p) for p in pair.split(":", 1))
        patches = gpd.read_file(out / "patches.gpkg", layer="patches")
        patches = patches.to_crs(patches.estimate_utm_crs())
        truth = gpd.read_file(scene / "truth.gpkg", layer="events").to_crs(patches.crs)
        runs.append((list(patches.geometry.values), event_of(patches, truth)))
    for d in DISTANCES_M:
        mixed = joined = 0
        split: dict[str, list[int]] = {"road": [], "solar": []}
        for geoms, events in runs:
            label = groups(geoms, d)
            for g in set(label):
                members = [e for e, lab in zip(events, label, strict=True) if lab == g]
                found = {e for e in members if e}
                mixed += len(found) > 1
                joined += bool(found) and None in members
            for kind, counts in split.items():
                for ev in sorted({e for e in events if e and e.startswith(kind + ":")}):
                    counts.append(
                        len({lab for e, lab in zip(events, label, strict=True) if e == ev})
                    )
        print(
            f"d = {d:5.0f} m: groups with two events {mixed}, with a false patch {joined}; "
            f"groups per road {split['road']}, per solar farm {split['solar']}"
        )


if __name__ == "__main__":
    main()
