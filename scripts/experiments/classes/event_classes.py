"""HJ 1156 class right per found event, from demo runs; optionally re-classified offline.

For each planted event inside the zones that a patch intersects, the patch overlapping it
most (areas in the patches' UTM zone) is compared with the event's ``hj1156_class``; the
per-patch figure is the demo summary's ``class_accuracy`` (every patch on an event against
the event it overlaps most). With ``--reclassify`` the stored patches are classified again
by :func:`tiandi.redline.patches.classify_landcover.classify_patch_landcover` from their
stored means and land-cover probabilities (the flow's last step; the shape comes from the
stored geometry), so a rule change can be measured without re-running the detector.
``--show`` lists the patches whose class is wrong with their shape and means. Figures
in docs/decisions.md ("HJ 1156 classes on real spectra")::

    PYTHONPATH=. .venv/bin/python scripts/experiments/classes/event_classes.py \\
        OUT:SCENE [OUT:SCENE ...] [--reclassify] [--show]

``OUT`` is a ``tiandi demo --out`` folder, ``SCENE`` the scene folder the demo printed
(``<home>/demo/scene-<size>-seed<seed>[-real]``).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import geopandas as gpd

from tiandi.models.landcover import LANDCOVER_CLASSES
from tiandi.redline.patches.classify import BAND_NAMES, INDEX_NAMES, ShapeMetrics
from tiandi.redline.patches.classify_landcover import classify_patch_landcover


def _value(row: object, name: str) -> float:
    value = row.get(name, math.nan)  # type: ignore[attr-defined]  # a pandas row
    return float(value) if value is not None else math.nan


def reclassify(patches: gpd.GeoDataFrame) -> list[str]:
    """The class of each stored patch by today's rules (patches in a projected CRS)."""
    out = []
    for _, row in patches.iterrows():
        names = (*INDEX_NAMES, *BAND_NAMES)
        before = {n: _value(row, f"before_{n.lower()}") for n in names}
        after = {n: _value(row, f"after_{n.lower()}") for n in names}
        b_lc = {c: _value(row, f"before_prob_{c}") for c in LANDCOVER_CLASSES}
        a_lc = {c: _value(row, f"after_prob_{c}") for c in LANDCOVER_CLASSES}
        shape = ShapeMetrics.from_geometry(row.geometry)
        out.append(classify_patch_landcover(b_lc, a_lc, before, after, shape)[0].value)
    return out


def score(out: Path, scene: Path, *, again: bool, show: bool) -> tuple[int, int, int, int]:
    """(events right, events found, patches right, patches on an event)."""
    patches = gpd.read_file(out / "patches.gpkg", layer="patches")
    patches = patches.to_crs(patches.estimate_utm_crs())
    if again:
        patches["hj1156_class"] = reclassify(patches)
    zones = gpd.read_file(scene / "zones.gpkg").to_crs(patches.crs)
    truth = gpd.read_file(scene / "truth.gpkg", layer="events").to_crs(patches.crs)
    truth = truth[truth.intersects(zones.union_all())]
    ev_ok = ev_n = p_ok = p_n = 0
    for _, ev in truth.iterrows():
        hit = patches[patches.intersects(ev.geometry)]
        if len(hit):
            best = hit.loc[hit.intersection(ev.geometry).area.idxmax()]
            ev_n += 1
            ev_ok += int(best.hj1156_class == ev.hj1156_class)
    for _, row in patches.iterrows():
        overlap = truth.intersection(row.geometry).area
        if len(overlap) and overlap.max() > 0:
            ref = truth.iloc[int(overlap.argmax())]
            p_n += 1
            right = row.hj1156_class == ref.hj1156_class
            p_ok += int(right)
            if show and not right:
                s = ShapeMetrics.from_geometry(row.geometry)
                vis = (row.after_b02 + row.after_b03 + row.after_b04) / 3
                print(
                    f"  {ref.kind:12s} -> {row.hj1156_class:12s} {row.area_ha:5.2f} ha "
                    f"width {s.width_m:4.1f} aspect {s.aspect:5.1f} elong {s.elongation:4.1f} "
                    f"NDVI {row.after_ndvi:.2f} vis {vis:.3f} B08 {row.after_b08:.3f} "
                    f"B11 {row.after_b11:.3f} built {row.after_prob_built:.2f} "
                    f"cropland {row.after_prob_cropland:.2f}"
                )
    return ev_ok, ev_n, p_ok, p_n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="OUT:SCENE pairs")
    parser.add_argument("--reclassify", action="store_true")
    parser.add_argument("--show", action="store_true")
    args = parser.parse_args()
    totals = [0, 0, 0, 0]
    for pair in args.runs:
        out, scene = (Path(p) for p in pair.split(":", 1))
        got = score(out, scene, again=args.reclassify, show=args.show)
        totals = [t + g for t, g in zip(totals, got, strict=True)]
        print(f"{out.name}: events {got[0]}/{got[1]}, patches {got[2]}/{got[3]}")
    ev_ok, ev_n, p_ok, p_n = totals
    print(
        f"all: class right for {ev_ok} of {ev_n} found events ({ev_ok / max(ev_n, 1):.2f}), "
        f"{p_ok} of {p_n} patches on an event ({p_ok / max(p_n, 1):.2f})"
    )


if __name__ == "__main__":
    main()
