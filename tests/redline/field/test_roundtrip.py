"""Field round trip: dispatch a package, edit it the way a field app does, import it back.

Edits go through the same layers a field app uses: attribute changes with SQL UPDATEs on
the GeoPackage (what QField's OGR provider issues), photos as files in DCIM/ plus rows in
the ``photos`` layer and a new ``field_points`` feature appended with GDAL (pyogrio).
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from shapely.geometry import Point

from tests.fixtures.field import DISPATCHED_AT, jpeg, tasks, write_composites
from tiandi._gpkg import gpkg_geometry
from tiandi.errors import DuplicateImportError, InputError, SubmissionsRejectedError
from tiandi.redline.field.importer import ImportOptions, import_field_package
from tiandi.redline.field.package import PackageOptions, StationPackage, build_field_packages
from tiandi.redline.field.results_store import SqliteFieldStore
from tiandi.redline.field.tasks import write_station_packages
from tiandi.redline.store.audit import AuditLog

NOW = datetime(2025, 8, 3, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def dispatched(tmp_path_factory: pytest.TempPathFactory) -> StationPackage:
    root = tmp_path_factory.mktemp("dispatch")
    composites = write_composites(root / "run" / "composites")
    packages = build_field_packages(
        tasks(),
        root / "out",
        composites=composites,
        dispatched_at=DISPATCHED_AT,
        options=PackageOptions(form=False),
    )
    return packages[0]


def device_copy(pkg: StationPackage, where: Path) -> Path:
    """The package folder as copied onto a tablet; returns its .gpkg."""
    target = where / pkg.folder.name
    shutil.copytree(pkg.folder, target)
    return target / pkg.gpkg.name


def task_rows(gpkg: Path) -> list[tuple[str, str, float, float]]:
    con = sqlite3.connect(gpkg)
    try:
        rows = con.execute("SELECT task_id, patch_id, lon, lat FROM tasks ORDER BY task_id")
        return [(str(a), str(b), float(c), float(d)) for a, b, c, d in rows]
    finally:
        con.close()


def gdal_like(gpkg: Path) -> sqlite3.Connection:
    """A connection with the ST_* SQL functions GDAL registers (the R-tree triggers of a
    GeoPackage call them on every UPDATE), as a field app's OGR connection has them."""
    con = sqlite3.connect(gpkg)

    def bound(i: int) -> Callable[[bytes | None], float | None]:
        def fn(blob: bytes | None) -> float | None:
            geom = gpkg_geometry(blob)
            return None if geom is None else float(geom.bounds[i])

        return fn

    con.create_function("ST_IsEmpty", 1, lambda b: int(gpkg_geometry(b) is None))
    for name, i in (("ST_MinX", 0), ("ST_MinY", 1), ("ST_MaxX", 2), ("ST_MaxY", 3)):
        con.create_function(name, 1, bound(i))
    return con


def edit_task(gpkg: Path, task_id: str, **values: object) -> None:
    con = gdal_like(gpkg)
    try:
        sets = ", ".join(f"{k} = ?" for k in values)
        con.execute(f"UPDATE tasks SET {sets} WHERE task_id = ?", (*values.values(), task_id))
        con.commit()
    finally:
        con.close()


def add_photo(gpkg: Path, name: str, data: bytes) -> str:
    rel = f"DCIM/{name}"
    (gpkg.parent / rel).write_bytes(data)
    return rel


def append_rows(gpkg: Path, layer: str, rows: dict[str, list[object]], points: list[Point]) -> None:
    frame = gpd.GeoDataFrame(rows, geometry=points, crs="EPSG:4490")
    for col in ("taken_at", "observed_at"):
        if col in frame:
            frame[col] = frame[col].astype("datetime64[ms, UTC]")
    pyogrio.write_dataframe(frame, gpkg, layer=layer, driver="GPKG", append=True)


def fill_in(gpkg: Path, *, crew: str = "张三", result: str = "confirmed") -> tuple[str, str]:
    """A complete, valid edit of the first task: result, photo at the patch, a point."""
    task_id, _, lon, lat = task_rows(gpkg)[0]
    photo = add_photo(gpkg, f"{crew}_1.jpg", jpeg(lon, lat, colour=(len(crew) * 40, 90, 30)))
    edit_task(
        gpkg,
        task_id,
        field_result=result,
        field_class="industry" if result == "different_class" else None,
        field_notes="采石场仍在作业 quarry active",
        photo=photo,
        checked_at="2025-08-02T10:20:00+08:00",
        crew=crew,
    )
    return task_id, photo


def test_round_trip_records_result_photos_points_and_audit(
    dispatched: StationPackage, tmp_path: Path
) -> None:
    gpkg = device_copy(dispatched, tmp_path / "tablet")
    task_id, _ = fill_in(gpkg)
    _, _, lon, lat = task_rows(gpkg)[0]
    extra = add_photo(gpkg, "extra.jpg", jpeg(None, None, taken=None))  # no EXIF at all
    append_rows(
        gpkg,
        "photos",
        {
            "photo_id": ["p-1"],
            "task_id": [task_id],
            "path": [extra],
            "note": ["西侧 west side"],
            "crew": ["张三"],
            "taken_at": [datetime(2025, 8, 2, 2, 30, tzinfo=UTC)],
        },
        [Point(lon + 0.0015, lat)],  # located by its photo point, ~128 m east
    )
    append_rows(
        gpkg,
        "field_points",
        {
            "point_id": ["obs-1"],
            "task_id": [task_id],
            "kind": ["access"],
            "note": ["入口 gate"],
            "photo": [None],
            "crew": ["张三"],
            "observed_at": [datetime(2025, 8, 2, 2, 40, tzinfo=UTC)],
        },
        [Point(lon + 0.001, lat + 0.001)],
    )
    store = SqliteFieldStore(tmp_path / "office" / "field.gpkg")
    report = import_field_package(gpkg, store, actor="office", now=NOW)

    assert report.accepted == (task_id,)
    assert report.rejected == ()
    assert report.points == 1 and report.photos == 2
    (result,) = store.results()
    assert (result.outcome, result.crew, result.status) == ("confirmed", "张三", "accepted")
    assert result.checked_at == "2025-08-02T02:20:00+00:00"
    located = {p["path"]: p for p in result.photos}
    assert located["DCIM/张三_1.jpg"]["located_by"] == "exif"
    assert located["DCIM/张三_1.jpg"]["distance_m"] == 0.0
    assert located[extra]["located_by"] == "photo point"
    assert 20.0 < located[extra]["distance_m"] < 150.0
    for p in result.photos:  # every photo kept, by content
        assert (
            store.attachment(p["sha256"], ".jpg").read_bytes()
            == (gpkg.parent / p["path"]).read_bytes()
        )
    (point,) = store.points()
    assert (point.point_id, point.kind, point.task_id) == ("obs-1", "access", task_id)
    actions = [r.action for r in AuditLog(store.path).records()]
    assert actions == ["field_result", "field_point", "field_import"]
    assert AuditLog(store.path).verify().ok


def test_importing_the_same_package_twice_changes_nothing(
    dispatched: StationPackage, tmp_path: Path
) -> None:
    gpkg = device_copy(dispatched, tmp_path / "tablet")
    fill_in(gpkg)
    store = SqliteFieldStore(tmp_path / "field.gpkg")
    import_field_package(gpkg, store, actor="office", now=NOW)
    head = AuditLog(store.path).head()
    with pytest.raises(DuplicateImportError, match=r"already imported .*nothing was changed"):
        import_field_package(gpkg, store, actor="office", now=NOW)
    assert AuditLog(store.path).head() == head
    assert len(store.results()) == 1 and len(store.imports()) == 1


def test_two_crews_on_one_patch_record_a_conflict_not_an_overwrite(
    dispatched: StationPackage, tmp_path: Path
) -> None:
    first = device_copy(dispatched, tmp_path / "tablet-a")
    second = device_copy(dispatched, tmp_path / "tablet-b")
    task_id, _ = fill_in(first, crew="张三", result="confirmed")
    fill_in(second, crew="李四", result="different_class")
    store = SqliteFieldStore(tmp_path / "field.gpkg")
    import_field_package(first, store, actor="office", now=NOW)
    report = import_field_package(second, store, actor="office", now=NOW)

    assert report.conflicts == (task_id,) and report.accepted == ()
    kept, conflict = store.results()
    assert (kept.crew, kept.outcome, kept.status) == ("张三", "confirmed", "accepted")
    assert (conflict.crew, conflict.outcome, conflict.status) == (
        "李四",
        "different_class",
        "conflict",
    )
    assert conflict.conflict_with == kept.result_id
    audit = AuditLog(store.path).records(subject=kept.patch_id)
    assert [r.action for r in audit] == ["field_result", "field_conflict"]


def test_photo_far_from_the_patch_is_rejected_and_kept_in_quarantine(
    dispatched: StationPackage, tmp_path: Path
) -> None:
    gpkg = device_copy(dispatched, tmp_path / "tablet")
    task_id, photo = fill_in(gpkg)
    _, _, lon, lat = task_rows(gpkg)[0]
    (gpkg.parent / photo).write_bytes(jpeg(lon + 0.05, lat))  # about 4 km east
    store = SqliteFieldStore(tmp_path / "field.gpkg")
    with pytest.raises(SubmissionsRejectedError, match=r"m from patch .*tolerance 150 m") as err:
        import_field_package(gpkg, store, actor="office", now=NOW)
    assert err.value.report.accepted == ()
    (kept,) = store.quarantine()
    assert kept.task_id == task_id and kept.kind == "task"
    assert any("from patch" in r for r in kept.reasons)
    assert kept.raw["field_result"] == "confirmed" and kept.raw["crew"] == "张三"
    (file,) = kept.files
    assert store.attachment(file["sha256"], ".jpg").exists()  # the photo is not lost
    assert store.results() == []


def test_missing_photo_file_is_rejected_with_what_to_do(
    dispatched: StationPackage, tmp_path: Path
) -> None:
    gpkg = device_copy(dispatched, tmp_path / "tablet")
    _, photo = fill_in(gpkg)
    (gpkg.parent / photo).unlink()
    store = SqliteFieldStore(tmp_path / "field.gpkg")
    with pytest.raises(SubmissionsRejectedError, match=r"missing from the package folder.*copy"):
        import_field_package(gpkg, store, actor="office", now=NOW)
    assert len(store.quarantine()) == 1


def test_required_fields_and_dispatch_time_are_checked(
    dispatched: StationPackage, tmp_path: Path
) -> None:
    gpkg = device_copy(dispatched, tmp_path / "tablet")
    task_id, _ = fill_in(gpkg, result="different_class")
    edit_task(gpkg, task_id, field_class=None, checked_at="2025-07-30T09:00:00+08:00")
    store = SqliteFieldStore(tmp_path / "field.gpkg")
    with pytest.raises(SubmissionsRejectedError) as err:
        import_field_package(gpkg, store, actor="office", now=NOW)
    ((_, reasons),) = err.value.report.rejected
    assert any("field_class" in r and "required" in r for r in reasons)
    assert any("before the dispatch" in r for r in reasons)


def test_fixed_package_imports_after_a_rejection(
    dispatched: StationPackage, tmp_path: Path
) -> None:
    gpkg = device_copy(dispatched, tmp_path / "tablet")
    task_id, _ = fill_in(gpkg)
    edit_task(gpkg, task_id, crew=None)
    store = SqliteFieldStore(tmp_path / "field.gpkg")
    with pytest.raises(SubmissionsRejectedError, match="crew"):
        import_field_package(gpkg, store, actor="office", now=NOW)
    edit_task(gpkg, task_id, crew="张三")
    report = import_field_package(gpkg, store, actor="office", now=NOW)
    assert report.accepted == (task_id,)
    assert len(store.quarantine()) == 1  # the rejected first attempt stays on record
    assert AuditLog(store.path).verify().ok


def test_not_a_geopackage_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "S1.gpkg"
    fake.write_text("task_id,field_result\nVT-1,confirmed\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"S1.gpkg is not a GeoPackage.*tiandi dispatch"):
        import_field_package(fake, SqliteFieldStore(tmp_path / "f.gpkg"), actor="o", now=NOW)


def test_wrong_schema_is_refused(tmp_path: Path) -> None:
    (plain,) = write_station_packages(tasks(), tmp_path / "plain")  # tasks only, no package
    with pytest.raises(InputError, match=r"not a tiandi field package.*tiandi_package"):
        import_field_package(plain, SqliteFieldStore(tmp_path / "f.gpkg"), actor="o", now=NOW)


def test_dropped_crew_columns_are_named(dispatched: StationPackage, tmp_path: Path) -> None:
    gpkg = device_copy(dispatched, tmp_path / "tablet")
    con = sqlite3.connect(gpkg)
    con.execute("ALTER TABLE tasks DROP COLUMN photo_3")
    con.commit()
    con.close()
    with pytest.raises(InputError, match=r"lacks column\(s\) photo_3"):
        import_field_package(gpkg, SqliteFieldStore(tmp_path / "f.gpkg"), actor="o", now=NOW)


def test_oversized_file_is_refused(dispatched: StationPackage, tmp_path: Path) -> None:
    options = ImportOptions(max_bytes=10_000)
    with pytest.raises(InputError, match=r"more than the limit of 0.0 MB.*--max-mb"):
        import_field_package(
            dispatched.gpkg, SqliteFieldStore(tmp_path / "f.gpkg"), actor="o", options=options
        )


def test_untouched_package_is_refused(dispatched: StationPackage, tmp_path: Path) -> None:
    gpkg = device_copy(dispatched, tmp_path / "tablet")
    with pytest.raises(InputError, match="no field results"):
        import_field_package(gpkg, SqliteFieldStore(tmp_path / "f.gpkg"), actor="o", now=NOW)
