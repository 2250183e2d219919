"""The burned-area detector on tiny synthetic composites and fire folders."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine

from tests.fixtures.burned import BARE_COLS, BURN, ORIGIN, PIXEL_DEG, SIZE, write_fire, write_raster
from tiandi.errors import InputError, ModelError
from tiandi.models.base import ChangeDetector
from tiandi.models.burned import (
    SEVERITY_BREAKS,
    BurnedAreaDetector,
    BurnedAreaParams,
    evaluate_burned,
    read_fire,
    severity_class,
)
from tiandi.models.burned.detector import DNBR_PARAMS, burn_indices
from tiandi.models.registry import load_detector


def _composite(
    b04: float, b08: np.ndarray | float, b12: np.ndarray | float, shape=(30, 30)
) -> xr.Dataset:
    full = {name: np.broadcast_to(np.float32(v), shape).astype(np.float32)
            for name, v in (("B04", b04), ("B08", b08), ("B12", b12))}  # fmt: skip
    coords = {"y": np.arange(shape[0], 0, -1) * 20.0, "x": np.arange(shape[1]) * 20.0}
    return xr.Dataset({k: (("y", "x"), v) for k, v in full.items()}, coords=coords)


def test_severity_classes_at_key_and_benson_break_points() -> None:
    assert SEVERITY_BREAKS == (0.10, 0.27, 0.44, 0.66)
    values = [-0.5, 0.099, 0.10, 0.269, 0.27, 0.439, 0.44, 0.659, 0.66, 1.3, np.nan]
    expected = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 255]
    for dtype in (np.float64, np.float32):
        assert severity_class(np.array(values, dtype=dtype)).tolist() == expected


def test_burn_indices_dnbr_rbr_and_ndvi() -> None:
    arrays = [np.array([v], dtype=np.float32) for v in (0.05, 0.30, 0.10, 0.10, 0.25)]
    dnbr_stack = burn_indices(*arrays, index="dnbr")[0]
    rbr_stack = burn_indices(*arrays, index="rbr")[0]
    nbr_pre, nbr_post = 0.2 / 0.4, -0.15 / 0.35
    assert dnbr_stack[1] == pytest.approx(nbr_pre - nbr_post, abs=1e-6)
    assert rbr_stack[0] == pytest.approx((nbr_pre - nbr_post) / (nbr_pre + 1.001), abs=1e-6)
    assert dnbr_stack[2] == pytest.approx(0.25 / 0.35, abs=1e-6)  # NDVI of the pre period


def test_burn_scar_found_with_severity_and_unvegetated_land_masked() -> None:
    shape = (60, 60)  # the scene threshold assumes most vegetated land did not burn
    post_b08 = np.full(shape, 0.30, dtype=np.float32)
    post_b12 = np.full(shape, 0.10, dtype=np.float32)
    post_b08[5:20, 5:20], post_b12[5:20, 5:20] = 0.10, 0.25  # dNBR 0.93: high severity
    before = _composite(0.05, 0.30, 0.10, shape)
    before["B04"][:, 50:] = 0.30  # bare before (NDVI 0): cannot burn
    post_b08[:, 50:], post_b12[:, 50:] = 0.10, 0.25
    after = _composite(0.05, post_b08, post_b12, shape)
    out = BurnedAreaDetector().detect(before, after)
    mask, severity = out["change_mask"].values, out["severity"].values
    assert mask[5:20, 5:20].all() and severity[5:20, 5:20].tolist() == [[4] * 15] * 15
    assert not mask[:, 50:].any() and not severity[:, 50:].any()
    # the mean of the index reaches smooth_px // 2 pixels past a sharp edge, no further
    r = BurnedAreaDetector().params.smooth_px // 2
    near = np.zeros(shape, dtype=bool)
    near[5 - r : 20 + r, 5 - r : 20 + r] = True
    near[:, 50 - r : 50] = True
    assert not mask[~near].any()
    assert out["change_prob"].values[10, 10] > 0.99 and out["change_prob"].values[40, 30] < 0.5
    assert out.attrs["change_type"] == "burned"


def test_no_data_gives_255_and_nan_never_zero() -> None:
    before = _composite(0.05, 0.30, 0.10)
    after = _composite(0.05, 0.30, 0.10)
    after["B12"][:3, :] = np.nan  # a NaN border of the post chip
    before["B04"][10, 10] = np.nan
    out = BurnedAreaDetector().detect(before, after)
    for layer in ("change_mask", "severity"):
        values = out[layer].values
        assert (values[:3] == 255).all() and values[10, 10] == 255
        assert (values[3:10] == 0).all()
    assert np.isnan(out["change_prob"].values[:3]).all()


def test_burned_pixels_below_low_bound_are_low_severity() -> None:
    shape = (30, 30)
    post_b08 = np.full(shape, 0.30, dtype=np.float32)
    post_b08[:, :15] = 0.27  # dNBR ~0.05: burned by a floor of 0.03, below K&B's 0.1
    params = BurnedAreaParams(index="dnbr", z=None, floor=0.03, smooth_px=1, min_pixels=1)
    out = BurnedAreaDetector(params).detect(
        _composite(0.05, 0.30, 0.10, shape), _composite(0.05, post_b08, 0.10, shape)
    )
    assert out["change_mask"].values[:, :15].all()
    assert (out["severity"].values[:, :15] == 1).all() and not out["severity"].values[:, 15:].any()


def test_lazy_inputs_stay_lazy_and_match_eager() -> None:
    shape = (40, 40)
    post_b08 = np.full(shape, 0.30, dtype=np.float32)
    post_b08[8:30, 8:30] = 0.12
    before, after = _composite(0.05, 0.30, 0.10, shape), _composite(0.05, post_b08, 0.25, shape)
    eager = BurnedAreaDetector().detect(before, after)
    lazy = BurnedAreaDetector().detect(before.chunk(20), after.chunk(20))
    assert isinstance(lazy["change_mask"].data, da.Array)
    np.testing.assert_array_equal(lazy["change_mask"].values, eager["change_mask"].values)
    np.testing.assert_array_equal(lazy["severity"].values, eager["severity"].values)


def test_missing_band_is_a_clear_input_error() -> None:
    before = _composite(0.05, 0.30, 0.10).drop_vars("B12")
    with pytest.raises(
        InputError, match=r"before composite lacks band\(s\) B12.*needs B04, B08, B12"
    ):
        BurnedAreaDetector().detect(before, _composite(0.05, 0.30, 0.10))


def test_composites_on_different_grids_are_refused() -> None:
    with pytest.raises(InputError, match="not on the same grid"):
        BurnedAreaDetector().detect(
            _composite(0.05, 0.3, 0.1), _composite(0.05, 0.3, 0.1, (20, 30))
        )


def test_load_detector_resolves_burned_names() -> None:
    detector = load_detector("burned-rbr")  # burned-area is the learned one since v0.1
    assert isinstance(detector, BurnedAreaDetector) and isinstance(detector, ChangeDetector)
    assert detector.name == "burned-rbr" and detector.bands == ("B04", "B08", "B12")
    assert detector.params == BurnedAreaParams()
    reference = load_detector("burned-dnbr")
    assert isinstance(reference, BurnedAreaDetector) and reference.params == DNBR_PARAMS
    with pytest.raises(ModelError, match="burned-area"):
        load_detector("no-such-detector")


def test_burned_detectors_ask_their_composites_for_the_single_date_cloud_margin() -> None:
    """A burn between the same days of two years rests on one or two dates a side: the
    flow masks a 90 m cloud margin for them (docs/decisions.md, "The real-spectra scene
    by default"), and the composites' own dilation for every other detector."""
    from tiandi.models.base import CLOUD_MARGIN_PX, cloud_margin_px

    for name in ("burned-rbr", "burned-dnbr", "burned-area"):
        assert cloud_margin_px(load_detector(name)) == CLOUD_MARGIN_PX == 9, name
    assert cloud_margin_px(load_detector("baseline")) is None


def test_params_are_validated() -> None:
    with pytest.raises(InputError, match="smooth_px"):
        BurnedAreaParams(smooth_px=2)
    with pytest.raises(InputError, match="index"):
        BurnedAreaParams(index="nbr")  # type: ignore[arg-type]


# --- fire folders: alignment by georeference ---------------------------------------------

EXACT = BurnedAreaDetector(BurnedAreaParams(smooth_px=1))
"""No smoothing: a sharp synthetic scar is then found to the pixel."""


def test_fire_on_one_grid_scores_perfectly(tmp_path: Path) -> None:
    write_fire(tmp_path / "fire_a")
    evaluation = evaluate_burned(tmp_path, EXACT)
    cm = evaluation.per_fire["fire_a"]
    assert cm.f1 == 1.0 and cm.tp == 400 and cm.total == SIZE * SIZE
    assert evaluation.notes["fire_a"] == ()


def test_shifted_and_wider_pre_chip_is_aligned_by_coordinates(tmp_path: Path) -> None:
    # pre starts 3 rows above and 5 columns left of the mask and is larger; post is smaller
    write_fire(tmp_path / "f", pre_window=(-3, -5, SIZE + 7, SIZE + 12), post_window=(2, 0, 30, 38))
    pair = read_fire(tmp_path, "f")
    assert pair.before["B08"].shape == (SIZE, SIZE) == pair.label.shape
    with rasterio.open(tmp_path / "f" / "pre.tif") as src:
        raw = src.read(4)
    np.testing.assert_allclose(pair.before["B08"].values, raw[3 : 3 + SIZE, 5 : 5 + SIZE] / 1e4)
    post = pair.after["B08"].values
    assert np.isnan(post[:2]).all() and np.isnan(post[32:]).all() and np.isnan(post[:, 38:]).all()
    assert np.isfinite(post[2:32, :38]).all()
    assert any("pre.tif" in note and "by georeference" in note for note in pair.notes)
    cm = evaluate_burned(tmp_path, EXACT).per_fire["f"]
    assert cm.f1 == 1.0 and cm.total == 30 * 38  # uncovered pixels are not scored


def test_chip_at_another_resolution_is_resampled_onto_the_mask_grid(tmp_path: Path) -> None:
    write_fire(tmp_path / "f")
    coarse = np.repeat(np.repeat(np.full((5, 20, 20), 1000.0), 1, 1), 1, 2)
    transform = Affine(2 * PIXEL_DEG, 0, ORIGIN[0], 0, -2 * PIXEL_DEG, ORIGIN[1])
    write_raster(tmp_path / "f" / "pre.tif", coarse, transform)
    pair = read_fire(tmp_path, "f")
    assert pair.before["B08"].shape == (SIZE, SIZE)
    np.testing.assert_allclose(pair.before["B08"].values, 0.1)
    assert any("resampled bilinear" in note for note in pair.notes)


def test_non_overlapping_chip_is_a_clear_error(tmp_path: Path) -> None:
    write_fire(tmp_path / "f", pre_window=(500, 500, SIZE, SIZE))
    with pytest.raises(InputError, match=r"fire 'f'.*pre\.tif.*does not overlap mask\.tif"):
        read_fire(tmp_path, "f")


def test_missing_pre_file_names_the_file_and_what_to_do(tmp_path: Path) -> None:
    write_fire(tmp_path / "f")
    (tmp_path / "f" / "pre.tif").unlink()
    with pytest.raises(InputError, match=r"pre\.tif is missing; each fire folder needs pre\.tif"):
        evaluate_burned(tmp_path, EXACT)


def test_chip_without_band_names_or_five_bands_is_refused(tmp_path: Path) -> None:
    write_fire(tmp_path / "f")
    transform = Affine(PIXEL_DEG, 0, ORIGIN[0], 0, -PIXEL_DEG, ORIGIN[1])
    write_raster(
        tmp_path / "f" / "post.tif", np.ones((3, SIZE, SIZE)), transform, descriptions=None
    )
    with pytest.raises(InputError, match=r"post\.tif: band 1 has no Sentinel-2 band description"):
        read_fire(tmp_path, "f")


def test_mask_with_other_values_is_refused(tmp_path: Path) -> None:
    write_fire(tmp_path / "f")
    transform = Affine(PIXEL_DEG, 0, ORIGIN[0], 0, -PIXEL_DEG, ORIGIN[1])
    write_raster(tmp_path / "f" / "mask.tif", np.full((1, SIZE, SIZE), 7, np.uint8), transform)
    with pytest.raises(InputError, match=r"mask\.tif holds values \[7\]"):
        read_fire(tmp_path, "f")


def test_nan_border_is_not_scored(tmp_path: Path) -> None:
    write_fire(tmp_path / "f", nan_rows=4)
    pair = read_fire(tmp_path, "f")
    out = EXACT.detect(pair.before, pair.after)
    assert (out["change_mask"].values[:4] == 255).all()
    cm = evaluate_burned(tmp_path, EXACT).per_fire["f"]
    assert cm.total == (SIZE - 4) * SIZE and cm.f1 == 1.0
    assert not (out["change_mask"].values[:, BARE_COLS] == 1).any()
    assert out["severity"].values[BURN].min() == 4


def test_fires_the_detector_was_fitted_on_are_marked_and_summed_apart(tmp_path: Path) -> None:
    write_fire(tmp_path / "KENNETH_20250109")  # a fire DEFAULT_PARAMS were chosen on
    write_fire(tmp_path / "other", pre_window=(-2, 3, 45, 45))
    chosen = BurnedAreaDetector(name="burned-rbr")  # DEFAULT_PARAMS: chosen on the 7 pairs
    evaluation = evaluate_burned(tmp_path, chosen)
    assert evaluation.fitted_on == ("KENNETH_20250109",)
    assert evaluation.unseen == ("other",)
    unseen = evaluation.overall_unseen
    assert unseen is not None and unseen.tp == evaluation.per_fire["other"].tp
    doc = evaluation.as_dict()
    assert doc["fitted_on"] == ["KENNETH_20250109"]
    assert doc["overall_unseen"]["tp"] == evaluation.per_fire["other"].tp
    assert evaluate_burned(tmp_path, EXACT).fitted_on == ()  # other params: chosen on nothing
    learned = load_detector("burned-area")
    assert "DOVE_20241019" in learned.fitted_on  # type: ignore[attr-defined]
