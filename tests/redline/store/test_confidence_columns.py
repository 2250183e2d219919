"""The patch store keeps the integrated detector's ``confidence_level`` and ``evidence``
(schema 3), leaves them empty for other detectors, and upgrades a version-2 store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from shapely.geometry import LineString

from tests.fixtures.store import detections, make_store, raw_sql, run_info, square
from tiandi.redline.store.gpkg import GpkgPatchStore, PatchStore
from tiandi.redline.store.postgis import PostgisPatchStore
from tiandi.redline.store.queries import PatchQuery
from tiandi.redline.store.recording import record_detections
from tiandi.redline.store.schema import SCHEMA_TABLE, SCHEMA_VERSION


@pytest.fixture(params=["gpkg", "postgis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> PatchStore:
    return make_store(str(request.param), tmp_path, request)


def _reopen(store: PatchStore) -> PatchStore:
    if isinstance(store, GpkgPatchStore):
        return GpkgPatchStore(store.path)
    assert isinstance(store, PostgisPatchStore)
    return PostgisPatchStore(store.dsn, schema=store.schema)


def _graded(specs: list[tuple[str, int]]) -> object:
    frame = detections([(pid, square(i)) for pid, i in specs])
    frame["confidence_level"] = ["highest", "nominal"][: len(frame)]
    frame["evidence"] = ["network,bare_soil", "vegetation_loss"][: len(frame)]
    return frame


def test_levels_are_stored_and_other_detectors_leave_them_empty(store: PatchStore) -> None:
    record_detections(store, _graded([("P1", 1), ("P2", 2)]), None, run_info(1))
    record_detections(store, detections([("P3", square(3))]), None, run_info(2))
    got = store.list_patches().set_index("patch_id")
    assert got.loc["P1", "confidence_level"] == "highest"
    assert got.loc["P1", "evidence"] == "network,bare_soil"
    assert got.loc["P2", "confidence_level"] == "nominal"
    assert pd.isna(got.loc["P3", "confidence_level"]) and pd.isna(got.loc["P3", "evidence"])


def test_a_version_2_store_gains_the_columns(store: PatchStore) -> None:
    record_detections(store, detections([("P1", square(1))]), None, run_info(1))
    head = store.verify_audit().head_hash
    raw_sql(
        store,
        "ALTER TABLE patches DROP COLUMN confidence_level;"
        "ALTER TABLE patches DROP COLUMN evidence;"
        f"DELETE FROM {SCHEMA_TABLE};"
        f"INSERT INTO {SCHEMA_TABLE} (version, tiandi) VALUES (2, '0.x')",
    )
    old = _reopen(store)
    report = old.upgrade_schema()
    assert (report.before, report.after) == (2, SCHEMA_VERSION) == (2, 3)
    assert report.added == ("confidence_level", "evidence")
    patches = old.list_patches()
    assert patches["confidence_level"].isna().all()  # stored before: not recorded then
    assert old.verify_audit(expected_head=head).ok  # the upgrade touched no audit record
    record_detections(old, _graded([("P1", 1)]), None, run_info(2))  # the same patch again
    assert old.list_patches()["confidence_level"].tolist() == ["highest"]
    assert old.verify_audit().ok


def test_merge_and_split_keep_the_level_like_the_confidence(store: PatchStore) -> None:
    """The parts of a split keep the patch's level and evidence; a merge takes them from
    the largest original, as it takes ``confidence``."""
    record_detections(store, _graded([("P1", 1), ("P2", 2)]), None, run_info(1))
    eco = {"actor": "Li Wei", "role": "ecologist"}
    minx, miny, maxx, maxy = store.get("P1").geometry.bounds
    mid = (minx + maxx) / 2
    line = LineString([(mid, miny - 0.001), (mid, maxy + 0.001)])
    split = store.split("P1", store.version("P1"), line=line, **eco)
    parts = [store.get(uid).attributes for uid in split.created]
    assert len(parts) == 2
    assert {(p["confidence_level"], p["evidence"]) for p in parts} == {
        ("highest", "network,bare_soil")
    }
    versions = [(uid, store.version(uid)) for uid in (split.created[0], "P2")]
    (merged,) = store.merge(versions, reason="one clearing", **eco).created
    got = store.get(merged).attributes  # P2 (1 ha) is larger than half of P1
    assert (got["confidence_level"], got["evidence"]) == ("nominal", "vegetation_loss")


def test_sorting_by_level_pages_alike_on_both_backends(store: PatchStore) -> None:
    """``PatchQuery(sort="confidence_level")`` with the cursor, page by page (the SQL runs
    on SQLite and PostgreSQL): highest, nominal, then patches without a level."""
    record_detections(store, _graded([("P1", 1), ("P2", 2)]), None, run_info(1))
    record_detections(store, detections([("P3", square(3))]), None, run_info(2))
    seen: list[str] = []
    after = None
    while True:
        page = store.query_patches(PatchQuery(sort="confidence_level", limit=1, after=after))
        seen += [str(p.attributes["patch_id"]) for p in page.patches]
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == ["P1", "P2", "P3"]
