"""Merge and split of patches: the same assertions on both backends (GeoPackage, PostGIS)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import LineString, box

from tests.fixtures.service import fill_store
from tests.fixtures.store import detections, make_store, run_info, square
from tiandi.errors import ConflictError, InputError, LifecycleError
from tiandi.redline.store.gpkg import PatchStore
from tiandi.redline.store.recording import record_detections

ECO = {"actor": "Li Wei (ecologist)", "role": "ecologist"}


@pytest.fixture(params=["gpkg", "postgis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> PatchStore:
    made = make_store(str(request.param), tmp_path, request)
    fill_store(made)
    return made


def _snapshot(store: PatchStore) -> Any:
    frame = store.list_patches()
    return store.audit_head(), sorted(zip(frame["patch_uid"], frame["state"], strict=True))


def _uid(store: PatchStore, key: str) -> str:
    return store.get(key).patch_uid


def test_merge_makes_one_patch_and_supersedes_the_originals(store: PatchStore) -> None:
    a, b = _uid(store, "TB-00"), _uid(store, "TB-01")
    result = store.merge([("TB-00", 2), ("TB-01", 2)], reason="one quarry", **ECO)
    (new,) = result.created
    assert result.kind == "merge" and result.originals == (a, b)
    merged = store.get(new)
    assert merged.status.state.value == "screened" and merged.attributes["zone_id"] == "ZN-1"
    assert merged.attributes["area_m2"] == pytest.approx(20_000, rel=0.01)  # two 1-ha squares
    assert merged.attributes["area_ha"] == pytest.approx(2.0, rel=0.01)
    assert merged.attributes["area_mu"] == pytest.approx(30.0, rel=0.01)
    assert merged.attributes["last_run"] == "run-1" and store.version(new) == 1
    assert len(merged.geometry.geoms) == 2  # the squares do not touch: two parts
    for uid in (a, b):
        last = store.history(uid)[-1]
        assert (last.target.value, last.name, last.actor) == (
            "superseded",
            "supersede",
            ECO["actor"],
        )
        assert last.reason == f"merged into {new}: one quarry"
    (origin,) = store.history(new)
    assert (origin.source.value, origin.target.value) == ("detected", "screened")
    assert origin.reason is not None and f"{a} (version 2)" in origin.reason and b in origin.reason
    (link,) = [r for r in store.audit_records(subject=new) if r.action == "merge"]
    assert link.payload["from"] == [{"patch_uid": a, "version": 2}, {"patch_uid": b, "version": 2}]
    assert link.payload["into"] == [new] and link.actor == ECO["actor"]
    assert store.verify_audit().ok


def test_a_stale_or_forbidden_merge_writes_nothing(store: PatchStore) -> None:
    before = _snapshot(store)
    with pytest.raises(ConflictError, match="version 2, not 1") as caught:
        store.merge([("TB-00", 2), ("TB-01", 1)], reason="r", **ECO)
    assert caught.value.current_version == 2
    with pytest.raises(LifecycleError, match="rejected"):
        store.merge([("TB-00", 2), ("TB-x", 2)], reason="r", **ECO)
    with pytest.raises(InputError, match="one zone"):
        store.merge([("TB-00", 2), ("TB-z0", 2)], reason="r", **ECO)
    with pytest.raises(InputError, match="twice"):
        store.merge([("TB-00", 2), ("TB-00", 2)], reason="r", **ECO)
    with pytest.raises(InputError, match="reason"):
        store.merge([("TB-00", 2), ("TB-01", 2)], reason=" ", **ECO)
    with pytest.raises(InputError, match="hj1156_class 'rock'"):
        store.merge([("TB-00", 2), ("TB-01", 2)], reason="r", hj1156_class="rock", **ECO)
    assert _snapshot(store) == before


def _crossing(store: PatchStore, key: str) -> LineString:
    minx, miny, maxx, maxy = store.get(key).geometry.bounds
    mid = (minx + maxx) / 2
    return LineString([(mid, miny - 0.001), (mid, maxy + 0.001)])


def test_split_by_a_line_makes_parts_that_keep_the_area(store: PatchStore) -> None:
    original = store.get("TB-02")
    result = store.split("TB-02", 2, line=_crossing(store, "TB-02"), **ECO)
    assert result.kind == "split" and result.originals == (original.patch_uid,)
    parts = [store.get(uid) for uid in result.created]
    assert len(parts) == 2
    total = sum(float(p.attributes["area_m2"]) for p in parts)
    assert total == pytest.approx(float(original.attributes["area_m2"]), rel=0.01)
    for part in parts:
        assert part.status.state.value == "screened"
        assert part.attributes["area_ha"] == pytest.approx(0.5, rel=0.02)
        assert part.attributes["hj1156_class"] == "mining" and part.attributes["zone_id"] == "ZN-1"
        assert original.patch_uid in (store.history(part.patch_uid)[0].reason or "")
    superseded = store.get("TB-02")
    assert superseded.status.state.value == "superseded"
    assert all(uid in (store.history("TB-02")[-1].reason or "") for uid in result.created)
    assert store.verify_audit().ok


def test_split_into_parts_and_bad_splits(store: PatchStore) -> None:
    minx, miny, maxx, maxy = store.get("TB-03").geometry.bounds
    mid = (minx + maxx) / 2
    west, east = box(minx, miny, mid, maxy), box(mid, miny, maxx, maxy)
    before = _snapshot(store)
    with pytest.raises(ConflictError):
        store.split("TB-03", 9, parts=[west, east], **ECO)
    with pytest.raises(InputError, match="overlap"):
        store.split("TB-03", 2, parts=[west, box(minx, miny, maxx, maxy)], **ECO)
    with pytest.raises(InputError, match="does not cut"):
        store.split("TB-03", 2, line=LineString([(0, 0), (1, 1)]), **ECO)
    with pytest.raises(InputError, match="does not lie on"):
        store.split("TB-03", 2, parts=[west, box(0, 0, 1, 1)], **ECO)
    assert _snapshot(store) == before
    result = store.split("TB-03", 2, parts=[west, east], reason="two ponds", **ECO)
    classes = {store.get(uid).attributes["hj1156_class"] for uid in result.created}
    assert len(result.created) == 2 and classes == {"energy"}
    with pytest.raises(LifecycleError, match="superseded"):
        store.split("TB-03", store.version("TB-03"), parts=[west, east], **ECO)


def test_a_later_detection_links_to_the_merged_patch_not_the_superseded(
    store: PatchStore,
) -> None:
    result = store.merge([("TB-00", 2), ("TB-01", 2)], reason="one quarry", **ECO)
    again = detections([("TB-n0", square(0))], zone="ZN-1")
    later = run_info(3)
    later = type(later)(**{**vars(later), "at": later.at + timedelta(days=1)})
    summary = record_detections(store, again, None, later)
    assert (summary.new, summary.linked) == (0, 1)
    assert store.detections(result.created[0])[0]["patch_id"] == "TB-n0"
    assert store.get("TB-00").status.state.value == "superseded"
