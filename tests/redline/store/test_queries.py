"""Filtered, paged queries, versions and statistics: the same assertions on both backends."""

from __future__ import annotations

import threading

import pytest

from tests.fixtures.service import fill_store
from tests.fixtures.store import make_store
from tiandi.errors import ConflictError, InputError, NotFoundError
from tiandi.redline.store.gpkg import PatchStore
from tiandi.redline.store.queries import PatchQuery


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> PatchStore:
    """One filled store per backend for the module: tests that write touch only ZN-2's
    patches, and only the assertions on ZN-2 do not depend on those writes."""
    made = make_store(str(request.param), tmp_path_factory.mktemp("queries"), request)
    fill_store(made)
    return made


def _ids(store: PatchStore, **kw: object) -> list[str]:
    page = store.query_patches(PatchQuery(**kw))  # type: ignore[arg-type]
    return sorted(str(p.attributes["patch_id"]) for p in page.patches)


def test_filters_match_on_both_backends(store: PatchStore) -> None:
    assert _ids(store, zone_id="ZN-2") == ["TB-z0", "TB-z1", "TB-z2"]
    assert _ids(store, run_id="run-2") == ["TB-z0", "TB-z1", "TB-z2"]
    assert _ids(store, hj1156_class="energy") == ["TB-03", "TB-04"]
    assert _ids(store, state="rejected") == ["TB-x"]
    assert _ids(store, zone_id="x' OR '1'='1") == []
    minx, miny, maxx, maxy = store.get("TB-00").geometry.bounds
    assert _ids(store, bbox=(minx, miny, maxx, maxy)) == ["TB-00"]


def test_pages_are_stable_and_end(store: PatchStore) -> None:
    seen, after = [], None
    while True:
        page = store.query_patches(PatchQuery(limit=4, after=after))
        seen += [p.patch_uid for p in page.patches]
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == sorted(seen) and len(seen) == 16
    assert store.query_patches(PatchQuery(after=seen[-1])).patches == ()


def test_bad_queries_name_the_filter(store: PatchStore) -> None:
    for query, words in (
        (PatchQuery(state="done"), "state 'done'"),
        (PatchQuery(limit=0), "limit 0"),
        (PatchQuery(bbox=(1.0, 1.0, 0.0, 0.0)), "min > max"),
    ):
        with pytest.raises(InputError, match=words):
            store.query_patches(query)


def test_version_guards_a_transition(store: PatchStore) -> None:
    version = store.version("TB-z0")
    assert version == 2  # detected once, screened once
    accept = {"actor": "e", "role": "ecologist", "hj1156_class": "energy"}
    with pytest.raises(ConflictError, match="version 2, not 1") as caught:
        store.transition("TB-z0", "reviewed_accepted", expected_version=1, **accept)
    assert caught.value.current_version == 2 and store.version("TB-z0") == 2
    store.transition("TB-z0", "reviewed_accepted", expected_version=2, **accept)
    assert store.version("TB-z0") == 3


def test_zones_stats_and_head(store: PatchStore) -> None:
    assert [(z.zone_id, z.patches) for z in store.zones()] == [("ZN-1", 13), ("ZN-2", 3)]
    rows = {(r.hj1156_class, r.state): r.count for r in store.zone_stats("ZN-1")}
    assert rows == {
        ("energy", "screened"): 2,
        ("mining", "screened"): 10,
        ("mining", "rejected"): 1,
    }
    assert store.zone_stats("nope") == []
    seq, digest = store.audit_head()
    assert seq == len(store.audit_records()) and store.verify_audit(expected_head=digest).ok


def test_two_decisions_on_the_same_version_apply_once(store: PatchStore) -> None:
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(cls: str) -> None:
        barrier.wait()
        try:
            store.transition(
                "TB-z1",
                "reviewed_accepted",
                actor=f"ecologist {cls}",
                role="ecologist",
                hj1156_class=cls,
                expected_version=2,
            )
            outcomes.append("applied")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=decide, args=(c,)) for c in ("mining", "energy")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["applied", "conflict"]
    assert len(store.history("TB-z1")) == 2 and store.verify_audit().ok


def test_changes_since_a_run_on_both_backends(store: PatchStore) -> None:
    first = store.changes_since("run-1", after=None, limit=2)
    rest = store.changes_since("run-1", after=first.next_after, limit=2)
    rows = [*first.patches, *rest.patches]
    assert rest.next_after is None and len(rows) == 3
    assert {(r.attributes["patch_id"], r.attributes["change"]) for r in rows} == {
        ("TB-z0", "created"),
        ("TB-z1", "created"),
        ("TB-z2", "created"),
    }
    assert all(r.version >= 2 and not r.geometry.is_empty for r in rows)
    with pytest.raises(NotFoundError, match="run 'run-9' is not recorded"):
        store.changes_since("run-9", after=None, limit=10)
