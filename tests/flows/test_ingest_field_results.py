"""ingest_field_results without Prefect: what it finds in an inbox and what it reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from tiandi.errors import InputError
from tiandi.flows.ingest_field_results import ingest_inbox, returned_packages
from tiandi.settings import Settings


def test_an_empty_inbox_imports_nothing_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "inbox" / "station-a").mkdir(parents=True)
    settings = Settings(home=tmp_path / "home")
    report = ingest_inbox(tmp_path / "inbox", settings, update_patches=True)
    assert report.imported == report.failed == () and not settings.home.exists()


def test_a_file_that_is_no_package_is_reported_and_the_rest_go_on(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "station-b").mkdir(parents=True)
    (inbox / "station-b" / "junk.gpkg").write_bytes(b"not a geopackage")
    (inbox / "station-a" / ".partial.gpkg").parent.mkdir()
    (inbox / "station-a" / ".partial.gpkg").write_bytes(b"upload in progress")
    assert returned_packages(inbox) == [inbox / "station-b" / "junk.gpkg"]
    report = ingest_inbox(inbox, Settings(home=tmp_path / "home"), update_patches=False)
    [(path, message)] = report.failed
    assert path.endswith("junk.gpkg") and "junk.gpkg" in message
    assert "1 failed" in report.summary()


def test_a_missing_inbox_is_one_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"field inbox .*nowhere is not a folder"):
        returned_packages(tmp_path / "nowhere")
