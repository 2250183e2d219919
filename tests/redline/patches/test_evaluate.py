"""Patch-level scores against known events."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from shapely.geometry import box

from tests.fixtures.redline import Scene, scene_box, zones_utm
from tiandi.errors import InputError
from tiandi.redline.patches.evaluate import PatchScores, patch_scores, write_patches
from tiandi.redline.patches.extract import extract_patches

CRS = "EPSG:32650"


def _frame(rows: list[dict[str, object]], crs: str = CRS) -> gpd.GeoDataFrame:
    geoms = [r.pop("geometry") for r in rows]
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=crs)


ZONES = _frame([{"zone_id": "Z1", "geometry": box(0, 0, 100, 100)}])
TRUTH = _frame(
    [
        {"kind": "quarry", "hj1156_class": "mining", "geometry": box(10, 10, 20, 20)},
        {"kind": "road", "hj1156_class": "transport", "geometry": box(40, 10, 42, 90)},
        {"kind": "solar", "hj1156_class": "energy", "geometry": box(60, 60, 70, 70)},
        {"kind": "quarry", "hj1156_class": "mining", "geometry": box(200, 200, 210, 210)},
    ]
)


def test_scores_count_only_events_inside_zones() -> None:
    patches = _frame(
        [
            {"hj1156_class": "mining", "geometry": box(12, 12, 18, 18)},  # quarry, right class
            {"hj1156_class": "industry", "geometry": box(39, 40, 43, 60)},  # road, wrong class
            {"hj1156_class": "other", "geometry": box(80, 80, 90, 90)},  # false alarm
        ]
    )
    scores = patch_scores(patches, TRUTH, ZONES)
    assert scores.n_truth == 3  # the quarry at (200, 200) is outside the zone
    assert scores.n_patches == 3 and scores.n_correct == 2 and scores.n_found == 2
    assert scores.precision == pytest.approx(2 / 3, abs=1e-4)
    assert scores.recall == pytest.approx(2 / 3, abs=1e-4)
    assert scores.f1 == pytest.approx(2 / 3, abs=1e-4)
    assert scores.recall_by_kind == {"quarry": 1.0, "road": 1.0, "solar": 0.0}
    assert scores.n_truth_by_kind == {"quarry": 1, "road": 1, "solar": 1}
    assert scores.class_accuracy == 0.5
    assert scores.class_accuracy_by_class == {"mining": 1.0, "transport": 0.0}


def test_a_patch_on_a_planted_disturbance_is_a_change_found_reported_apart() -> None:
    burn = _frame([{"change_type": "burned", "geometry": box(80, 80, 95, 95)}])
    patches = _frame(
        [
            {"hj1156_class": "mining", "geometry": box(12, 12, 18, 18)},  # quarry
            {"hj1156_class": "other", "geometry": box(82, 82, 90, 90)},  # on the burn
            {"hj1156_class": "other", "geometry": box(60, 20, 65, 25)},  # on nothing
        ]
    )
    scores = patch_scores(patches, TRUTH, ZONES, other_changes=burn)
    assert scores.n_correct == 1 and scores.n_on_other == 1
    assert scores.precision == pytest.approx(2 / 3, abs=1e-4)
    assert scores.precision_events_only == pytest.approx(1 / 3, abs=1e-4)
    assert scores.recall == pytest.approx(1 / 3, abs=1e-4)  # recall is the events'
    plain = patch_scores(patches, TRUTH, ZONES)
    assert plain.precision == pytest.approx(1 / 3, abs=1e-4) and plain.n_on_other == 0
    assert plain.precision_events_only is None


def test_reference_class_is_the_most_overlapped_event() -> None:
    two = box(15, 15, 20, 20).union(box(55, 55, 75, 75))  # 25 m² of quarry, 100 m² of solar
    patches = _frame([{"hj1156_class": "energy", "geometry": two}])
    scores = patch_scores(patches, TRUTH, ZONES)
    assert scores.class_accuracy_by_class == {"energy": 1.0}


def test_truth_in_another_crs_is_reprojected() -> None:
    patches = _frame(
        [{"hj1156_class": "mining", "geometry": box(400010, 4459910, 400020, 4459920)}]
    )
    zones = _frame([{"zone_id": "Z", "geometry": box(400000, 4459900, 400100, 4460000)}])
    truth = _frame(
        [
            {
                "kind": "quarry",
                "hj1156_class": "mining",
                "geometry": box(400012, 4459912, 400018, 4459918),
            }
        ]
    ).to_crs("EPSG:4490")
    scores = patch_scores(patches, truth, zones.to_crs("EPSG:4527"))
    assert (scores.precision, scores.recall, scores.class_accuracy) == (1.0, 1.0, 1.0)


def test_no_patches_score_zero_without_dividing_by_zero() -> None:
    scores = patch_scores(_frame([]), TRUTH, ZONES)
    assert (scores.precision, scores.recall, scores.f1, scores.n_patches) == (0.0, 0.0, 0.0, 0)
    assert scores.recall_by_kind == {"quarry": 0.0, "road": 0.0, "solar": 0.0}


def test_scores_are_frozen() -> None:
    scores = patch_scores(_frame([]), TRUTH, ZONES)
    assert isinstance(scores, PatchScores)
    with pytest.raises(dataclasses.FrozenInstanceError):
        scores.precision = 1.0  # type: ignore[misc]


def test_truth_without_kind_raises_input_error() -> None:
    with pytest.raises(InputError, match="kind"):
        patch_scores(_frame([]), TRUTH.drop(columns="kind"), ZONES)


def test_frames_without_crs_raise_input_error() -> None:
    with pytest.raises(InputError, match="zones have no CRS"):
        patch_scores(_frame([]), TRUTH, ZONES.set_crs(None, allow_override=True))


def test_extracted_patches_score_perfectly_against_what_was_planted(tmp_path: Path) -> None:
    scene = Scene()
    planted = {
        "quarry": (slice(5, 15), slice(5, 15), "mining"),
        "solar": (slice(28, 40), slice(10, 22), "energy"),
        "aquaculture": (slice(45, 55), slice(5, 15), "aquaculture"),
    }
    rows = []
    for kind, (r, c, cls) in planted.items():
        scene.plant(r, c, kind)
        rows.append({"kind": kind, "hj1156_class": cls, "geometry": box(*scene.bounds_of(r, c))})
    change, before, after = scene.datasets()
    zones = zones_utm(scene_box())
    patches = extract_patches(change, before, after, zones)
    scores = patch_scores(patches, _frame(rows).to_crs("EPSG:4490"), zones)
    assert (scores.precision, scores.recall, scores.class_accuracy) == (1.0, 1.0, 1.0)
    path = write_patches(patches, tmp_path / "patches.gpkg")
    assert pyogrio.read_info(path, layer="patches")["features"] == 3
