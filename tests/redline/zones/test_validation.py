"""Zone validation report: repaired, empty, duplicate, outside the imagery, version."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
from shapely.geometry import Polygon, box
from typer.testing import CliRunner

from tiandi.cli.app import app
from tiandi.redline.zones.validation import validate_zones

BOWTIE = Polygon([(116.0, 40.0), (116.1, 40.1), (116.1, 40.0), (116.0, 40.1)])


def _zones(path: Path) -> Path:
    frame = gpd.GeoDataFrame(
        {
            "name": ["甲", "乙", "丙", "丁", "戊"],
            "code": ["A", "B", "C", "C", "E"],
        },
        geometry=[box(116, 40, 116.05, 40.05), BOWTIE, box(116.2, 40, 116.3, 40.1),
                  box(116.4, 40, 116.5, 40.1), box(116, 40, 116.05, 40.05)],
        crs="EPSG:4490",
    )  # fmt: skip
    frame.to_file(path, layer="zones")
    return path


def test_report_lists_repairs_duplicates_and_outside(tmp_path: Path) -> None:
    footprint = box(115.9, 39.9, 116.35, 40.2)
    report = validate_zones(_zones(tmp_path / "z.gpkg"), imagery_footprint=footprint)
    kinds = {(i.kind, i.feature) for i in report.issues}
    assert ("repaired", 1) in kinds and "Self-intersection" in report.issues[0].detail
    assert ("duplicate_geometry", 4) in kinds
    assert ("duplicate_code", 3) in kinds
    outside = [i for i in report.issues if i.kind == "outside_imagery"]
    assert len(outside) == 1 and "丁" in outside[0].detail
    assert report.n_features == 5 and report.zone_set_version.startswith("sha256:")


def test_same_zones_give_the_same_version(tmp_path: Path) -> None:
    a = validate_zones(_zones(tmp_path / "a.gpkg"))
    b = validate_zones(_zones(tmp_path / "b.gpkg"))
    assert a.zone_set_version == b.zone_set_version


def test_cli_prints_and_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        app, ["zones", "validate", str(_zones(tmp_path / "z.gpkg")), "--report", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "repaired" in result.output and "duplicate_code" in result.output
    assert json.loads(out.read_text(encoding="utf-8"))["n_zones"] == 5


def test_cli_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["zones", "validate", str(tmp_path / "none.gpkg")])
    assert result.exit_code == 2
    assert "none.gpkg" in result.output
