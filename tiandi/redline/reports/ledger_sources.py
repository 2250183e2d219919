"""Where a ledger's patches come from (:func:`tiandi.redline.reports.ledger.build_ledger`
takes ``{period: patches}``): the patches of run folders, labelled by their period,
or the patch store, grouped by the period that detected each patch last.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tiandi.errors import InputError
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.store.gpkg import PatchStore
from tiandi.redline.store.lifecycle import PatchState


def run_period(run_dir: Path) -> str:
    """The period label of a detect_changes run: its after period, else the folder name."""
    import json

    summary = RunLayout(Path(run_dir)).summary_json
    if summary.is_file():
        try:
            after = json.loads(summary.read_text(encoding="utf-8")).get("after")
        except ValueError as exc:
            raise InputError(f"{summary} is not valid JSON ({exc}); re-run the flow") from exc
        if after:
            return str(after)
    return Path(run_dir).name


def read_run_patches(run_dir: Path) -> pd.DataFrame:
    """The ``patches`` layer of ``<run_dir>/patches.gpkg`` (attributes only)."""
    import pyogrio

    path = RunLayout(Path(run_dir)).patches
    if not path.is_file():
        raise InputError(
            f"run folder {run_dir} has no {RunLayout.PATCHES}; pass the output folder of "
            "'tiandi run detect-changes'"
        )
    try:
        return pd.DataFrame(pyogrio.read_dataframe(path, layer="patches", read_geometry=False))
    except Exception as exc:
        raise InputError(f"{path} cannot be read as a patches GeoPackage ({exc})") from exc


def store_periods(store: PatchStore) -> dict[str, pd.DataFrame]:
    """The patches of the patch store for :func:`build_ledger`, by period: the *after*
    period of the run that detected each patch last. Their lifecycle state and the crew's
    answers on the ground come along; the class is the reviewed one when set; patches
    replaced by a merge or split (``superseded``) are left out, their area is counted in
    the patches that replaced them."""
    frame = pd.DataFrame(store.list_patches().drop(columns="geometry"))
    frame = frame[frame["state"] != PatchState.SUPERSEDED.value]
    after = {info.run_id: info.period_after or info.run_id for info, _ in store.runs()}
    cls = frame["reviewed_class"].fillna(frame["hj1156_class"]).fillna("")
    frame = frame.assign(hj1156_class=cls)
    period = frame["last_run"].map(lambda r: after.get(str(r), str(r)))
    return {str(p): rows for p, rows in frame.groupby(period, sort=True)}
