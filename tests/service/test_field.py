"""Field crews over HTTP: the station's tasks, its package, results uploaded and imported
through the validated import (quarantine on rejects), and every refused upload writing
nothing."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.field import patches, tasks, write_composites
from tiandi.demo.cycle_script import FieldFinding
from tiandi.demo.field_crew import device_copy, edit_field_package
from tiandi.redline.field.lifecycle import package_tasks, record_dispatch
from tiandi.redline.field.package import PackageOptions, build_field_packages
from tiandi.redline.store.gpkg import GpkgPatchStore, RunInfo
from tiandi.redline.store.recording import record_detections
from tiandi.service.app import create_app
from tiandi.service.auth import TokenStore
from tiandi.settings import Settings

T0 = datetime(2025, 8, 1, tzinfo=UTC)
STATION = "S1"  # tests.fixtures.field.tasks() puts both patches in station S1


@dataclass(frozen=True)
class FieldHome:
    settings: Settings
    tokens: dict[str, str]
    crew_copy: Path  # the crew's edited .gpkg (DCIM/ beside it)

    @property
    def store(self) -> GpkgPatchStore:
        return GpkgPatchStore(self.settings.patch_store_path)


def _build(root: Path) -> None:
    """A home with two accepted patches dispatched to S1 (package in the service's place),
    tokens, and the crew's edited copy (one task's photo 5 km off: quarantined)."""
    settings = Settings(home=root / "home", patch_dsn=None, patch_store=None)
    settings.home.mkdir(parents=True)
    store = GpkgPatchStore(settings.patch_store_path)
    record_detections(store, patches(), None, RunInfo("run-1", T0 - timedelta(days=2)))
    for pid, cls in zip(patches()["patch_id"], patches()["hj1156_class"], strict=True):
        store.transition(
            pid, "reviewed_accepted", actor="e", role="ecologist", at=T0, hj1156_class=cls
        )
    (pkg,) = build_field_packages(
        tasks(),
        settings.field_packages_dir,
        composites=write_composites(root / "run"),
        dispatched_at=T0,
        options=PackageOptions(form=False),
    )
    record_dispatch(store, [pkg.gpkg], actor="dispatcher", at=T0 + timedelta(hours=1))
    copy = device_copy(pkg.folder, root / "tablet")
    found = package_tasks(copy)
    findings = []
    for i, t in enumerate(found):
        centre = store.get(t.patch_id).geometry.representative_point()
        far = 0.05 if i == 1 else 0.0
        findings.append(
            FieldFinding(t.task_id, t.patch_id, "confirmed", None, "ok", centre.x, centre.y, far)
        )
    edit_field_package(copy, findings, crew="张三", checked_at=T0 + timedelta(days=1))
    tokens = TokenStore(settings.tokens_path)
    made = {
        "field": tokens.create("field", holder="crew S1", station_id=STATION)[1],
        "other": tokens.create("field", holder="crew S2", station_id="S2")[1],
        "operator": tokens.create("operator", holder="operator 1")[1],
        "ecologist": tokens.create("ecologist", holder="eco")[1],
    }
    (root / "tokens.txt").write_text("\n".join(f"{k}={v}" for k, v in made.items()))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("field-template")
    _build(root)
    return root


@pytest.fixture
def home(template: Path, tmp_path: Path) -> FieldHome:
    root = tmp_path / "copy"
    shutil.copytree(template, root)
    settings = Settings(home=root / "home", patch_dsn=None, patch_store=None, field_upload_max_mb=5)
    tokens = dict(line.split("=", 1) for line in (root / "tokens.txt").read_text().splitlines())
    copy = next((root / "tablet").glob("*/*.gpkg"))
    return FieldHome(settings, tokens, copy)


@pytest.fixture
def client(home: FieldHome) -> Iterator[TestClient]:
    with TestClient(create_app(home.settings)) as test_client:
        yield test_client


def _auth(home: FieldHome, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {home.tokens[who]}"}


def _files(gpkg: Path, name: str | None = None) -> list[tuple[str, tuple[str, bytes]]]:
    files = [("package", (name or gpkg.name, gpkg.read_bytes()))]
    for photo in sorted((gpkg.parent / "DCIM").glob("*.jpg")):
        files.append(("photos", (f"DCIM/{photo.name}", photo.read_bytes())))
    return files


def _received(home: FieldHome) -> list[Path]:
    folder = home.settings.home / "field"
    return sorted(p for p in folder.rglob("*") if p.is_file() and "packages" not in p.parts)


def test_the_station_sees_its_tasks_with_package_and_task(
    client: TestClient, home: FieldHome
) -> None:
    answer = client.get(f"/api/v1/stations/{STATION}/tasks", headers=_auth(home, "field")).json()
    assert len(answer["tasks"]) == 2
    sent = {t.task_id: t.package_id for t in package_tasks(home.crew_copy)}
    assert {t["task_id"]: t["package_id"] for t in answer["tasks"]} == sent


def test_the_station_downloads_its_package(client: TestClient, home: FieldHome) -> None:
    response = client.get(f"/api/v1/stations/{STATION}/package", headers=_auth(home, "field"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geopackage+sqlite3"
    served = home.settings.field_packages_dir / STATION / f"{STATION}.gpkg"
    assert response.content == served.read_bytes()
    missing = client.get("/api/v1/stations/S9/package", headers=_auth(home, "operator"))
    assert missing.status_code == 404 and "tiandi dispatch" in missing.json()["message"]


def test_an_upload_is_imported_with_rejects_quarantined_and_attributed(
    client: TestClient, home: FieldHome
) -> None:
    response = client.post(
        f"/api/v1/stations/{STATION}/results",
        files=_files(home.crew_copy),
        headers=_auth(home, "field"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["quarantined"]) == (1, 1)
    assert "m from patch" in " ".join(body["quarantined_items"][0]["reasons"])
    assert len(body["field_checked"]) == 1
    store = home.store
    (event,) = [r for r in store.audit_records() if r.action == "field_import"]
    assert event.actor == "crew S1" and event.payload["accepted"] == body["accepted_tasks"]
    assert store.verify_audit().ok
    kept = _received(home)
    assert any(p.suffix == ".gpkg" and "received" in p.parts for p in kept)
    assert home.settings.field_results_path.exists()
    again = client.post(
        f"/api/v1/stations/{STATION}/results",
        files=_files(home.crew_copy),
        headers=_auth(home, "operator"),
    )
    assert again.status_code == 409 and again.json()["error"] == "duplicate_import"
    assert _received(home) == kept


def _refused(
    client: TestClient, home: FieldHome, status: int, code: str, **kw: Any
) -> dict[str, Any]:
    head = home.store.audit_head()
    station = kw.pop("station", STATION)
    who = kw.pop("who", "field")
    response = client.post(f"/api/v1/stations/{station}/results", headers=_auth(home, who), **kw)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and body["message"]
    assert home.store.audit_head() == head
    assert _received(home) == [], "a refused upload left files behind"
    return body


def test_another_station_or_role_is_refused(client: TestClient, home: FieldHome) -> None:
    files = _files(home.crew_copy)
    body = _refused(client, home, 403, "forbidden", files=files, who="other")
    assert "S2" in body["message"] and STATION in body["message"]
    _refused(client, home, 403, "forbidden", files=files, who="ecologist")
    for path in ("tasks", "package"):
        other = client.get(f"/api/v1/stations/{STATION}/{path}", headers=_auth(home, "other"))
        assert other.status_code == 403
    response = client.post(f"/api/v1/stations/{STATION}/results", files=files)
    assert response.status_code == 401 and response.json()["error"] == "missing_token"


def test_a_package_uploaded_to_the_wrong_station_is_refused(
    client: TestClient, home: FieldHome
) -> None:
    body = _refused(
        client,
        home,
        422,
        "wrong_station",
        files=_files(home.crew_copy),
        station="S2",
        who="operator",
    )
    assert "/stations/S1/results" in body["message"]


def test_an_oversized_upload_is_413(client: TestClient, home: FieldHome) -> None:
    big = [("package", ("big.gpkg", b"SQLite format 3\x00" + b"\x00" * 6_000_000))]
    body = _refused(client, home, 413, "too_large", files=big)
    assert "5.0 MB" in body["message"] and "TIANDI_FIELD_UPLOAD_MAX_MB" in body["message"]


@pytest.mark.parametrize(
    "name", ["../../x.gpkg", "/etc/x.gpkg", "..\\..\\x.gpkg", "DCIM/x.gpkg", ".hidden.gpkg", ""]
)
def test_an_unsafe_package_name_is_refused(client: TestClient, home: FieldHome, name: str) -> None:
    files = [("package", (name, home.crew_copy.read_bytes()))]
    _refused(client, home, 422, "unsafe_file_name" if name else "missing_package", files=files)
    assert not (home.settings.home.parent / "x.gpkg").exists()


def test_an_unsafe_photo_name_is_refused(client: TestClient, home: FieldHome) -> None:
    files = [*_files(home.crew_copy), ("photos", ("DCIM/../../../evil.jpg", b"\xff\xd8"))]
    body = _refused(client, home, 422, "unsafe_file_name", files=files)
    assert "evil.jpg" in body["message"]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("tasks.gpkg", b"PK\x03\x04 a zip file, not a GeoPackage" * 10),
        ("tasks.gpkg", b"SQLite format 3\x00" + b"\x00" * 200),  # SQLite, no GPKG id
        ("tasks.csv", b"task_id,result\n"),
    ],
)
def test_a_non_geopackage_upload_is_415(
    client: TestClient, home: FieldHome, name: str, content: bytes
) -> None:
    body = _refused(client, home, 415, "not_a_geopackage", files=[("package", (name, content))])
    assert "GeoPackage" in body["message"]


def test_a_body_that_is_not_multipart_is_415(client: TestClient, home: FieldHome) -> None:
    _refused(client, home, 415, "not_multipart", content=home.crew_copy.read_bytes())
