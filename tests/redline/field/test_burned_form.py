"""A burned patch's task asks for the burn severity checked on the ground (CBI classes);
packages of human-activity tasks keep their columns and form."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.fixtures.field import DISPATCHED_AT, tasks, write_composites
from tests.redline.field.test_roundtrip import NOW, device_copy, edit_task, fill_in, task_rows
from tiandi.errors import SubmissionsRejectedError
from tiandi.redline.field.form_fields import tasks_form
from tiandi.redline.field.importer import import_field_package
from tiandi.redline.field.package import PackageOptions, StationPackage, build_field_packages
from tiandi.redline.field.results_store import SqliteFieldStore
from tiandi.redline.field.schema import BURN_SEVERITY_LABELS


@pytest.fixture(scope="module")
def burned_package(tmp_path_factory: pytest.TempPathFactory) -> StationPackage:
    root = tmp_path_factory.mktemp("burned")
    found = tasks()
    found["change_type"] = "burned"
    found["change_type_zh"] = "火烧迹地"
    found["hj1156_class"] = "other"
    return build_field_packages(
        found,
        root / "out",
        composites=write_composites(root / "run" / "composites"),
        dispatched_at=DISPATCHED_AT,
        options=PackageOptions(form=False),
    )[0]


def _columns(gpkg: Path) -> list[str]:
    with sqlite3.connect(gpkg) as con:
        return [str(r[1]) for r in con.execute("PRAGMA table_info(tasks)")]


def test_the_form_asks_for_severity_only_for_burned_tasks(burned_package: StationPackage) -> None:
    assert "field_severity" in _columns(burned_package.gpkg)
    spec = tasks_form(("field_severity",))["field_severity"]
    assert spec["widget"] == "ValueMap"
    values = [next(iter(m.values())) for m in spec["config"]["map"]]
    assert values == ["unburned", "low", "moderate", "high"] == list(BURN_SEVERITY_LABELS)
    assert "burned" in spec["constraint"] and "field_severity" in spec["constraint"]
    assert "field_severity" not in tasks_form()


def test_a_found_burn_needs_a_severity_class(
    burned_package: StationPackage, tmp_path: Path
) -> None:
    gpkg = device_copy(burned_package, tmp_path / "tablet")
    task_id, _ = fill_in(gpkg)
    store = SqliteFieldStore(tmp_path / "field.gpkg")
    with pytest.raises(SubmissionsRejectedError) as err:
        import_field_package(gpkg, store, actor="office", now=NOW)
    ((_, reasons),) = err.value.report.rejected
    assert any("field_severity" in r and "required" in r for r in reasons)
    edit_task(gpkg, task_id, field_severity="extreme")
    with pytest.raises(SubmissionsRejectedError, match="'extreme' is not one of"):
        import_field_package(gpkg, store, actor="office", now=NOW)
    edit_task(gpkg, task_id, field_severity="moderate")
    report = import_field_package(gpkg, store, actor="office", now=NOW)
    assert report.accepted == (task_id,) and task_rows(gpkg)[0][0] == task_id
