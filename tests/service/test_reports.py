"""The run report over HTTP: HTML with a no-script policy, PDF, read roles, 404s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.run_folder import make_run_home
from tests.fixtures.service import ServiceHome, bearer
from tiandi.service.app import create_app

XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[ServiceHome, str]:
    made, run_id = make_run_home(tmp_path_factory.mktemp("reports"))
    made.store.transition("TB-03", "rejected", actor="eco", role="ecologist", reason=XSS)
    return made, run_id


@pytest.fixture(scope="module")
def client(home: tuple[ServiceHome, str]) -> Iterator[TestClient]:
    with TestClient(create_app(home[0].settings)) as test_client:
        yield test_client


def test_report_html_of_a_zone_is_escaped_and_allows_no_script(
    client: TestClient, home: tuple[ServiceHome, str]
) -> None:
    made, run_id = home
    got = client.get(
        f"/api/v1/runs/{run_id}/report.html",
        params={"zone": "ZN-1"},
        headers=bearer(made.tokens["platform"]),
    )
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/html")
    assert "script-src" not in got.headers["content-security-policy"]
    assert got.headers["content-security-policy"].startswith("default-src 'none'")
    assert XSS not in got.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in got.text
    assert "图斑" in got.text and "测试保护区" in got.text


def test_report_pdf_is_a_pdf(client: TestClient, home: tuple[ServiceHome, str]) -> None:
    made, run_id = home
    got = client.get(f"/api/v1/runs/{run_id}/report.pdf", headers=bearer(made.tokens["ecologist"]))
    assert got.status_code == 200 and got.headers["content-type"] == "application/pdf"
    assert got.content.startswith(b"%PDF") and len(got.content) > 10_000


def test_report_needs_a_read_role_and_a_known_run_and_zone(
    client: TestClient, home: tuple[ServiceHome, str], tmp_path: Path
) -> None:
    made, run_id = home
    url = f"/api/v1/runs/{run_id}/report.html"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=bearer(made.tokens["field"])).status_code == 403
    headers = bearer(made.tokens["operator"])
    unknown = client.get("/api/v1/runs/nope/report.pdf", headers=headers)
    assert unknown.status_code == 404 and "run 'nope'" in unknown.json()["message"]
    zone = client.get(url, params={"zone": "ZN-9"}, headers=headers)
    assert zone.status_code == 404 and "zone 'ZN-9'" in zone.json()["message"]
