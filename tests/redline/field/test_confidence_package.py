"""Tasks of the integrated detector carry their confidence level and evidence into the field
package (read-only, labelled 中文/English); packages of other detectors keep their columns;
a crew's package with them still imports."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from tests.fixtures.field import DISPATCHED_AT, patches, stations, tasks, write_composites
from tests.redline.field.test_roundtrip import NOW, device_copy, fill_in
from tiandi.redline.field.form_fields import tasks_form
from tiandi.redline.field.importer import import_field_package
from tiandi.redline.field.package import PackageOptions, StationPackage, build_field_packages
from tiandi.redline.field.results_store import SqliteFieldStore
from tiandi.redline.field.schema import ALIASES
from tiandi.redline.field.tasks import assign_tasks, task_columns


@pytest.fixture(scope="module")
def graded_package(tmp_path_factory: pytest.TempPathFactory) -> StationPackage:
    root = tmp_path_factory.mktemp("graded")
    found = tasks()
    levels = ["highest", "nominal", None, "high"]
    found["confidence_level"] = [levels[i % 4] for i in range(len(found))]
    found["evidence"] = "network,bare_soil"
    return build_field_packages(
        found,
        root / "out",
        composites=write_composites(root / "run" / "composites"),
        dispatched_at=DISPATCHED_AT,
        options=PackageOptions(form=False),
    )[0]


def _rows(gpkg: Path, *cols: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(gpkg) as con:
        return con.execute(f"SELECT {', '.join(cols)} FROM tasks ORDER BY task_id").fetchall()


def test_the_package_carries_level_and_evidence(graded_package: StationPackage) -> None:
    rows = _rows(graded_package.gpkg, "confidence_level", "evidence")
    assert rows and {r[1] for r in rows} == {"network,bare_soil"}
    assert {r[0] for r in rows} <= {"highest", "nominal", "high", None}
    assert any(r[0] == "highest" for r in rows)


def test_the_form_shows_them_read_only_with_bilingual_labels() -> None:
    form = tasks_form(("confidence_level", "evidence"))
    level = form["confidence_level"]
    assert level["widget"] == "ValueMap" and level["editable"] is False
    labels = {next(iter(m.values())): next(iter(m)) for m in level["config"]["map"]}
    assert labels == {"highest": "最高 highest", "high": "高 high", "nominal": "一般 nominal"}
    assert level["alias"] == ALIASES["confidence_level"] == "置信等级 confidence level"
    assert (
        form["evidence"]["editable"] is False and form["evidence"]["alias"] == "变化证据 evidence"
    )
    assert "confidence_level" not in tasks_form()  # other detectors' packages: unchanged


def test_tasks_of_other_detectors_keep_their_columns() -> None:
    plain = tasks()
    assert "confidence_level" not in task_columns(plain)
    graded = plain.assign(confidence_level="high", evidence="network")
    columns = task_columns(graded)
    at = columns.index("confidence")
    assert columns[at + 1 : at + 3] == ("confidence_level", "evidence")


def test_assigned_tasks_carry_the_level() -> None:
    found = assign_tasks(patches().assign(confidence_level="high", evidence="network"), stations())
    assert set(found["confidence_level"]) == {"high"} and set(found["evidence"]) == {"network"}
    assert "confidence_level" not in assign_tasks(patches(), stations()).columns


def test_a_graded_package_comes_back(graded_package: StationPackage, tmp_path: Path) -> None:
    gpkg = device_copy(graded_package, tmp_path / "tablet")
    task_id, _ = fill_in(gpkg)
    report = import_field_package(
        gpkg, SqliteFieldStore(tmp_path / "field.gpkg"), actor="office", now=NOW
    )
    assert report.accepted == (task_id,)


def test_the_dispatch_snapshot_records_the_level_the_crew_was_shown(
    graded_package: StationPackage,
) -> None:
    with sqlite3.connect(graded_package.gpkg) as con:
        rows = con.execute(
            "SELECT d.attributes, d.attributes_sha256, t.confidence_level FROM tiandi_dispatch d "
            "JOIN tasks t USING (task_id) ORDER BY task_id"
        ).fetchall()
    assert rows
    for text, digest, level in rows:
        attrs = json.loads(text)
        assert attrs["confidence_level"] == level and attrs["evidence"] == "network,bare_soil"
        assert hashlib.sha256(text.encode("utf-8")).hexdigest() == digest
