"""Patch identity across runs: overlap matching, one-to-one, growth, determinism."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import box

from tests.fixtures.store import X0, Y0, detections
from tiandi.errors import InputError
from tiandi.redline.store.identity import IdentityParams, match_patches, new_patch_uid


def _known(specs: list[tuple[str, object]], zone: str = "ZN-1") -> gpd.GeoDataFrame:
    frame = detections([(uid, geom) for uid, geom in specs], zone=zone)
    return frame.rename(columns={"patch_id": "patch_uid"}).to_crs("EPSG:4490")


def _b(x0: float, x1: float, y0: float = 0.0, y1: float = 100.0) -> object:
    return box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def test_a_grown_patch_keeps_its_uid_and_is_enlarged_a_shifted_one_is_not() -> None:
    known = _known([("PU-a", _b(0, 100)), ("PU-b", _b(500, 600))])
    found = detections([("TB-1", _b(0, 300)), ("TB-2", _b(503, 603))])
    a, b = match_patches(known, found, run_id="r2")
    assert (a.patch_uid, a.linked, a.change_type) == ("PU-a", True, "enlarged")
    assert a.previous_area_m2 == pytest.approx(10000.0) and a.area_m2 == pytest.approx(30000.0)
    assert (b.patch_uid, b.change_type) == ("PU-b", "new")  # same patch, no growth
    assert b.iou is not None and b.iou > 0.9


def test_split_keeps_identity_for_the_larger_part_merge_for_the_best_overlap() -> None:
    split = match_patches(
        _known([("PU-a", _b(0, 300))]),
        detections([("TB-small", _b(0, 80)), ("TB-large", _b(100, 300))]),
        run_id="r2",
    )
    by_pid = {m.index: m for m in split}
    assert by_pid[1].patch_uid == "PU-a" and not by_pid[0].linked
    assert by_pid[0].patch_uid == new_patch_uid("r2", "TB-small")
    merged = match_patches(
        _known([("PU-a", _b(0, 100)), ("PU-b", _b(100, 300))]),
        detections([("TB-m", _b(0, 300))]),
        run_id="r2",
    )
    assert [m.patch_uid for m in merged] == ["PU-b"]


def test_other_zone_or_a_small_overlap_gives_a_new_identity() -> None:
    known = _known([("PU-a", _b(0, 100))], zone="ZN-1")
    other_zone = match_patches(known, detections([("TB-1", _b(0, 100))], zone="ZN-2"), run_id="r")
    assert not other_zone[0].linked
    sliver = match_patches(known, detections([("TB-2", _b(80, 280))]), run_id="r")
    assert not sliver[0].linked  # 20 % of the smaller patch
    loose = match_patches(
        known, detections([("TB-2", _b(80, 280))]), run_id="r", params=IdentityParams(0.1)
    )
    assert loose[0].linked


def test_new_uids_are_deterministic_and_inputs_without_crs_are_refused() -> None:
    found = detections([("TB-1", _b(0, 100))])
    none = _known([("PU-x", _b(0, 10))]).iloc[0:0]
    first = match_patches(none, found, run_id="r1")
    assert first == match_patches(none, found, run_id="r1")
    assert first[0].patch_uid.startswith("PU-") and len(first[0].patch_uid) == 15
    with pytest.raises(InputError, match="no CRS"):
        match_patches(none, found.set_crs(None, allow_override=True), run_id="r")


def test_a_grown_disturbance_keeps_its_change_type() -> None:
    known = _known([("PU-fire", _b(0, 100))])
    found = detections([("TB-1", _b(0, 300))])
    found["change_type"], found["change_type_zh"] = "burned", "火烧迹地"
    (a,) = match_patches(known, found, run_id="r2")
    assert (a.patch_uid, a.linked, a.change_type) == ("PU-fire", True, "burned")
