"""A smaller network distilled from a trained one: the soft-target loss, the student's
configuration and card, and that it learns the teacher's probabilities."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.fixtures.oscd import make_oscd
from tiandi.errors import InputError
from tiandi.models.metrics import IGNORE
from tiandi.models.registry import load_detector
from tiandi.models.siamese import RGBN_BANDS
from tiandi.models.siamese_detector import SiameseDetector
from tiandi.models.training import train_siamese
from tiandi.models.training_config import TrainConfig
from tiandi.models.training_data import load_city_arrays
from tiandi.models.training_distil import distil, main
from tiandi.models.training_loop import RunLog, distillation_loss, fit_model, seed_everything
from tiandi.models.training_scores import predict_proba
from tiandi.models.weights import load_weights

CITIES = ("alpha", "beta", "gamma", "delta")
TEACHER = TrainConfig(
    bands=RGBN_BANDS, val_cities=("gamma",), test_cities=("delta",), patch_size=16,
    batch_size=4, epochs=4, steps_per_epoch=15, base_channels=8, depth=2, seed=1,
    num_threads=1, lr=3e-3, ema_decay=0.0,
)  # fmt: skip
STUDENT = {"base_channels": 4, "epochs": 3, "steps_per_epoch": 40, "patch_size": 16,
           "batch_size": 4, "num_threads": 1, "lr": 3e-3, "ema_decay": 0.0}  # fmt: skip


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    valid = ~np.isnan(a) & ~np.isnan(b)
    return float(np.corrcoef(a[valid], b[valid])[0, 1])


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An OSCD-layout folder and a tiny network trained on it (the teacher)."""
    tmp = tmp_path_factory.mktemp("distil")
    root = make_oscd(tmp / "oscd", CITIES)
    result = train_siamese(root, tmp / "teacher-v0.1.pt", TEACHER, name="teacher")
    assert result.files is not None
    return root, result.files.weights


def test_the_distillation_loss_is_least_at_the_teachers_logits_and_ignores_no_data() -> None:
    teacher = torch.tensor([[[[2.0, -1.0], [0.5, -3.0]]]])
    label = torch.tensor([[[[0, 1], [0, IGNORE]]]], dtype=torch.uint8)
    at_teacher = distillation_loss(teacher, teacher, label)
    for shift in (-0.5, 0.5):
        moved = teacher.clone()
        moved[..., 0, 0] += shift
        assert distillation_loss(moved, teacher, label) > at_teacher
    # the no-data pixel does not count, whatever the student says there
    elsewhere = teacher.clone()
    elsewhere[..., 1, 1] = 9.0
    assert distillation_loss(elsewhere, teacher, label) == pytest.approx(float(at_teacher))


def test_a_student_learns_its_teachers_probabilities_and_keeps_its_inputs_and_threshold(
    teacher: tuple[Path, Path], tmp_path: Path
) -> None:
    root, weights = teacher
    out = tmp_path / "student-v0.1.pt"
    files, taught, own = distil(root, out, str(weights), {**STUDENT, "test_cities": ("delta",)},
                                name="student", version="0.1", command="cmd")  # fmt: skip
    assert files.weights == out and set(taught) == set(own) == {"delta"}
    big, small = load_weights(weights), load_weights(out)
    card = small.card
    assert small.model.config.base_channels == 4 and small.model.bands == big.model.bands
    assert card.metrics["threshold"] == big.card.metrics["threshold"]
    assert card.training_data["train_cities"] == big.card.training_data["train_cities"]
    assert card.training_data["test_cities"] == ["delta"]
    assert card.metrics["teacher"]["name"] == "teacher" and "teacher" in card.training["teacher"]
    assert torch.equal(small.model.band_mean, big.model.band_mean)
    markdown = files.card_md.read_text()
    assert "Teacher teacher v" in markdown and "{'" not in markdown  # a table, not a dict
    assert markdown.count("| delta |") == 2  # the student's row and the teacher's
    # on the held-out city its probabilities follow the teacher's, an untrained one's do not
    city = load_city_arrays(root, "delta", RGBN_BANDS)
    target = predict_proba(big.model, city.images)
    mean, std = (t.flatten().tolist() for t in (big.model.band_mean, big.model.band_std))
    untrained = type(small.model)(small.model.config, band_mean=mean, band_std=std)
    assert _correlation(predict_proba(small.model, city.images), target) > 0.9
    assert abs(_correlation(predict_proba(untrained.eval(), city.images), target)) < 0.5
    events = [json.loads(line) for line in out.with_suffix(".train-log.jsonl").open()]
    assert [e["event"] for e in events] == ["start", "epoch", "epoch", "epoch", "test"]
    assert {e["stage"] for e in events if e["event"] == "epoch"} == {"distil"}
    detector = load_detector("student-v0.1", weights_dir=tmp_path)
    assert isinstance(detector, SiameseDetector)
    assert detector.threshold == big.card.metrics["threshold"]


def test_a_student_is_tested_only_on_cities_its_teacher_never_saw(
    teacher: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, weights = teacher
    with pytest.raises(InputError, match=r"gamma: the teacher teacher v0\.1 was trained or"):
        distil(root, tmp_path / "s.pt", str(weights), {**STUDENT, "test_cities": ("gamma",)},
               name="s", version="0.1", command="")  # fmt: skip
    with pytest.raises(SystemExit):
        main(["--teacher", "no-such-network", "--root", str(root), "--out", str(tmp_path / "s.pt"),
              "--test-cities", "delta"])  # fmt: skip
    assert "--teacher no-such-network: neither a weights file nor a shipped network" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "s.pt").exists()


def test_without_validation_cities_a_fixed_threshold_and_test_cities_are_needed() -> None:
    with pytest.raises(InputError, match="val_cities is empty"):
        replace(TEACHER, val_cities=())
    with pytest.raises(InputError, match="val_cities is empty"):
        replace(TEACHER, val_cities=(), threshold=0.4, test_cities=())
    assert replace(TEACHER, val_cities=(), threshold=0.4).threshold == 0.4


class _Contrary(torch.nn.Module):
    """A teacher that says the opposite of another network."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        return -self.net(before, after)


def test_the_student_follows_its_teacher_not_the_labels_and_leaves_the_teacher_as_it_was(
    teacher: tuple[Path, Path],
) -> None:
    root, weights = teacher
    big = load_weights(weights).model
    contrary = _Contrary(big).train()  # fit_model puts a teacher in eval mode itself
    before = {k: v.clone() for k, v in contrary.state_dict().items()}
    config = replace(TEACHER, val_cities=(), threshold=0.5, test_cities=("delta",),
                     base_channels=4, steps_per_epoch=40, epochs=3)  # fmt: skip
    cities = [load_city_arrays(root, c, RGBN_BANDS, 16) for c in ("alpha", "beta")]
    mean, std = (t.flatten().tolist() for t in (big.band_mean, big.band_std))
    student = type(big)(config.model_config(), band_mean=mean, band_std=std)
    rng = seed_everything(0, 1)
    fit = fit_model(student, cities, [], config, rng, RunLog(None), 0.0, teacher=contrary)
    assert fit.best_state is not None
    student.load_state_dict(fit.best_state)
    city = load_city_arrays(root, "delta", RGBN_BANDS)
    wanted = predict_proba(contrary, city.images)
    assert _correlation(predict_proba(student.eval(), city.images), wanted) > 0.9
    assert not contrary.training and all(not p.requires_grad for p in contrary.parameters())
    after = contrary.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BN statistics


def test_a_run_without_validation_cities_keeps_the_last_epoch_at_a_fixed_threshold(
    teacher: tuple[Path, Path], tmp_path: Path
) -> None:
    root, _ = teacher
    config = replace(TEACHER, val_cities=(), threshold=0.4, epochs=2, steps_per_epoch=2)
    log = tmp_path / "run.jsonl"
    result = train_siamese(root, tmp_path / "m.pt", config, log_path=log)
    assert result.scored_on == "test" and set(result.per_city) == {"delta"}
    assert result.best_epoch == 2 and result.threshold == 0.4 and not result.validation
    stages = {json.loads(line).get("stage") for line in log.read_text().splitlines()}
    assert stages == {None, "train"}
    card = load_weights(tmp_path / "m.pt").card
    assert "validation" not in card.metrics and card.metrics["threshold"] == 0.4
    with pytest.raises(InputError, match="refit trains again on the validation cities"):
        replace(config, refit=True)
