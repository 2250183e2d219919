"""The review page's files: served by the service itself, with a clear error before setup."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tiandi.redline.store.lifecycle import PatchState
from tiandi.redline.vocabulary import ChangeType, HJ1156Class
from tiandi.service import page


def _needs_assets() -> None:
    if page.missing_assets():
        pytest.fail(f"OpenLayers is not installed ({page.OL_DIR}): run `make setup`")


def test_root_redirects_to_the_page(client: TestClient) -> None:
    got = client.get("/", follow_redirects=False)
    assert got.status_code == 307 and got.headers["location"] == "/review/"


def test_page_and_map_library_are_served_locally(client: TestClient) -> None:
    _needs_assets()
    html = client.get("/review/")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "vendor/ol.js" in html.text and "http" not in html.text.split("<body")[0]
    ol = client.get("/review/vendor/ol.js")
    assert ol.status_code == 200 and "javascript" in ol.headers["content-type"]
    assert len(ol.content) > 100_000
    assert client.get("/review/vendor/ol.css").status_code == 200
    assert client.get("/review/vendor/package.json").status_code == 404


def test_page_modules_are_served(client: TestClient) -> None:
    for path in sorted(page.STATIC_DIR.iterdir()):
        got = client.get(f"/review/static/{path.name}")
        assert got.status_code == 200, path.name


def test_no_page_file_links_outside_the_service() -> None:
    for path in page.STATIC_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        assert "://" not in text.replace("http://www.w3.org", ""), path.name


def test_missing_map_library_says_to_run_make_setup(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gone = tmp_path / "node_modules" / "ol" / "dist" / "ol.js"
    monkeypatch.setitem(page.VENDOR_FILES, "ol.js", (gone, "text/javascript"))
    for url in ("/review/", "/review/vendor/ol.js"):
        got = client.get(url)
        assert got.status_code == 503
        assert "make setup" in got.text and str(gone) in got.text


def test_page_labels_cover_every_class_state_and_change_type() -> None:
    text = (page.STATIC_DIR / "i18n.js").read_text(encoding="utf-8")
    for value in [*HJ1156Class, *PatchState, *ChangeType]:
        assert f'"{value.value}"' in text, value
    for cls in HJ1156Class:
        assert f'"{cls.zh}"' in text, cls
    for state in PatchState:
        assert f'"{state.zh}"' in text, state
