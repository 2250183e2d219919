"""``tiandi evaluate burned`` on synthetic fire folders."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.fixtures.burned import write_fire
from tiandi.cli.app import app


def test_evaluate_burned_prints_and_writes_figures(tmp_path: Path) -> None:
    write_fire(tmp_path / "pairs" / "fire_a")
    write_fire(tmp_path / "pairs" / "fire_b", pre_window=(-2, 3, 45, 45))
    out = tmp_path / "figures.json"
    result = CliRunner().invoke(
        app, ["evaluate", "burned", "--root", str(tmp_path), "--json", str(out),
              "--detector", "burned-dnbr"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "fire_a" in result.output and "overall" in result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["model"] == "burned-dnbr" and doc["fires"] == ["fire_a", "fire_b"]
    assert doc["overall"]["tp"] == 800 and doc["overall"]["fn"] == 0
    assert doc["overall"]["fp"] == 2 * 4 * 40  # dNBR > 0.1 has no vegetation mask: bare strip
    assert "fire_b" in doc["alignment_notes"]
    assert doc["fitted_on"] == [] and doc["overall_unseen"] == doc["overall"]
    assert "fitted on" not in result.output  # dNBR > 0.1 was chosen on no fire


def test_evaluate_burned_marks_the_fires_a_detector_was_chosen_on(tmp_path: Path) -> None:
    write_fire(tmp_path / "DOVE_20241019")  # named as a fire burned-rbr was chosen on
    write_fire(tmp_path / "fire_b")
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["evaluate", "burned", "--root", str(tmp_path), "--detector", "burned-rbr"]
    )
    assert result.exit_code == 0, result.output
    assert "DOVE_20241019 (fitted on)" in result.output
    assert "overall, unseen fires" in result.output
    assert "not scores on unseen fires" in result.output


def test_evaluate_burned_missing_pre_is_one_clear_error(tmp_path: Path) -> None:
    write_fire(tmp_path / "fire_a")
    (tmp_path / "fire_a" / "pre.tif").unlink()
    result = CliRunner().invoke(app, ["evaluate", "burned", "--root", str(tmp_path)])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "pre.tif is missing" in message.replace("\n", "")
    assert "each fire folder needs pre.tif" in message
    assert "Traceback" not in result.output
