"""City-wise cross-validation of the change detector on a tiny synthetic OSCD folder:
fold assignment, out-of-fold scoring, pooled choice, the final model and its card."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.fixtures.oscd import make_oscd
from tiandi.errors import InputError
from tiandi.models.evaluation import evaluate_oscd
from tiandi.models.metrics import ConfusionMatrix, sum_confusion
from tiandi.models.siamese_detector import SiameseDetector
from tiandi.models.training_config import THRESHOLDS, TrainConfig
from tiandi.models.training_cv import CvSummary, assign_folds, train_cv
from tiandi.models.training_cv_probabilities import probability_path
from tiandi.models.training_data import load_city_arrays
from tiandi.models.training_scores import score_probabilities

CV = TrainConfig(
    val_cities=(),
    test_cities=(),
    cv_folds=2,
    patch_size=16,
    batch_size=2,
    epochs=2,
    steps_per_epoch=2,
    base_channels=4,
    depth=2,
    seed=2,
    num_threads=1,
    normalisation="per_image",
)


def test_folds_are_balanced_by_changed_pixels_and_fixed() -> None:
    counts = {"a": 50, "b": 40, "c": 30, "d": 20, "e": 10, "f": 10}
    # largest first into the fold with the least change so far (lowest fold on ties)
    assert assign_folds(counts, 2) == [["a", "d", "e"], ["b", "c", "f"]]
    assert assign_folds(counts, 3) == [["a", "f"], ["b", "e"], ["c", "d"]]
    assert assign_folds(dict(reversed(counts.items())), 3) == assign_folds(counts, 3)
    with pytest.raises(InputError, match="folds"):
        assign_folds({"a": 1, "b": 2}, 3)


def test_cross_validation_needs_no_validation_or_test_cities() -> None:
    with pytest.raises(InputError, match="leave val_cities and test_cities empty"):
        replace(CV, val_cities=("alpha",))
    with pytest.raises(InputError, match="cv_folds"):
        replace(CV, cv_folds=1)


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A 2-fold CV on three tiny cities plus the final model: (root, weights, run log)."""
    tmp = tmp_path_factory.mktemp("cv")
    root = make_oscd(tmp / "oscd")
    other = tmp / "other.cv.json"
    train_cv(root, tmp / "other.pt", replace(CV, normalisation="dataset"), cv_only=True)
    out, log = tmp / "w" / "m.pt", tmp / "w" / "m.train-log.jsonl"
    train_cv(root, out, CV, name="tiny", version="9", command="cmd", log_path=log,
             compare=[tmp / "other.cv.json"])  # fmt: skip
    assert other.is_file() and not (tmp / "other.pt").exists()  # cv_only: no weights
    return root, out, log


def test_no_city_is_scored_by_a_fold_that_trained_on_it(cv_run: tuple[Path, Path, Path]) -> None:
    _, _, log = cv_run
    events = [json.loads(line) for line in log.read_text().splitlines()]
    folds = next(e for e in events if e["event"] == "cv_folds")
    assert (
        folds["folds"] == assign_folds(folds["change_pixels"], 2) == [["alpha", "gamma"], ["beta"]]
    )
    trained = {e["fold"]: set(e["train"]) for e in events if e["event"] == "cv_fold"}
    assert trained == {0: {"beta"}, 1: {"alpha", "gamma"}}
    scored = [e for e in events if e["event"] == "epoch" and e["stage"] == "cv"]
    assert [(e["fold"], e["epoch"]) for e in scored] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    for e in scored:
        assert set(e["cv_counts"]) == {f"{t:.2f}" for t in THRESHOLDS}
        for per_city in e["cv_counts"].values():
            assert set(per_city) == set(folds["folds"][e["fold"]])
            assert not set(per_city) & trained[e["fold"]]
    final = [e for e in events if e["event"] == "epoch" and e["stage"] == "final"]
    choice = next(e for e in events if e["event"] == "cv_choice")
    assert len(final) == choice["epoch"]


def test_epoch_and_threshold_are_chosen_on_the_pooled_out_of_fold_confusion(
    cv_run: tuple[Path, Path, Path],
) -> None:
    _, out, log = cv_run
    events = [json.loads(line) for line in log.read_text().splitlines()]
    pooled: dict[tuple[int, str], ConfusionMatrix] = {}
    for e in events:
        if e["event"] == "epoch" and e["stage"] == "cv":
            for t, per_city in e["cv_counts"].items():
                for tp, fp, fn, tn in per_city.values():
                    cm = ConfusionMatrix(tp=tp, fp=fp, fn=fn, tn=tn)
                    key = (e["epoch"], t)
                    pooled[key] = pooled[key] + cm if key in pooled else cm
    best = max(pooled, key=lambda k: (pooled[k].f1, -k[0], -float(k[1])))
    summary = CvSummary.read(out.with_suffix(".cv.json"))
    assert (summary.epoch, f"{summary.threshold:.2f}") == best
    assert summary.overall == pooled[best]
    assert set(summary.per_city) == {"alpha", "beta", "gamma"}


def test_final_card_lists_folds_out_of_fold_figures_and_compared_configs(
    cv_run: tuple[Path, Path, Path],
) -> None:
    root, out, _ = cv_run
    detector = SiameseDetector(out)
    card, summary = detector.card, CvSummary.read(out.with_suffix(".cv.json"))
    assert detector.normalisation == "per_image"
    assert detector.threshold == summary.threshold == card.metrics["threshold"]
    data = card.training_data
    assert data["train_cities"] == data["val_cities"] == ["alpha", "beta", "gamma"]
    assert data["cv_folds"] == ["fold 1: alpha, gamma", "fold 2: beta"]
    assert card.metrics["scored_on"] == "cross-validation"
    assert card.metrics["best_epoch"] == card.training["epochs_run"] == summary.epoch
    overall = sum_confusion(
        ConfusionMatrix(**{k: m[k] for k in ("tp", "fp", "fn", "tn")})
        for m in card.metrics["per_city"].values()
    )
    assert card.metrics["overall"]["f1"] == pytest.approx(overall.f1)
    compared = card.metrics["configs_compared"]
    assert compared[0].startswith("this model: normalisation per_image")
    assert compared[1].startswith("other.cv.json: normalisation dataset")
    assert "CV F1" in compared[1]
    assert "L2A" in card.notes[0] and "per_image" in card.notes[0]
    markdown = out.with_suffix(".md").read_text()
    assert "fold 1: alpha, gamma; fold 2: beta" in markdown and "cmd" in markdown
    # every city took part in training and in the choice: evaluation marks all of them
    evaluation = evaluate_oscd(root, detector, ["beta"])
    assert evaluation.seen_in_training == ("beta",) and evaluation.chosen_on == ("beta",)


def test_a_stored_cross_validation_is_reused_only_with_the_same_settings(
    cv_run: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    root, out, _ = cv_run
    stored = out.with_suffix(".cv.json")
    with pytest.raises(InputError, match="other settings \\(jitter_date_offset\\)"):
        train_cv(root, tmp_path / "x.pt", replace(CV, jitter_date_offset=0.5), from_cv=stored)
    with pytest.raises(InputError, match="other settings \\(jitter_common_offset\\)"):
        train_cv(root, tmp_path / "z.pt", replace(CV, jitter_common_offset=0.05), from_cv=stored)
    with pytest.raises(InputError, match="other settings \\(fusion\\)"):
        train_cv(root, tmp_path / "f.pt", replace(CV, fusion="early"), from_cv=stored)
    # a summary written before the common offset existed was run without it
    older = json.loads(stored.read_text())
    del older["config"]["jitter_common_offset"]
    del older["config"]["fusion"]  # and before early fusion: Siamese
    stored.write_text(json.dumps(older))
    assert CvSummary.read(stored).config.get("jitter_common_offset") is None
    again = train_cv(root, tmp_path / "y.pt", replace(CV, num_threads=2), from_cv=stored,
                     command=f"tiandi run train-change-model --from-cv {stored}")  # fmt: skip
    assert again.summary.epoch == CvSummary.read(stored).epoch and again.files is not None
    card = SiameseDetector(again.files.weights).card
    assert card.training["cv_command"] == "cmd" and "in one go" in card.notes[1]


def test_a_stopped_cross_validation_resumes_from_its_finished_folds(tmp_path: Path) -> None:
    root = make_oscd(tmp_path / "oscd")
    whole_log = tmp_path / "whole" / "m.train-log.jsonl"
    whole = train_cv(root, tmp_path / "whole" / "m.pt", CV, log_path=whole_log, cv_only=True)
    events = [json.loads(line) for line in whole_log.read_text().splitlines()]
    # stopped in fold 1's first epoch: fold 0 is whole, fold 1 is not
    cut = next(i for i, e in enumerate(events) if e.get("fold") == 1 and e["event"] == "epoch")
    log = tmp_path / "stopped" / "m.train-log.jsonl"
    log.parent.mkdir()
    log.write_text("".join(json.dumps(e) + "\n" for e in events[: cut + 1]))
    resumed = train_cv(root, tmp_path / "stopped" / "m.pt", CV, log_path=log, cv_only=True,
                       resume=True)  # fmt: skip
    # the same choice and out-of-fold counts as the run that was never stopped
    assert (resumed.summary.epoch, resumed.summary.threshold) == (
        whole.summary.epoch,
        whole.summary.threshold,
    )
    assert resumed.summary.per_city == whole.summary.per_city
    again = [json.loads(line) for line in log.read_text().splitlines()]
    assert again[0]["resumed"] is True
    fold_of = {e["fold"]: e.get("resumed", False) for e in again if e["event"] == "cv_fold"}
    assert fold_of == {0: True, 1: False}  # fold 0 taken from the log, fold 1 trained again
    counts = [(e["fold"], e["epoch"], e["cv_counts"]) for e in again if e["event"] == "epoch"]
    assert counts == [
        (e["fold"], e["epoch"], e["cv_counts"]) for e in events if e["event"] == "epoch"
    ]


def test_resuming_needs_the_stopped_runs_log_and_settings(tmp_path: Path) -> None:
    root = make_oscd(tmp_path / "oscd")
    log = tmp_path / "m.train-log.jsonl"
    with pytest.raises(InputError, match="no run log to resume from"):
        train_cv(root, tmp_path / "m.pt", CV, log_path=log, cv_only=True, resume=True)
    train_cv(root, tmp_path / "m.pt", CV, log_path=log, cv_only=True)
    before = log.read_text()
    with pytest.raises(InputError, match="other settings \\(lr\\)"):
        train_cv(root, tmp_path / "m.pt", replace(CV, lr=0.1), log_path=log, resume=True)
    assert log.read_text() == before  # the stopped run's log is kept for a right resume
    with pytest.raises(InputError, match="neither --from-cv"):
        train_cv(root, tmp_path / "m.pt", CV, log_path=log, resume=True,
                 from_cv=tmp_path / "m.cv.json")  # fmt: skip
    log.write_text('{"event": "epoch"}\n')
    with pytest.raises(InputError, match="not a training run log"):
        train_cv(root, tmp_path / "m.pt", CV, log_path=log, resume=True)


def test_a_shorter_cross_validation_scores_the_full_runs_first_epochs_and_keeps_probabilities(
    cv_run: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    root, _, whole_log = cv_run
    probs = tmp_path / "probs"
    log = tmp_path / "short.train-log.jsonl"
    short = train_cv(root, tmp_path / "short.pt", replace(CV, cv_last_epoch=1), log_path=log,
                     cv_only=True, probabilities=probs)  # fmt: skip
    assert short.summary.epoch == 1 and set(short.summary.f1_by_epoch) == {1}

    def scored(path: Path) -> dict[tuple[int, int], Any]:
        events = [json.loads(line) for line in path.read_text().splitlines()]
        return {(e["fold"], e["epoch"]): e["cv_counts"] for e in events
                if e["event"] == "epoch" and e["stage"] == "cv"}  # fmt: skip

    # the learning-rate schedule is the full run's: epoch 1 is the same, pixel for pixel
    whole = scored(whole_log)
    assert scored(log) == {k: v for k, v in whole.items() if k[1] == 1}
    # the kept probabilities give the logged counts at every threshold (float16: exact
    # here, where no probability lies within its rounding of a threshold)
    cities = {c.name: c for c in (load_city_arrays(root, n, CV.bands, CV.patch_size,
              CV.normalisation) for n in ("alpha", "beta", "gamma"))}  # fmt: skip
    assert sorted(p.name for p in (probs / "epoch-01").iterdir()) == [
        "alpha.npy",
        "beta.npy",
        "gamma.npy",
    ]
    for (fold, _), grid in scored(log).items():
        kept = {c: np.load(probability_path(probs, 1, c)).astype(np.float32) for c in grid["0.50"]}
        for t, per_city in grid.items():
            got = score_probabilities(kept, [cities[c] for c in kept], float(t))
            assert {c: [m.tp, m.fp, m.fn, m.tn] for c, m in got.items()} == per_city, (fold, t)
    # a run log of every epoch resumes a shorter cross-validation: its first epochs taken
    resumed_log = tmp_path / "resumed.train-log.jsonl"
    resumed_log.write_text(whole_log.read_text())
    again = train_cv(root, tmp_path / "resumed.pt", replace(CV, cv_last_epoch=1),
                     log_path=resumed_log, cv_only=True, resume=True)  # fmt: skip
    assert again.summary.per_city == short.summary.per_city
    with pytest.raises(InputError, match="cv_last_epoch 3 must be"):
        replace(CV, cv_last_epoch=3)
    # probabilities are kept only by a run that predicts them: not a reused summary, and
    # a resume only into the folder holding the taken folds' probabilities
    with pytest.raises(InputError, match="reusing a summary predicts nothing"):
        train_cv(root, tmp_path / "r.pt", replace(CV, cv_last_epoch=1),
                 from_cv=tmp_path / "short.cv.json", probabilities=tmp_path / "p2")  # fmt: skip
    with pytest.raises(InputError, match="resumed from the stopped run have no kept prob"):
        train_cv(root, tmp_path / "resumed.pt", replace(CV, cv_last_epoch=1), cv_only=True,
                 log_path=resumed_log, resume=True, probabilities=tmp_path / "p3")  # fmt: skip
    kept_again = train_cv(root, tmp_path / "resumed.pt", replace(CV, cv_last_epoch=1),
                          cv_only=True, log_path=log, resume=True, probabilities=probs)  # fmt: skip
    assert kept_again.summary.per_city == short.summary.per_city
