"""The bilingual run report: HTML (escaped, complete) and its PDF (Chromium), the CLI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.fixtures.run_folder import make_run_home
from tests.fixtures.service import ServiceHome
from tiandi.cli.app import app
from tiandi.redline.accuracy.report import accuracy_report
from tiandi.redline.reports.run_report import report_html, write_report
from tiandi.redline.run_layout import RunLayout

XSS = "<script>alert('x')</script>"


@pytest.fixture(scope="module")
def run_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[ServiceHome, str, RunLayout]:
    root = tmp_path_factory.mktemp("report")
    home, run_id = make_run_home(root)
    home.store.transition("TB-02", "rejected", actor="eco", role="ecologist", reason=XSS)
    steps = [("reviewed_accepted", "ecologist", "mining"), ("dispatched", "dispatcher", None)]
    for target, role, cls in steps:
        home.store.transition("TB-01", target, actor="eco", role=role, hj1156_class=cls)
    home.store.transition(
        "TB-01",
        "field_checked",
        actor="李四",
        role="field_crew",
        outcome="confirmed",
        ground_answers={"field_dieback_cause": "drought"},
    )
    return home, run_id, RunLayout(root / "runs" / "run1")


def _accuracy() -> dict[str, Any]:
    """A small assessment: change / no_change, 40 samples."""
    rows = [("change", "change")] * 18 + [("change", "no_change")] * 2
    rows += [("no_change", "no_change")] * 19 + [("no_change", "change")]
    samples = pd.DataFrame(
        [(f"S{i}", m, m, r) for i, (m, r) in enumerate(rows)],
        columns=["sample_id", "stratum", "map_class", "reference_class"],
    )
    strata = ["change", "no_change"]
    areas = pd.DataFrame({"stratum": strata, "map_class": strata, "area_m2": [5e5, 1.5e7]})
    data: dict[str, Any] = accuracy_report(samples, areas, by=None).to_dict()
    return data


def test_the_pdf_report_shows_chinese_text_and_a_page_that_is_not_blank(
    run_home: tuple[ServiceHome, str, RunLayout], tmp_path: Path
) -> None:
    home, run_id, layout = run_home
    files = write_report(
        layout, tmp_path / "out", zone="ZN-1", store=home.store, accuracy=_accuracy()
    )
    assert files.html.name == f"report-{run_id}-ZN-1.html" and files.pdf is not None
    page = files.html.read_text("utf-8")
    assert XSS not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<script" not in page.lower()
    for text in ("图斑", "测试保护区", "矿产资源开发", "交通开发", "扩大", "已初筛", "SHA-256"):
        assert text in page, text
    assert page.count("data:image/png;base64,") == 1 + 2 * 6  # map + 6 chips before/after
    assert "0.9" in page and "[0." in page  # overall accuracy with its interval

    subprocess.run(
        ["pdftoppm", "-f", "1", "-l", "1", "-r", "40", "-png", str(files.pdf),
         str(tmp_path / "page")], check=True, timeout=60,
    )  # fmt: skip
    (png,) = tmp_path.glob("page*.png")
    pixels = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert pixels.var() > 200, "page 1 is blank"
    text = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", str(files.pdf), "-"],
        check=True, capture_output=True, timeout=60,
    ).stdout.decode("utf-8")  # fmt: skip
    assert "图斑" in text and "Location map" in text


def test_user_text_is_escaped_and_an_unknown_zone_names_the_known_ones(
    run_home: tuple[ServiceHome, str, RunLayout], tmp_path: Path
) -> None:
    home = run_home[0]
    layout = RunLayout(tmp_path / "run1")
    shutil.copytree(run_home[2].root, layout.root)
    patches = gpd.read_file(layout.patches, layer="patches")
    patches["zone_name"] = XSS
    patches.to_file(layout.patches, layer="patches", driver="GPKG")
    _, page = report_html(layout, zone="ZN-1", store=home.store)
    assert XSS not in page and "&lt;script&gt;" in page
    with pytest.raises(Exception, match=r"zone 'ZN-7' is not in run .*\['ZN-1'\]"):
        report_html(layout, zone="ZN-7")


def test_cli_writes_the_html_and_fails_clearly_on_a_folder_that_is_no_run(
    run_home: tuple[ServiceHome, str, RunLayout], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIANDI_HOME", str(run_home[0].settings.home))
    run = run_home[2].root
    out = tmp_path / "reports"
    done = CliRunner().invoke(app, ["report", "--run", str(run), "--out", str(out), "--no-pdf"])
    assert done.exit_code == 0, done.output
    (html,) = out.glob("report-*.html")
    assert "已初筛" in html.read_text("utf-8")  # lifecycle from the configured store
    bad = CliRunner().invoke(app, ["report", "--run", str(tmp_path), "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "has no summary.json" in " ".join(bad.output.split())
    assert not (tmp_path / "x").exists()


def test_the_report_lists_the_answers_on_the_ground(
    run_home: tuple[ServiceHome, str, RunLayout],
) -> None:
    home, _, layout = run_home
    _, page = report_html(layout, store=home.store)
    assert "<h3>实地核查答复 Answers on the ground</h3>" in page
    row = "<tr><td>TB-01</td><td>枯死原因 dieback cause</td><td>干旱 drought</td></tr>"
    assert row in page
    assert "Answers on the ground" not in report_html(layout)[1]  # no store: no answers
