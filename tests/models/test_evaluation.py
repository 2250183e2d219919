"""OSCD evaluation: arithmetic against hand-counted confusion matrices, and the CLI."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from typer.testing import CliRunner

from tests.fixtures.model import tiny_weights
from tests.fixtures.oscd import make_city, make_oscd
from tiandi.cli.app import app
from tiandi.errors import InputError
from tiandi.models.evaluation import evaluate_oscd, write_evaluation
from tiandi.models.oscd import LABEL_DIRS
from tiandi.models.siamese import RGBN_BANDS

H, W = 48, 40  # tests.fixtures.oscd default city size


def _write_label(root: Path, city: str, truth: np.ndarray) -> None:
    path = root / LABEL_DIRS[0] / city / "cm" / f"{city}-cm.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "r+") as dst:
            dst.write((truth + 1).astype(dst.dtypes[0]), 1)  # files hold 1/2


class PlannedDetector:
    """Predicts a fixed mask per city (read from the ``city`` attribute read_city sets)."""

    name = "planned"
    version = "1"
    bands = RGBN_BANDS

    def __init__(self, masks: dict[str, np.ndarray]) -> None:
        self.masks = masks

    def detect(self, before: xr.Dataset, after: xr.Dataset) -> xr.Dataset:
        mask = self.masks[before.attrs["city"]]
        return xr.Dataset({"change_mask": (("y", "x"), mask)})


@pytest.fixture
def planned(tmp_path: Path) -> tuple[Path, PlannedDetector]:
    root = tmp_path / "oscd"
    truth = np.zeros((H, W), dtype=np.uint8)
    truth[0:10, 0:10] = 1  # 100 change pixels in both cities
    for i, city in enumerate(("alpha", "beta")):
        make_city(root, city, seed=i)
        _write_label(root, city, truth)
    alpha = np.zeros((H, W), dtype=np.uint8)
    alpha[5:15, 0:10] = 1  # half on the truth
    alpha[H - 1, :] = 255  # one row of no data: not scored
    beta = np.zeros((H, W), dtype=np.uint8)  # predicts no change at all
    return root, PlannedDetector({"alpha": alpha, "beta": beta})


def test_scores_match_hand_counted_confusion_matrices(
    planned: tuple[Path, PlannedDetector],
) -> None:
    root, detector = planned
    result = evaluate_oscd(root, detector)
    alpha, beta = result.per_city["alpha"], result.per_city["beta"]
    # alpha: rows 5-9 hit (50), rows 10-14 false (50), rows 0-4 missed (50);
    # the rest of 48 x 40 minus the 40 no-data pixels is true negative
    assert (alpha.tp, alpha.fp, alpha.fn, alpha.tn) == (50, 50, 50, 1920 - 40 - 150)
    assert (alpha.precision, alpha.recall, alpha.f1) == (0.5, 0.5, 0.5)
    assert alpha.overall_accuracy == pytest.approx(1780 / 1880)
    assert (beta.tp, beta.fp, beta.fn, beta.tn) == (0, 0, 100, 1820)
    assert (beta.precision, beta.recall, beta.f1) == (0.0, 0.0, 0.0)  # zero division -> 0
    overall = result.overall  # summed over all pixels, not the mean of the cities
    assert (overall.tp, overall.fp, overall.fn, overall.tn) == (50, 50, 150, 3550)
    assert overall.precision == 0.5 and overall.recall == 0.25
    assert overall.f1 == pytest.approx(1 / 3)  # mean of city F1s would be 0.25
    assert overall.overall_accuracy == pytest.approx(3600 / 3800)
    figures = json.loads(write_evaluation(result, root / "e.json").read_text())
    assert figures["overall"]["f1"] == pytest.approx(1 / 3)
    assert figures["per_city"]["beta"]["fn"] == 100 and figures["cities"] == ["alpha", "beta"]


def test_cities_a_detector_chose_something_on_are_marked(
    planned: tuple[Path, PlannedDetector],
) -> None:
    root, detector = planned
    detector.chosen_on = ("beta", "elsewhere")  # type: ignore[attr-defined]
    result = evaluate_oscd(root, detector)
    assert result.chosen_on == ("beta",) and result.seen_in_training == ()
    assert result.as_dict()["per_city"]["beta"]["chosen_on"]
    assert not result.as_dict()["per_city"]["alpha"]["chosen_on"]


def test_the_integrated_detector_marks_the_cities_its_level_rule_was_chosen_on() -> None:
    from tiandi.models.evaluation import chosen_cities, training_cities
    from tiandi.models.evidence import RULE_CHOSEN_ON
    from tiandi.models.registry import load_detector

    detector = load_detector("integrated-high")
    chosen, trained = set(chosen_cities(detector)), set(training_cities(detector))
    assert set(RULE_CHOSEN_ON) <= chosen and not set(RULE_CHOSEN_ON) & trained
    assert len(chosen | trained) == 14  # every OSCD training city: none is a test figure


def test_unknown_city_is_an_input_error(planned: tuple[Path, PlannedDetector]) -> None:
    root, detector = planned
    with pytest.raises(InputError, match="zeta"):
        evaluate_oscd(root, detector, ["alpha", "zeta"])


def test_cli_evaluates_baseline_and_a_weights_file_and_writes_json(tmp_path: Path) -> None:
    root = make_oscd(tmp_path / "oscd")
    runner = CliRunner()
    out = tmp_path / "baseline.json"
    result = runner.invoke(
        app, ["evaluate", "oscd", "--root", str(root), "--model", "baseline", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "overall" in result.output and "alpha" in result.output
    figures = json.loads(out.read_text())
    assert figures["model"] == "baseline-cva" and figures["cities"] == ["alpha", "beta", "gamma"]
    assert figures["bands"] == ["B02", "B03", "B04", "B08", "B11", "B12"]
    for key in ("tp", "fp", "fn", "tn"):
        assert figures["overall"][key] == sum(c[key] for c in figures["per_city"].values())
    weights = tiny_weights(tmp_path / "w", train_cities=["alpha"], val_cities=["gamma"])
    out2 = tmp_path / "tiny.json"
    result = runner.invoke(
        app,
        ["evaluate", "oscd", "--root", str(root), "--cities", "alpha,gamma",
         "--model", str(weights), "--json", str(out2), "--threads", "1",
         "--precision", "float32"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "(network in float32)" in result.output
    figures = json.loads(out2.read_text())
    assert figures["model"] == "tiny-rgbn" and list(figures["per_city"]) == ["alpha", "gamma"]
    assert figures["seen_in_training"] == ["alpha"] and "training cities" in result.output
    assert figures["chosen_on"] == ["gamma"] and figures["per_city"]["gamma"]["chosen_on"]
    assert "chose this model's epoch" in result.output


def test_cli_bad_model_name_is_one_clear_error(tmp_path: Path) -> None:
    root = make_oscd(tmp_path / "oscd", ("alpha",))
    result = CliRunner().invoke(app, ["evaluate", "oscd", "--root", str(root), "--model", "nope"])
    assert result.exit_code == 2
    assert "unknown detector 'nope'" in result.output and "Traceback" not in result.output
    args = ["evaluate", "oscd", "--root", str(root), "--precision", "half"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "--precision 'half' is not one of" in result.output
