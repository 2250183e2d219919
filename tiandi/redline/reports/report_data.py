"""The facts of a run report (per run, optionally one zone): what the page shows.

:func:`build_report` reads the run folder (``summary.json``, ``patches.gpkg``, the
outputs' checksums through :class:`RunLayout`), the patch store when one is given
(lifecycle counts and rejection reasons of the run's patches) and an accuracy
assessment when one is given (the JSON of ``tiandi accuracy report``). Rendering lives in
:mod:`tiandi.redline.reports.report_html`, pictures in
:mod:`tiandi.redline.reports.report_images`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from tiandi import __version__
from tiandi.errors import InputError, NotFoundError
from tiandi.redline.field.answers import labelled_answers
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.store.gpkg import PatchStore
from tiandi.redline.store.queries import MAX_LIMIT, PatchQuery

#: The outputs whose SHA-256 the provenance lists (relative paths of the run folder).
CHECKSUMMED = (
    RunLayout.PATCHES,
    RunLayout.CHANGE_MASK,
    RunLayout.CHANGE_PROB,
    RunLayout.composite_name("before"),
    RunLayout.composite_name("after"),
    RunLayout.SUMMARY_JSON,
)


@dataclass(frozen=True)
class Lifecycle:
    """The store's view of the run's patches: count per state, rejection reasons, and
    the crew's answers on the ground (patch id, question, answer; labelled zh/en)."""

    by_state: dict[str, int]
    rejected: list[tuple[str, str]]  # (patch id, reason)
    answers: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class RunReport:
    """Everything a run (or zone) report shows; text is raw (escaped when rendered)."""

    run_id: str
    layout: RunLayout
    summary: dict[str, Any]
    patches: gpd.GeoDataFrame
    zone_id: str | None = None
    zone_name: str | None = None
    zones: gpd.GeoDataFrame | None = None
    lifecycle: Lifecycle | None = None
    accuracy: dict[str, Any] | None = None
    checksums: list[tuple[str, str, int]] = field(default_factory=list)
    software: str = f"tiandi {__version__}"


def read_summary(layout: RunLayout) -> dict[str, Any]:
    """The run's ``summary.json``; ``InputError`` naming the folder when absent or bad."""
    try:
        data = json.loads(layout.summary_json.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{layout.root} has no {layout.SUMMARY_JSON}; pass a detect-changes output folder"
        ) from None
    except ValueError as exc:
        raise InputError(f"{layout.summary_json} is not JSON ({exc}); re-run the run") from None
    if not isinstance(data, dict) or "after" not in data:
        raise InputError(f"{layout.summary_json} names no 'after' period; re-run the run")
    return data


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checksums(layout: RunLayout) -> list[tuple[str, str, int]]:
    out = []
    for name in CHECKSUMMED:
        path = layout.root / name
        if path.is_file():
            out.append((name, sha256(path), path.stat().st_size))
    return out


def _zones(summary: dict[str, Any]) -> gpd.GeoDataFrame | None:
    from tiandi.redline.zones.read import read_zones

    recorded = summary.get("zones_file")
    if not recorded or not Path(recorded).is_file():
        return None
    return read_zones(Path(recorded))


def _patches(layout: RunLayout) -> gpd.GeoDataFrame:
    if not layout.patches.is_file():
        raise InputError(f"{layout.root} has no {layout.PATCHES}; pass a detect-changes output")
    return gpd.read_file(layout.patches, layer="patches")


def _pick_zone(
    zone: str, patches: gpd.GeoDataFrame, zones: gpd.GeoDataFrame | None, run_id: str
) -> tuple[gpd.GeoDataFrame, str, gpd.GeoDataFrame | None]:
    mine = patches[patches["zone_id"].astype(str) == zone]
    in_zones = None if zones is None else zones[zones["zone_id"].astype(str) == zone]
    if mine.empty and (in_zones is None or in_zones.empty):
        known = sorted(set(patches["zone_id"].astype(str)))
        raise NotFoundError(
            f"zone {zone!r} is not in run {run_id!r} (its patches are in zones {known}); "
            "pass one of those zone ids"
        )
    name = str(mine["zone_name"].iloc[0]) if not mine.empty else ""
    if in_zones is not None and not in_zones.empty:
        name = name or str(in_zones["name"].iloc[0])
    return mine, name or zone, in_zones


def lifecycle(store: PatchStore, run_id: str, zone: str | None) -> Lifecycle:
    """Count per state of the run's patches in ``store`` and the reasons of rejections."""
    states: Counter[str] = Counter()
    ids: dict[str, str] = {}
    answers: list[tuple[str, str, str]] = []
    after: str | None = None
    while True:
        page = store.query_patches(
            PatchQuery(run_id=run_id, zone_id=zone, after=after, limit=MAX_LIMIT)
        )
        for p in page.patches:
            states[str(p.attributes.get("state") or "")] += 1
            ids[p.patch_uid] = str(p.attributes.get("patch_id") or p.patch_uid)
            answers += _answers(ids[p.patch_uid], p.attributes)
        if page.next_after is None:
            break
        after = page.next_after
    reasons = store.latest_reasons("reject")
    rejected = sorted((ids[uid], reasons[uid]) for uid in ids if uid in reasons)
    return Lifecycle(dict(sorted(states.items())), rejected, sorted(answers))


def _answers(patch_id: str, attributes: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(patch id, question, answer) of each answer on the ground a patch holds."""
    return [
        (patch_id, f"{a.question_zh} {a.question_en}", f"{a.value_zh} {a.value_en}")
        for a in labelled_answers(attributes)
    ]


def build_report(
    layout: RunLayout,
    *,
    zone: str | None = None,
    store: PatchStore | None = None,
    accuracy: dict[str, Any] | None = None,
) -> RunReport:
    """The report of the run in ``layout`` (only ``zone``'s patches when given)."""
    summary = read_summary(layout)
    run_id = layout.run_id(str(summary["after"]))
    patches = _patches(layout)
    zones = _zones(summary)
    name = None
    if zone is not None:
        patches, name, zones = _pick_zone(zone, patches, zones, run_id)
    known = store is not None and any(info.run_id == run_id for info, _ in store.runs())
    return RunReport(
        run_id=run_id,
        layout=layout,
        summary=summary,
        patches=patches,
        zone_id=zone,
        zone_name=name,
        zones=zones,
        lifecycle=lifecycle(store, run_id, zone) if store is not None and known else None,
        accuracy=accuracy,
        checksums=_checksums(layout),
    )


def table_by(patches: gpd.GeoDataFrame, column: str) -> pd.DataFrame:
    """Count, ha and 亩 per value of ``column`` (largest area first)."""
    if patches.empty:
        return pd.DataFrame(columns=[column, "n", "area_ha", "area_mu"])
    frame = pd.DataFrame(patches.drop(columns="geometry"))
    frame[column] = frame[column].fillna("").astype(str)
    return (
        frame.groupby(column)
        .agg(n=("patch_id", "count"), area_ha=("area_ha", "sum"), area_mu=("area_mu", "sum"))
        .reset_index()
        .sort_values(["area_ha", column], ascending=[False, True])
    )


def read_accuracy(path: Path) -> dict[str, Any]:
    """An accuracy report JSON (``tiandi accuracy report``); ``InputError`` when unusable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"accuracy report {path} cannot be read ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
        raise InputError(
            f"accuracy report {path} has no 'groups'; pass the .json written by "
            "`tiandi accuracy report`"
        )
    return data
