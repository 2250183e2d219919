"""The demo's disturbance runs and their scores against the planted disturbances.

After the human-activity run, ``tiandi demo --disturbances`` runs the disturbance flows on the
scene, each recording its patches in the same patch store, each in a folder of
``<out>/disturbances/``:

- ``burned``: ``detect_changes`` with the rule-based burned-area detector
  (:data:`BURN_DETECTOR`: RBR with a floor and a z-score, the parameters chosen on the
  California pairs) from August 2024 (:data:`BURN_BEFORE`) to August 2025
  (:data:`BURN_AFTER`): the composites of the same two days of the year, 10 and 30
  August, so that a burn must persist over the post-fire dates (as MCD64's persistent
  change, Giglio et al. 2018) and a brightening on one date alone (the thin edge of a
  cloud that SCL leaves unmasked) is halved by the median of two and falls below the
  unburned bound. A burn index compared across seasons, or between composites of other
  days of the year, maps phenology as burns (dNBR 0.02-0.05 on fields); and the learned
  ``burned-area`` detector, whose z-score is against the scene's own spread, maps the
  generated scene's pixel noise as burns, because the scene has far less spread than
  real land. Its
  mapping unit is the detector's own smallest burn (200 px, :data:`BURN_MMU_M2`): a
  burn cut by a zone's edge, or a cloud's edge on the one date, leaves smaller pieces;
- ``water``: ``detect_changes`` with the ``water`` detector, the reservoir's zone
  (:data:`~tiandi.demo.scene_disturbances.COASTAL_ZONE`) mapped as coastal. The demo has
  no sea: the reservoir and its rivers, which run to the edges of the scene, stand in for
  it; the sea needs at least :data:`SEA_MIN_PX` px (the detector's default, 10,000 px,
  is more water than the reservoir holds in scenes smaller than 2048 px);
- ``dieback``: ``detect_dieback`` over :data:`DIEBACK_PERIOD` against the scene's
  August 2024 acquisitions (one baseline year);
- ``blooms``: ``monitor_blooms`` over :data:`BLOOM_PERIOD` on the zones with a planted
  bloom (a zone without water would be refused by the flow).

:func:`score_disturbances` compares the patches of the four disturbance change types
with the "disturbances" layer of ``truth.gpkg``: a planted disturbance is *found* when a
patch of its change type intersects it (a bloom: a patch of its date). A patch of one of
those types that intersects no planted disturbance of its type is a *false alert* when it
lies where nothing was planted (no disturbance, no human-activity event of the "events"
layer), and is counted *on another change* otherwise: a quarry or a clearing loses its
vegetation as a burn or a dying stand does, and the spectral detectors map it too (the
review reclassifies such a patch; the demo shows how often it happens).
Water gain and loss are listed too: the demo plants no water change of its own, but its
aquaculture ponds are new water.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio

from tiandi.demo.scene_catalog import AFTER, BEFORE, DEMO_COLLECTION
from tiandi.demo.scene_disturbances import COASTAL_ZONE
from tiandi.flows.detect_changes import DetectChangesRequest, detect_changes
from tiandi.flows.detect_dieback import DetectDiebackRequest, detect_dieback
from tiandi.flows.monitor_blooms import MonitorBloomsRequest, monitor_blooms
from tiandi.redline.run_layout import RunLayout
from tiandi.settings import Settings

DISTURBANCE_DIR = "disturbances"
DIEBACK_PERIOD = "2025-08-01/2025-08-31"
BURN_BEFORE = "2024-08-05/2024-09-01"
BURN_AFTER = "2025-08-05/2025-09-01"
BURN_DETECTOR = "burned-rbr"
BURN_MMU_M2 = 20_000.0
BLOOM_PERIOD = "2025-07-01/2025-10-31"
SEA_MIN_PX = 1000
TYPES = ("burned", "dieback", "bloom", "reclamation")
WATER_TYPES = ("water_gain", "water_loss")
_PAGES = (RunLayout.SUMMARY_HTML, RunLayout.BLOOM_LEDGER, RunLayout.PATCHES)
"""What to open in a disturbance run's folder, first found first (the flows without a
page of their own leave their ledger or patches)."""


@dataclass(frozen=True)
class TypeScore:
    """Planted, found and falsely alerted disturbances of one change type."""

    change_type: str
    planted: int
    found: int
    false_alerts: int  # on nothing planted: neither a disturbance nor an event
    on_other: int  # on a planted disturbance of another type or a human-activity event
    patches: int

    @property
    def recall(self) -> float | None:
        """found / planted (None when nothing of this type was planted)."""
        return self.found / self.planted if self.planted else None


@dataclass(frozen=True)
class DisturbanceRuns:
    """The run folders, every disturbance patch (column ``run``) and the scores."""

    folders: dict[str, Path]
    patches: gpd.GeoDataFrame
    scores: tuple[TypeScore, ...]

    def score(self, change_type: str) -> TypeScore:
        """The score of ``change_type``."""
        return next(s for s in self.scores if s.change_type == change_type)


def read_planted(truth: Path) -> gpd.GeoDataFrame:
    """The "disturbances" layer of ``truth`` (empty when the scene has none)."""
    if "disturbances" not in pyogrio.list_layers(truth)[:, 0]:
        return gpd.GeoDataFrame(
            {"event_id": [], "change_type": [], "date": []}, geometry=[], crs="EPSG:4490"
        )
    return gpd.read_file(truth, layer="disturbances")


def _bloom_zones(scene_dir: Path, planted: gpd.GeoDataFrame, path: Path) -> Path:
    zones = gpd.read_file(scene_dir / "zones.gpkg", layer="zones")
    wanted = set(planted.loc[planted["change_type"] == "bloom", "zone_id"]) or {COASTAL_ZONE}
    path.parent.mkdir(parents=True, exist_ok=True)
    zones[zones["zone_id"].isin(wanted)].to_file(path, layer="zones", driver="GPKG")
    return path


def run_disturbances(
    settings: Settings,
    scene_dir: Path,
    out: Path,
    *,
    chunk: int,
    record: bool = True,
    collection: str = DEMO_COLLECTION,
) -> DisturbanceRuns:
    """Run the four disturbance flows on the demo scene (catalogued as ``collection``)
    into ``out/disturbances`` (module docstring) and score them; call inside a Prefect
    session."""
    root = Path(out) / DISTURBANCE_DIR
    zones, truth = scene_dir / "zones.gpkg", scene_dir / "truth.gpkg"
    planted = read_planted(truth)
    folders = {name: root / name for name in ("burned", "water", "dieback", "blooms")}
    run = _Run(settings, zones, folders, chunk, record, collection)
    patches = _change_runs(run)
    patches |= _state_runs(run, scene_dir, planted)
    joined = _joined(patches, planted.crs)
    events = gpd.read_file(truth, layer="events")
    return DisturbanceRuns(folders, joined, score_disturbances(joined, planted, events))


@dataclass(frozen=True)
class _Run:
    """What every disturbance flow of the demo is run with."""

    settings: Settings
    zones: Path
    folders: dict[str, Path]
    chunk: int
    record: bool
    collection: str


def _request(run: _Run, name: str, **options: Any) -> DetectChangesRequest:
    """The ``detect_changes`` request of the run ``name`` (its folder) with ``options``."""
    return DetectChangesRequest(
        zones=run.zones,
        out=run.folders[name],
        collection=run.collection,
        chunk=run.chunk,
        record=run.record,
        **options,
    )


def _change_runs(run: _Run) -> dict[str, gpd.GeoDataFrame]:
    """The patches of the two ``detect_changes`` runs: burned areas, then water."""
    requests = {
        "burned": _request(
            run,
            "burned",
            before=BURN_BEFORE,
            after=BURN_AFTER,
            detector=BURN_DETECTOR,
            min_mapping_unit_m2=BURN_MMU_M2,
        ),
        "water": _request(
            run,
            "water",
            before=BEFORE,
            after=AFTER,
            detector="water",
            coastal_zones=(COASTAL_ZONE,),
            sea_min_px=SEA_MIN_PX,
        ),
    }
    return {name: detect_changes(r, run.settings).patches for name, r in requests.items()}


def _state_runs(
    run: _Run, scene_dir: Path, planted: gpd.GeoDataFrame
) -> dict[str, gpd.GeoDataFrame]:
    """The patches of the dieback run, then of the bloom run on the zones of the planted
    blooms (written beside the run folders)."""
    dieback = detect_dieback(
        DetectDiebackRequest(
            zones=run.zones,
            period=DIEBACK_PERIOD,
            out=run.folders["dieback"],
            baseline_years=1,
            collection=run.collection,
            chunk=run.chunk,
            record=run.record,
        ),
        run.settings,
    )
    blooms = monitor_blooms(
        MonitorBloomsRequest(
            zones=_bloom_zones(
                scene_dir, planted, run.folders["blooms"].parent / "bloom_zones.gpkg"
            ),
            period=BLOOM_PERIOD,
            out=run.folders["blooms"],
            collection=run.collection,
            chunk=run.chunk,
            record=run.record,
        ),
        run.settings,
    )
    return {"dieback": dieback.patches, "blooms": blooms.patches}


def _joined(runs: dict[str, gpd.GeoDataFrame], crs: Any) -> gpd.GeoDataFrame:
    """Every run's patches in ``crs``, with the run's name in column ``run``."""
    frames = [p.to_crs(crs).assign(run=name) for name, p in runs.items() if len(p)]
    if not frames:
        return gpd.GeoDataFrame({"change_type": [], "run": []}, geometry=[], crs=crs)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=crs)


def _hits(patches: gpd.GeoDataFrame, planted: gpd.GeoDataFrame) -> tuple[set[int], set[int]]:
    """(positions of planted rows hit, positions of patches hitting) by intersection."""
    if not len(patches) or not len(planted):
        return set(), set()
    t, p = patches.reset_index(drop=True).sindex.query(
        planted.reset_index(drop=True).geometry.values, predicate="intersects"
    )
    return set(t.tolist()), set(p.tolist())


def score_disturbances(
    patches: gpd.GeoDataFrame, planted: gpd.GeoDataFrame, events: gpd.GeoDataFrame | None = None
) -> tuple[TypeScore, ...]:
    """Found / planted, false alerts and patches on other changes per disturbance change
    type (module docstring); ``patches`` need ``change_type`` (and ``bloom_date`` for
    blooms); ``events``: the human-activity truth; all in ``planted``'s CRS."""
    out = []
    for change_type in (*TYPES, *WATER_TYPES):
        mine = patches[patches["change_type"] == change_type].reset_index(drop=True)
        truth = planted[planted["change_type"] == change_type].reset_index(drop=True)
        if change_type == "bloom" and len(mine) and len(truth):
            found: set[int] = set()
            hitting: set[int] = set()
            for day in sorted(set(truth["date"].astype(str))):
                t_rows = truth.index[truth["date"].astype(str) == day]
                p_rows = mine.index[mine["bloom_date"].astype(str) == day]
                t_hit, p_hit = _hits(mine.loc[p_rows], truth.loc[t_rows])
                found |= {int(t_rows[i]) for i in t_hit}
                hitting |= {int(p_rows[i]) for i in p_hit}
        else:
            found, hitting = _hits(mine, truth)
        wrong = mine.drop(index=sorted(hitting)).reset_index(drop=True)
        others = [planted[planted["change_type"] != change_type]]
        if events is not None:
            others.append(events.to_crs(planted.crs))
        other = gpd.GeoDataFrame(pd.concat(others, ignore_index=True), crs=planted.crs)
        on_other = len(_hits(wrong, other)[1])
        out.append(
            TypeScore(
                change_type,
                len(truth),
                len(found),
                len(wrong) - on_other,
                on_other,
                len(mine),
            )
        )
    return tuple(out)


def print_disturbances(runs: DisturbanceRuns, console: Any) -> None:
    """The per-type table of the demo's end."""
    from rich.table import Table

    table = Table(title="Planted disturbances 生态扰动 (demo truth)")
    columns = ("change type", "found / planted", "false alerts", "on other changes", "patches")
    for column in columns:
        table.add_column(column, justify="left" if column == "change type" else "right")
    for s in runs.scores:
        planted = s.change_type in TYPES
        table.add_row(
            s.change_type,
            f"{s.found} / {s.planted}" if planted else "-",
            str(s.false_alerts) if planted else "-",
            str(s.on_other) if planted else "-",
            str(s.patches),
        )
    console.print(table)
    console.print(
        "found: a patch of the type intersects the planted footprint (blooms: on its date). "
        "false alerts: patches of the type where nothing was planted; on other changes: "
        "patches of the type on another planted disturbance or a human-activity event "
        "(a quarry loses its vegetation as a burn does). Water gain and loss are not "
        "planted (the aquaculture ponds' new water is a human-activity event)."
    )
    for name, page in disturbance_pages(runs).items():
        console.print(f"{name}: {page}")


def disturbance_pages(runs: DisturbanceRuns) -> dict[str, Path]:
    """The file to open of each disturbance run (its summary page, else its bloom ledger
    or patches, else its folder), by run name."""
    pages = {}
    for name, folder in runs.folders.items():
        opens = [folder / f for f in _PAGES if (folder / f).exists()][:1]
        pages[name] = opens[0] if opens else folder
    return pages
