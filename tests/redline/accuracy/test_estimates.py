"""Olofsson et al. (2014) sampling design and estimators, checked on the paper's example."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tiandi.errors import InputError
from tiandi.redline.accuracy.design import allocate, sample_size, stratified_random_sample
from tiandi.redline.accuracy.estimates import (
    AccuracyAssessment,
    ClassResult,
    Estimate,
    assess,
    error_matrix,
    estimate_areas,
)

# Section 5 of the paper, Table 8: rows are map classes, columns reference classes.
CLASSES = ["deforestation", "forest_gain", "stable_forest", "stable_nonforest"]
COUNTS = [[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]]
PIXELS = [200_000, 150_000, 3_200_000, 6_450_000]
HA = [p * 0.09 for p in PIXELS]  # 30 m Landsat pixels


def _pa(result: ClassResult) -> Estimate:
    assert result.producers is not None
    return result.producers


@pytest.fixture(scope="module")
def example() -> AccuracyAssessment:
    return assess(COUNTS, HA, classes=CLASSES)


def test_weights_and_error_matrix_in_area_proportions(example: AccuracyAssessment) -> None:
    assert [c.weight for c in example.per_class] == pytest.approx([0.02, 0.015, 0.32, 0.645])
    table9 = [
        [0.0176, 0.0000, 0.0013, 0.0011],
        [0.0000, 0.0110, 0.0016, 0.0024],
        [0.0019, 0.0000, 0.2967, 0.0213],
        [0.0040, 0.0020, 0.0179, 0.6212],
    ]
    assert np.round(example.proportions, 4).tolist() == table9
    assert sum(map(sum, example.proportions)) == pytest.approx(1.0)
    assert example.proportions[0][0] == pytest.approx(0.02 * 66 / 75)


def test_overall_users_and_producers_accuracy_match_the_paper(example: AccuracyAssessment) -> None:
    assert round(example.overall.value, 2) == 0.95
    assert round(example.overall.half_width, 2) == 0.02
    users = [(round(c.users.value, 2), round(c.users.half_width, 2)) for c in example.per_class]
    assert users == [(0.88, 0.07), (0.73, 0.10), (0.93, 0.04), (0.96, 0.02)]
    producers = [round(_pa(c).value, 2) for c in example.per_class]
    assert producers == [0.75, 0.85, 0.93, 0.96]
    assert round(_pa(example["deforestation"]).half_width, 2) == 0.21
    assert round(_pa(example["stable_forest"]).half_width, 2) == 0.03


def test_area_estimates_and_confidence_intervals_match_the_paper(
    example: AccuracyAssessment,
) -> None:
    printed = {  # ha, ± 95 % half width
        "deforestation": (21_158, 6_158),
        "forest_gain": (11_686, 3_756),
        "stable_forest": (285_770, 15_510),
        "stable_nonforest": (581_386, 16_282),
    }
    for name, (area, ci) in printed.items():
        got = example[name].area
        assert (round(got.value), round(got.half_width)) == (area, ci), name
    defo = example["deforestation"].area
    assert defo.ci_low == pytest.approx(21_158 - 6_158, abs=1)
    assert defo.ci_high == pytest.approx(21_158 + 6_158, abs=1)
    assert sum(c.area.value for c in example.per_class) == pytest.approx(sum(HA))
    assert example["deforestation"].mapped_area == pytest.approx(18_000)


def test_areas_come_back_in_the_unit_of_the_mapped_areas() -> None:
    in_pixels = assess(COUNTS, PIXELS, classes=CLASSES)["deforestation"].area
    assert round(in_pixels.value) == 235_086  # = 21,158 ha / 0.09 ha per pixel
    assert round(in_pixels.half_width) == 68_418


def test_producers_standard_error_is_eq7_written_out(example: AccuracyAssessment) -> None:
    n = np.array(COUNTS, dtype=float)
    big_n = np.array(HA)
    rows = n.sum(axis=1)
    for j, name in enumerate(CLASSES):
        nj_hat = sum(big_n[i] / rows[i] * n[i, j] for i in range(4))
        p_j = big_n[j] / rows[j] * n[j, j] / nj_hat
        u_j = n[j, j] / rows[j]
        t1 = big_n[j] ** 2 * (1 - p_j) ** 2 * u_j * (1 - u_j) / (rows[j] - 1)
        t2 = sum(
            big_n[i] ** 2 * n[i, j] / rows[i] * (1 - n[i, j] / rows[i]) / (rows[i] - 1)
            for i in range(4)
            if i != j
        )
        se = math.sqrt((t1 + p_j**2 * t2) / nj_hat**2)
        assert _pa(example[name]).value == pytest.approx(p_j, rel=1e-12)
        assert _pa(example[name]).se == pytest.approx(se, rel=1e-12)


def test_sample_size_from_target_standard_error_paper_example() -> None:
    # Section 5.1: W = (0.02, 0.015, 0.32, 0.645), U = (0.7, 0.6, 0.9, 0.95), S(O) = 0.01
    n = sample_size([0.02, 0.015, 0.32, 0.645], [0.70, 0.60, 0.90, 0.95], 0.01)
    assert n == 641
    # mapped areas work as weights too; a looser target needs fewer units
    assert sample_size(PIXELS, [0.70, 0.60, 0.90, 0.95], 0.01) == 641
    assert sample_size(PIXELS, [0.70, 0.60, 0.90, 0.95], 0.02) == 161


def test_allocation_sums_respects_minima_and_is_proportional_otherwise() -> None:
    w = [0.02, 0.015, 0.32, 0.645]
    for n, minimum in [(641, 50), (641, 100), (640, 75), (1000, 0)]:
        alloc = allocate(n, w, minimum=minimum)
        assert sum(alloc) == n
        assert all(a >= minimum for a in alloc)
    assert allocate(641, w, minimum=50) == (50, 50, 179, 362)
    assert allocate(640, w, minimum=75) == (75, 75, 162, 328)  # paper used 75/75/165/325
    assert allocate(1000, w, minimum=0) == (20, 15, 320, 645)
    assert allocate(300, [0.5, 0.0, 0.5], minimum=[100, 100, 50]) == (150, 0, 150)


def test_allocation_that_cannot_meet_the_minima_is_refused() -> None:
    with pytest.raises(InputError, match="minima need 200"):
        allocate(150, [0.25, 0.25, 0.25, 0.25], minimum=50)
    with pytest.raises(InputError, match="one per stratum"):
        allocate(150, [0.5, 0.5], minimum=[10, 10, 10])


def _strata() -> np.ndarray:
    grid = np.full((40, 50), 3, dtype=np.int16)
    grid[5:10, 5:15] = 1  # 50 px
    grid[20:30, 30:40] = 2  # 100 px
    grid[:, :2] = 0  # nodata
    return grid


TRANSFORM = (10.0, 0.0, 400_000.0, 0.0, -10.0, 4_460_000.0)


def test_stratified_sampling_is_deterministic_and_honours_the_allocation() -> None:
    grid = _strata()
    alloc = {1: 20, 2: 30, 3: 40}
    a = stratified_random_sample(grid, TRANSFORM, alloc, seed=7, nodata=0)
    b = stratified_random_sample(grid, TRANSFORM, alloc, seed=7, nodata=0)
    c = stratified_random_sample(grid, TRANSFORM, alloc, seed=8, nodata=0)
    assert a.records() == b.records()
    assert a.records() != c.records()
    assert len(a) == 90
    assert {s: int((a.stratum == s).sum()) for s in alloc} == alloc
    assert np.array_equal(grid[a.row, a.col], a.stratum)  # every point lies in its stratum
    assert not np.any(grid[a.row, a.col] == 0)
    assert len({(r, c) for r, c in zip(a.row, a.col, strict=True)}) == 90  # no repeats
    assert np.allclose(a.x, 400_000 + (a.col + 0.5) * 10)
    assert np.allclose(a.y, 4_460_000 - (a.row + 0.5) * 10)
    assert a.point_id[0] == "s1-0001" and a.point_id[-1] == "s3-0040"


def test_sampling_accepts_an_xarray_map_and_an_affine() -> None:
    xr = pytest.importorskip("xarray")
    affine = pytest.importorskip("affine")
    grid = _strata()
    da = xr.DataArray(grid, dims=("y", "x"))
    pts = stratified_random_sample(da, affine.Affine(*TRANSFORM), {2: 5}, seed=1)
    ref = stratified_random_sample(grid, TRANSFORM, {2: 5}, seed=1)
    assert pts.records() == ref.records()


def test_sampling_more_units_than_a_stratum_has_pixels_is_refused() -> None:
    with pytest.raises(InputError, match="stratum 1 has 50 pixels but 51"):
        stratified_random_sample(_strata(), TRANSFORM, {1: 51}, seed=0)
    with pytest.raises(InputError, match="stratum 9 has 0 pixels"):
        stratified_random_sample(_strata(), TRANSFORM, {9: 1}, seed=0)
    with pytest.raises(InputError, match="2-D integer raster"):
        stratified_random_sample(np.zeros((3, 3)), TRANSFORM, {0: 1}, seed=0)
    with pytest.raises(InputError, match="nodata"):
        stratified_random_sample(_strata(), TRANSFORM, {0: 1}, seed=0, nodata=0)


def test_error_matrix_from_sample_labels() -> None:
    m = error_matrix(["a", "a", "b", "b", "b"], ["a", "b", "b", "b", "a"], ["a", "b"])
    assert m.tolist() == [[1, 1], [1, 2]]
    with pytest.raises(InputError, match="'c' is not one of"):
        error_matrix(["a"], ["c"], ["a", "b"])


def test_area_estimation_with_a_buffer_stratum() -> None:
    # strata: change, buffer around change, no change; reference classes: change, no change
    counts = [[40, 10], [5, 45], [1, 99]]
    areas = [100.0, 400.0, 9500.0]
    res = estimate_areas(counts, areas, classes=["change", "no_change"])
    w = np.array(areas) / sum(areas)
    expected = w @ (np.array(counts) / np.array(counts).sum(axis=1, keepdims=True))
    assert [r.area_proportion.value for r in res] == pytest.approx(expected.tolist())
    assert res[0].area.value == pytest.approx(expected[0] * 10_000)
    var = sum(
        w[i] ** 2 * (c[0] / sum(c)) * (1 - c[0] / sum(c)) / (sum(c) - 1)
        for i, c in enumerate(counts)
    )
    assert res[0].area.se == pytest.approx(math.sqrt(var) * 10_000)
    # with strata = map classes it agrees with assess()
    same = estimate_areas(COUNTS, HA)
    ref = assess(COUNTS, HA)
    assert [s.area for s in same] == [c.area for c in ref.per_class]


def test_a_class_never_found_in_the_reference_has_no_producers_accuracy() -> None:
    res = assess([[10, 0], [3, 7]], [50.0, 50.0], classes=["x", "y"])
    assert res["y"].producers is not None
    res = assess([[10, 0, 0], [3, 7, 0], [2, 0, 5]], [40.0, 40.0, 20.0], classes=["x", "y", "z"])
    res2 = assess([[10, 0, 0], [3, 7, 0], [2, 5, 0]], [40.0, 40.0, 20.0], classes=["x", "y", "z"])
    assert res["z"].producers is not None
    assert res2["z"].producers is None
    assert res2["z"].users.value == 0.0


@pytest.mark.parametrize(
    ("counts", "areas", "needle"),
    [
        ([[66, 0], [0, 0]], [1.0, 1.0], "stratum 'b' has 0 sample units"),
        ([[66, 0], [1, 0]], [1.0, 1.0], "stratum 'b' has 1 sample units"),
        ([[1, 2, 3], [4, 5, 6]], [1.0, 1.0], "must be square"),
        ([[5, -1], [2, 3]], [1.0, 1.0], "non-negative whole"),
        ([[5, 1.5], [2, 3]], [1.0, 1.0], "non-negative whole"),
        ([[5, 1], [2, 3]], [1.0], "must be 2 positive numbers"),
        ([[5, 1], [2, 3]], [1.0, 0.0], "must be 2 positive numbers"),
    ],
)
def test_bad_estimation_input_is_a_clear_error(
    counts: list[list[float]], areas: list[float], needle: str
) -> None:
    with pytest.raises(InputError, match=needle):
        assess(counts, areas, classes=["a", "b"])


def test_bad_design_input_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="one value in"):
        sample_size([0.5, 0.5], [0.9], 0.01)
    with pytest.raises(InputError, match="one value in"):
        sample_size([0.5, 0.5], [0.9, 1.5], 0.01)
    with pytest.raises(InputError, match="target standard error"):
        sample_size([0.5, 0.5], [0.9, 0.9], 0)
    with pytest.raises(InputError, match="positive sum"):
        sample_size([0, 0], [0.9, 0.9], 0.01)
    with pytest.raises(InputError, match="z"):
        assess(COUNTS, HA, z=0)
