"""train_change_model: a few training steps on a tiny synthetic OSCD folder, under Prefect."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.fixtures.oscd import make_oscd
from tiandi.cli.app import app
from tiandi.flows.runtime import PREFECT_ENV
from tiandi.flows.train_change_model import TrainChangeModelRequest, train_change_model
from tiandi.models.registry import load_detector
from tiandi.models.training_config import TrainConfig

TINY = TrainConfig(
    val_cities=("gamma",),
    test_cities=(),
    patch_size=16,
    batch_size=2,
    epochs=1,
    steps_per_epoch=2,
    base_channels=4,
    depth=2,
    seed=3,
    num_threads=1,
)


@pytest.fixture(scope="module")
def prefect_url(prefect_server: str) -> str:
    """The session's shared Prefect server (a harness of its own cost a server start)."""
    return prefect_server


def test_flow_trains_saves_and_reevaluates_the_weights(prefect_url: str, tmp_path: Path) -> None:
    root = make_oscd(tmp_path / "oscd")
    out = tmp_path / "weights" / "tiny-v0.1.pt"
    request = TrainChangeModelRequest(root=root, out=out, config=TINY, name="tiny", command="c")
    result = train_change_model(request)
    assert result.files.weights == out and out.is_file()
    assert out.with_suffix(".json").is_file() and out.with_suffix(".md").is_file()
    log = [json.loads(line) for line in request.log_path.read_text().splitlines()]
    assert [e["event"] for e in log] == ["start", "epoch", "end"]
    figures = json.loads(result.evaluation_json.read_text())
    assert figures["cities"] == ["gamma"] and figures["seen_in_training"] == []
    # the reloaded weights score the validation city as training did (tiler vs training)
    card = json.loads(out.with_suffix(".json").read_text())
    for key in ("tp", "fp", "fn", "tn"):
        assert figures["overall"][key] == card["metrics"]["overall"][key]
    assert load_detector(str(out)).name == "tiny"


@pytest.mark.parametrize("refit", [False, True])
def test_cli_runs_the_flow(
    prefect_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refit: bool
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", prefect_url)  # the session's server, start no other
    monkeypatch.setenv("TIANDI_HOME", str(tmp_path / "home"))
    for key in (*PREFECT_ENV, "PREFECT_HOME"):  # the CLI sets these; restore them after
        monkeypatch.setenv(key, os.environ.get(key, ""))
    root = make_oscd(tmp_path / "oscd")
    out = tmp_path / "m.pt"
    result = CliRunner().invoke(
        app,
        ["run", "train-change-model", "--root", str(root), "--out", str(out),
         "--val-cities", "gamma", "--test-cities", "beta", "--epochs", "1",
         "--steps-per-epoch", "1", "--patch-size", "16", "--batch-size", "2", "--bands", "rgbn",
         "--base-channels", "4", "--depth", "2", "--num-threads", "1",
         *(["--refit"] if refit else [])],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # rich wraps long lines
    assert "F1" in said and "test (beta)" in said and out.is_file()
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training_data"]["train_cities"] == (["alpha", "gamma"] if refit else ["alpha"])
    assert ("refit on training + validation cities for 1 epochs" in said) == refit
    assert card["command"].endswith("--refit") == refit
    assert card["bands"] == ["B02", "B03", "B04", "B08"]
    assert card["command"].startswith("tiandi run train-change-model --root")


def test_cli_cross_validates_and_trains_the_final_model(
    prefect_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", prefect_url)
    monkeypatch.setenv("TIANDI_HOME", str(tmp_path / "home"))
    for key in (*PREFECT_ENV, "PREFECT_HOME"):
        monkeypatch.setenv(key, os.environ.get(key, ""))
    root = make_oscd(tmp_path / "oscd")
    out = tmp_path / "cv.pt"
    args = ["run", "train-change-model", "--root", str(root), "--out", str(out),
            "--epochs", "1", "--steps-per-epoch", "1", "--patch-size", "16", "--batch-size", "2",
            "--bands", "rgbn", "--base-channels", "4", "--depth", "2", "--num-threads", "1",
            "--normalisation", "per_image", "--cv-folds", "2"]  # fmt: skip
    refused = CliRunner().invoke(app, [*args, "--val-cities", "gamma"])
    assert refused.exit_code != 0 and "leave val_cities and test_cities empty" in refused.output
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "fold 1: alpha, gamma" in said and "fold 2: beta" in said
    assert "trained on all 3 cities" in said and out.is_file()
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["config"]["normalisation"] == "per_image"
    assert "--cv-folds 2" in card["command"] and "--val-cities" not in card["command"]
    # the same command again with --resume-cv takes both finished folds from the run log
    log = out.with_suffix(".train-log.jsonl")
    resumed = CliRunner().invoke(app, [*args, "--resume-cv", "--cv-only"])
    assert resumed.exit_code == 0, resumed.output
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["resumed"] for e in events if e["event"] == "cv_fold"] == [True, True]
    assert json.loads(out.with_suffix(".cv.json").read_text())["epoch"] == 1
    assert args[-2:] == ["--cv-folds", "2"]
    refused = CliRunner().invoke(app, [*args[:-2], "--resume-cv"])
    assert refused.exit_code != 0 and "--resume-cv" in refused.output
    # the out-of-fold probabilities kept on request, the shorter schedule in the command
    short = [*args[:4], "--out", str(tmp_path / "short.pt"), *args[6:]]
    kept = CliRunner().invoke(app, [*short, "--cv-only", "--cv-last-epoch", "1",
                                    "--cv-probabilities", str(tmp_path / "probs")])  # fmt: skip
    assert kept.exit_code == 0, kept.output
    assert sorted(p.name for p in (tmp_path / "probs" / "epoch-01").iterdir()) == [
        "alpha.npy",
        "beta.npy",
        "gamma.npy",
    ]
    stored = json.loads((tmp_path / "short.cv.json").read_text())
    assert "--cv-last-epoch 1" in stored["command"] and stored["config"]["cv_last_epoch"] == 1
    assert f"--cv-probabilities {tmp_path / 'probs'}" in stored["command"]
    refused = CliRunner().invoke(app, [*args[:-2], "--cv-probabilities", str(tmp_path / "p")])
    assert refused.exit_code != 0 and "--cv-probabilities" in refused.output
