"""``tiandi dispatch``: station packages a field app opens, with form, chips and basemap."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio
from PIL import Image
from typer.testing import CliRunner

from tests.fixtures.field import DISPATCHED_AT, patches, stations, tasks, write_composites
from tiandi.cli.app import app
from tiandi.errors import InputError
from tiandi.redline.field.form import check_form, qgis_available
from tiandi.redline.field.package import (
    PackageOptions,
    StationPackage,
    build_field_packages,
    dispatch_run,
)
from tiandi.redline.field.schema import CLASS_LABELS, CREW_COLUMNS, RESULT_LABELS
from tiandi.redline.field.tasks import write_station_packages
from tiandi.redline.store.lifecycle import FieldOutcome

# Skips only outside CI: in CI (CI set) a missing QGIS must fail, not pass silently.
needs_qgis = pytest.mark.skipif(
    not qgis_available() and not os.environ.get("CI"),
    reason="python3-qgis not installed (scripts/install-system-deps.sh)",
)


def build(root: Path, *, form: bool = False, two: bool = True) -> list[StationPackage]:
    composites = write_composites(root / "run" / "composites")
    return build_field_packages(
        tasks(two_stations=two),
        root / "out",
        composites=composites,
        dispatched_at=DISPATCHED_AT,
        options=PackageOptions(form=form),
    )


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> list[StationPackage]:
    return build(tmp_path_factory.mktemp("pkg"))


def test_one_package_per_station_with_its_layers(packages: list[StationPackage]) -> None:
    assert [p.station_id for p in packages] == ["S1", "S2"]
    assert [p.n_tasks for p in packages] == [1, 1]
    gpkg = packages[0].gpkg
    layers = {str(name): str(kind) for name, kind in pyogrio.list_layers(gpkg)}
    assert layers["tasks"] == "MultiPolygon" and layers["task_points"] == "Point"
    assert layers["field_points"] == "Point" and layers["photos"] == "Point"
    info = pyogrio.read_info(gpkg, layer="tasks")
    assert info["crs"] == "EPSG:4490"
    assert set(CREW_COLUMNS) <= set(info["fields"])
    con = sqlite3.connect(gpkg)
    meta = dict(con.execute("SELECT key, value FROM tiandi_package").fetchall())
    (snapshot,) = con.execute("SELECT task_id, patch_id FROM tiandi_dispatch").fetchall()
    con.close()
    assert meta["package_id"] == packages[0].package_id
    assert meta["dispatched_at"] == "2025-08-01T00:00:00Z"
    assert snapshot[1] == "TB-000000000001"


def test_chips_show_before_and_after_of_each_patch(packages: list[StationPackage]) -> None:
    frame = pyogrio.read_dataframe(packages[0].gpkg, layer="tasks")
    before = Image.open(packages[0].folder / frame["chip_before"].iloc[0])
    after = Image.open(packages[0].folder / frame["chip_after"].iloc[0])
    assert before.size == after.size and min(before.size) >= 150
    centre = (before.size[0] // 2, before.size[1] // 2)
    r0, g0, _ = np.asarray(before.convert("RGB"))[centre[1], centre[0]].astype(int)  # forest
    r1, g1, _ = np.asarray(after.convert("RGB"))[centre[1], centre[0]].astype(int)  # quarry
    assert g0 > r0 and r1 > g1 and r1 > r0 + 100


def test_basemap_is_a_geopackage_raster_of_the_after_composite(
    packages: list[StationPackage],
) -> None:
    with rasterio.open(f"GPKG:{packages[0].gpkg}:basemap") as src:
        assert src.count == 4 and src.crs.to_epsg() == 32650
        rgba = src.read()
    assert rgba[3].max() == 255  # valid pixels opaque
    assert np.any(rgba[0] > 150)  # the quarry is in it


def test_geojson_kml_and_printable_list(packages: list[StationPackage]) -> None:
    pkg = packages[0]
    geojson = json.loads(pkg.geojson.read_text(encoding="utf-8"))
    assert geojson["features"][0]["properties"]["patch_id"] == "TB-000000000001"
    kml = pkg.kml.read_text(encoding="utf-8")
    assert "<Polygon>" in kml and "<Point>" in kml and "矿产资源开发" in kml
    page = pkg.task_list.read_text(encoding="utf-8")
    assert "@media print" in page and "page-break-inside: avoid" in page
    assert "核查结果 Result" in page and "Field verification task list" in page
    for label in [*RESULT_LABELS.values(), *CLASS_LABELS.values()]:
        assert label in page
    assert 'src="chips/' in page


def test_packages_are_byte_identical_on_a_rerun(tmp_path: Path) -> None:
    first = build(tmp_path / "a", two=False)[0]
    second = build(tmp_path / "b", two=False)[0]
    assert tree_bytes(first.folder) == tree_bytes(second.folder)


def test_dispatch_run_uses_the_runs_own_station_tasks(tmp_path: Path) -> None:
    run = tmp_path / "run"
    write_composites(run / "composites")
    write_station_packages(tasks(two_stations=True), run / "tasks")
    built = dispatch_run(
        run, tmp_path / "out", dispatched_at=DISPATCHED_AT, options=PackageOptions(form=False)
    )
    assert [(p.station_id, p.n_tasks) for p in built] == [("S1", 1), ("S2", 1)]


def test_dispatch_run_needs_tasks_or_stations(tmp_path: Path) -> None:
    run = tmp_path / "run"
    write_composites(run / "composites")
    with pytest.raises(InputError, match=r"no tasks/\*\.gpkg .*--stations"):
        dispatch_run(run, tmp_path / "out", dispatched_at=DISPATCHED_AT)


def test_dispatch_run_needs_the_composites(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(InputError, match=r"no composites/before.tif.*re-run detect-changes"):
        dispatch_run(run, tmp_path / "out", dispatched_at=DISPATCHED_AT)


def test_no_tasks_is_refused(tmp_path: Path) -> None:
    composites = write_composites(tmp_path / "c")
    with pytest.raises(InputError, match="no tasks to dispatch"):
        build_field_packages(
            tasks().iloc[:0], tmp_path / "out", composites=composites, dispatched_at=DISPATCHED_AT
        )


def test_cli_dispatch_assigns_a_run_to_stations(tmp_path: Path) -> None:
    run = tmp_path / "run"
    write_composites(run / "composites")
    pyogrio.write_dataframe(patches().to_crs("EPSG:4490"), run / "patches.gpkg", layer="patches")
    stations_file = tmp_path / "stations.gpkg"
    pyogrio.write_dataframe(stations(True), stations_file, layer="stations")
    result = CliRunner().invoke(
        app,
        [
            "dispatch",
            "--run",
            str(run),
            "--stations",
            str(stations_file),
            "--out",
            str(tmp_path / "out"),
            "--dispatched-at",
            "2025-08-01T08:00:00+08:00",
            "--no-form",
        ],
        env={"TIANDI_HOME": str(tmp_path / "home")},
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "dispatch.json").read_text(encoding="utf-8"))
    assert [p["station_id"] for p in manifest["packages"]] == ["S1", "S2"]
    assert manifest["dispatched_at"] == "2025-08-01T00:00:00Z"


def test_cli_field_import_names_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "S1.gpkg"
    bad.write_bytes(b"not a database")
    result = CliRunner().invoke(
        app,
        ["field", "import", str(bad), "--store", str(tmp_path / "field.gpkg")],
        env={"TIANDI_HOME": str(tmp_path / "home")},
    )
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "is not a GeoPackage" in text and "S1.gpkg" in text


@pytest.fixture(scope="module")
def form_package(tmp_path_factory: pytest.TempPathFactory) -> StationPackage:
    """One station's package with its QGIS form, built once for the form tests (read it,
    never write into it: building a form runs QGIS)."""
    (pkg,) = build(tmp_path_factory.mktemp("form"), form=True, two=False)
    return pkg


@needs_qgis
def test_qgis_opens_the_package_with_its_form(form_package: StationPackage, tmp_path: Path) -> None:
    pkg = form_package
    moved = tmp_path / "tablet" / "S1"
    shutil.copytree(pkg.folder, moved)  # relative sources: the folder can go anywhere
    described = check_form(f"geopackage:{moved / 'S1.gpkg'}?projectName=S1")
    layers = described["layers"]
    assert all(layer["valid"] for layer in layers.values())
    assert layers["底图 basemap"]["type"] == "raster"
    tasks_layer = layers["核查图斑 tasks"]
    assert tasks_layer["source"].startswith(str(moved / "S1.gpkg"))
    fields = tasks_layer["fields"]
    result = fields["field_result"]
    assert result["widget"] == "ValueMap"
    values = [next(iter(d.values())) for d in result["config"]["map"]]
    assert values == [o.value for o in FieldOutcome]
    assert "属实 confirmed" in result["config"]["map"][0]
    assert fields["field_class"]["widget"] == "ValueMap"
    assert "different_class" in fields["field_class"]["constraint"]
    for name in ("photo", "photo_2", "photo_3"):
        assert fields[name]["widget"] == "ExternalResource"
        assert fields[name]["config"]["RelativeStorage"] == 1
    assert fields["chip_after"]["widget"] == "ExternalResource"
    assert fields["chip_after"]["read_only"] is True
    assert fields["patch_id"]["read_only"] is True and fields["field_notes"]["read_only"] is False
    assert fields["checked_at"]["default"] == "now()"
    assert layers["图斑位置 task points"]["read_only"] is True
    assert described["relations"]["photos_task"]["valid"] is True
    from_file = check_form(str(moved / "S1.qgz"))
    assert all(layer["valid"] for layer in from_file["layers"].values())


@needs_qgis
def test_form_is_byte_identical_on_a_rerun(form_package: StationPackage, tmp_path: Path) -> None:
    first = form_package
    second = build(tmp_path / "b", form=True, two=False)[0]
    assert first.qgz is not None
    assert tree_bytes(first.folder) == tree_bytes(second.folder)
