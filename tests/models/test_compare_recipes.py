"""scripts/experiments/compare_recipes.py: the two-seed rule's verdicts."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).parents[2] / "scripts" / "experiments" / "compare_recipes.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compare_recipes", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cv(path: Path, tp: int, fp: int, fn: int) -> Path:
    path.write_text(json.dumps({"overall": {"tp": tp, "fp": fp, "fn": fn}}), encoding="utf-8")
    return path


def test_a_difference_within_the_seeds_spread_is_none(script: ModuleType, tmp_path: Path) -> None:
    a = [_cv(tmp_path / "a0.json", 50, 50, 50), _cv(tmp_path / "a1.json", 40, 50, 50)]
    b = [_cv(tmp_path / "b0.json", 45, 50, 50), _cv(tmp_path / "b1.json", 44, 50, 50)]
    out = script.compare(a, b)
    assert out["mean_a"] == pytest.approx((0.5 + 80 / 180) / 2)
    assert out["verdict"].startswith("no difference")


def test_a_difference_beyond_the_spread_names_the_better(
    script: ModuleType, tmp_path: Path
) -> None:
    a = [_cv(tmp_path / "a0.json", 80, 20, 20), _cv(tmp_path / "a1.json", 79, 20, 20)]
    b = [_cv(tmp_path / "b0.json", 50, 50, 50), _cv(tmp_path / "b1.json", 49, 50, 50)]
    assert script.compare(a, b)["verdict"].startswith("A is better")
    assert script.compare(b, a)["verdict"].startswith("B is better")


def test_one_seed_a_recipe_is_undecided(script: ModuleType, tmp_path: Path) -> None:
    a = [_cv(tmp_path / "a0.json", 80, 20, 20)]
    b = [_cv(tmp_path / "b0.json", 50, 50, 50), _cv(tmp_path / "b1.json", 49, 50, 50)]
    assert script.compare(a, b)["verdict"].startswith("undecided")
