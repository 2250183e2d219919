"""``tiandi run detect-dieback``: bad input fails before any service, with one message."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.fixtures import dieback as fx
from tiandi.cli.app import app


def _run(tmp_path: Path, *args: str) -> tuple[int, str]:
    env = {"TIANDI_HOME": str(tmp_path / "home")}
    result = CliRunner().invoke(app, ["run", "detect-dieback", *args], env=env)
    return result.exit_code, " ".join(result.output.split())


def test_missing_zones_file_names_it_and_writes_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gpkg"
    out = tmp_path / "out"
    code, message = _run(
        tmp_path, "--zones", str(missing), "--period", fx.PERIOD, "--out", str(out)
    )
    assert code != 0 and "nope.gpkg" in message and "Traceback" not in message
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--period", "2025-09-30"], ["--period", "2025-09-30"]),
        (["--period", fx.PERIOD, "--baseline-years", "0"], ["baseline_years=0"]),
        (["--period", fx.PERIOD, "--window-days", "400"], ["window_days=400"]),
    ],
)
def test_bad_options_are_one_clear_error(tmp_path: Path, args: list[str], words: list[str]) -> None:
    zones = tmp_path / "zones.gpkg"
    fx.zones().to_file(zones, layer="zones")  # type: ignore[attr-defined]
    code, message = _run(tmp_path, "--zones", str(zones), *args, "--out", str(tmp_path / "o"))
    assert code != 0, message
    for word in words:
        assert word in message, message
    assert "Traceback" not in message and not (tmp_path / "o").exists()
