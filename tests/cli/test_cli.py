"""The console script: help, and bad input turned into one message and a non-zero exit."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

TIANDI = str(Path(sys.executable).with_name("tiandi"))


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TIANDI, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_help_lists_commands(tmp_path: Path) -> None:
    result = _run("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("run", "demo", "catalog"):
        assert command in result.stdout
    sub = _run("run", "detect-changes", "--help", cwd=tmp_path)
    assert sub.returncode == 0
    assert "--zones" in sub.stdout and "--before" in sub.stdout


def test_missing_zones_is_one_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _run(
        "run", "detect-changes", "--zones", "missing.gpkg",
        "--before", "2025-01-01/2025-06-30", "--after", "2025-07-01/2025-12-31",
        "--out", str(out), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert "missing.gpkg" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_bad_period_is_refused(tmp_path: Path) -> None:
    result = _run(
        "run", "detect-changes", "--zones", "z.gpkg", "--before", "2025-06-30",
        "--after", "2025-07-01/2025-12-31", "--out", "o", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert "START/END" in result.stderr


def test_unknown_precision_is_refused_before_any_service(tmp_path: Path) -> None:
    result = _run(
        "run", "detect-changes", "--zones", "z.gpkg", "--before", "2025-01-01/2025-06-30",
        "--after", "2025-07-01/2025-12-31", "--out", "o", "--precision", "fp16", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "--precision 'fp16' is not one of auto, float32, bfloat16" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "o").exists()


def test_no_catalog_says_how_to_make_one(tmp_path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    zones = tmp_path / "z.gpkg"
    gpd.GeoDataFrame(
        {"name": ["a"]}, geometry=[box(115, 40, 115.1, 40.1)], crs="EPSG:4490"
    ).to_file(zones, layer="zones")
    result = _run(
        "run", "detect-changes", "--zones", str(zones), "--before", "2025-01-01/2025-06-30",
        "--after", "2025-07-01/2025-12-31", "--out", "o", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 4, result.stderr
    assert "catalog" in result.stderr and "TIANDI_STAC_API_URL" in result.stderr


def test_run_detect_changes_end_to_end(services: Any, tmp_path: Path) -> None:
    """The console script on the embedded catalog: outputs, summary, exit 0."""
    from prefect.settings import PREFECT_API_URL

    out = tmp_path / "out"
    env = {
        **os.environ,
        "TIANDI_HOME": str(services.settings.home),
        "TIANDI_CHUNK_SIZE": "256",
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "TIANDI_DASK_SCHEDULER": str(services.settings.dask_scheduler),  # start no cluster
    }
    result = subprocess.run(
        [
            TIANDI, "run", "detect-changes",
            "--zones", str(services.scene / "zones.gpkg"),
            "--before", "2025-01-01/2025-06-30", "--after", "2025-07-01/2025-12-31",
            "--stations", str(services.scene / "stations.gpkg"),
            "--out", str(out),
        ],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "patches" in result.stdout and str(out / "summary.html") in result.stdout
    assert (out / "patches.gpkg").exists() and (out / "map.png").exists()


def test_flow_failure_is_one_message_and_the_trace_goes_to_the_log(
    services: Any, tmp_path: Path
) -> None:
    """A user error inside the flow (no items in the collection): one message naming the
    problem and the log file, exit 3, no Prefect traceback on the terminal; the log file
    has the full trace."""
    import shutil

    from prefect.settings import PREFECT_API_URL

    home = tmp_path / "home"
    (home / "catalog").mkdir(parents=True)
    shutil.copy(services.settings.catalog_path, home / "catalog" / "items.parquet")
    out = tmp_path / "out"
    env = {
        **os.environ,
        "TIANDI_HOME": str(home),
        "TIANDI_CHUNK_SIZE": "256",
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "TIANDI_DASK_SCHEDULER": str(services.settings.dask_scheduler),  # start no cluster
    }
    result = subprocess.run(
        [
            TIANDI, "run", "detect-changes",
            "--zones", str(services.scene / "zones.gpkg"),
            "--before", "2025-01-01/2025-06-30", "--after", "2025-07-01/2025-12-31",
            "--collection", "no-such-collection", "--out", str(out),
        ],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    log = home / "logs" / "flows.log"
    assert result.returncode == 3, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    flat = " ".join(result.stderr.split())  # the console wraps long lines at its width
    assert "no items in collection(s) no-such-collection" in flat
    assert str(log.resolve()) in flat
    assert result.stderr.count("error:") == 1
    assert "Finished in state Failed" not in result.stderr
    text = log.read_text()
    assert "Traceback" in text and "NoDataError" in text
    assert not out.exists()


def test_demo_disturbances_without_the_real_data_is_one_clear_error(tmp_path: Path) -> None:
    env = {**os.environ, "TIANDI_HOME": str(tmp_path / "home")}
    env["TIANDI_DEMO_DATA"] = str(tmp_path / "no-data")
    result = subprocess.run(
        [TIANDI, "demo", "--disturbances", "--size", "256", "--out", str(tmp_path / "out")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "no-data" in result.stderr and "Traceback" not in result.stderr
    assert "--no-disturbances" in result.stderr  # the way to run without the real data
    assert "--disturbances" in _run("demo", "--help", cwd=tmp_path).stdout
    demo = tmp_path / "home" / "demo"
    for name in ("scene-256-seed0-disturbances", "scene-256-seed0-real-disturbances"):
        assert not (demo / name / "scenes.json").exists()
    assert not (tmp_path / "out").exists()


def test_demo_default_real_spectra_without_the_data_names_the_folder_and_the_flag(
    tmp_path: Path,
) -> None:
    """The default demo paints its scene with real pixels: without EuroSAT it stops before
    writing anything, naming the folder and the hand-set scene, which needs no data."""
    env = {**os.environ, "TIANDI_HOME": str(tmp_path / "home")}
    empty = tmp_path / "no-eurosat"
    empty.mkdir()
    env["TIANDI_DEMO_DATA"] = str(empty)
    env["COLUMNS"] = "1000"  # one line: the console would break the path at its hyphen
    result = subprocess.run(
        [TIANDI, "demo", "--no-disturbances", "--size", "256", "--out", str(tmp_path / "out")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    flat = " ".join(result.stderr.split())
    assert str(empty / "eurosat-ms-sample") in flat and "Traceback" not in flat
    assert "--hand-set-spectra --no-disturbances" in flat
    assert "--hand-set-spectra" in _run("demo", "--help", cwd=tmp_path).stdout
    assert not (tmp_path / "home" / "demo" / "scene-256-seed0-real").exists()
    assert not (tmp_path / "out").exists()


def test_output_that_is_not_a_terminal_keeps_table_figures_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Piped to a file or a scheduler's log, rich would cut a wide table to 80 columns and
    its figures to "0.…"; the commands' console is wide there unless COLUMNS says."""
    from rich.table import Table

    from tiandi.cli.common import PIPED_WIDTH, make_console

    monkeypatch.delenv("COLUMNS", raising=False)
    table = Table(*[f"column {i}" for i in range(12)])
    table.add_row(*[f"0.{i:04d}" for i in range(12)])
    console = make_console(file=io.StringIO())
    assert not console.is_terminal and console.width == PIPED_WIDTH
    console.print(table)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert all(f"0.{i:04d}" in text for i in range(12)) and "…" not in text
    assert make_console(file=io.StringIO(), width=90).width == 90
    monkeypatch.setenv("COLUMNS", "100")
    assert make_console(file=io.StringIO()).width == 100
