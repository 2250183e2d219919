"""`tiandi ingest s2 PATH...`: a folder of SAFE products and zips into the embedded catalog."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.fixtures.safe import Product, make_safe
from tiandi.catalog.store import GeoParquetCatalog
from tiandi.cli.app import app
from tiandi.flows.runtime import prefect_environment
from tiandi.settings import Settings


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A TIANDI_HOME; the Prefect variables the CLI sets are restored after the test."""
    home = tmp_path / "home"
    for key, value in prefect_environment(Settings(home=home)).items():
        monkeypatch.setenv(key, os.environ.get(key, value))
    monkeypatch.setenv("TIANDI_HOME", str(home))
    return home


def test_ingest_s2_registers_a_folder_of_products(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()
    make_safe(folder, Product(baseline="03.01", sensing="2021-04-12T03:05:41"))
    make_safe(folder, Product(baseline="05.11"), as_zip=True)
    l1c = make_safe(tmp_path, Product(level="L1C"))
    result = CliRunner().invoke(app, ["ingest", "s2", str(folder), str(l1c)])
    assert result.exit_code == 0, result.output
    assert "3 products registered" in result.output
    assert "baseline 03.01" in result.output and "cloud 3.25 %" in result.output
    items = GeoParquetCatalog(Settings(home=home).catalog_path).items()
    assert sorted((i.collection_id, i.properties["s2:processing_baseline"]) for i in items) == [
        ("sentinel-2-l1c", "05.11"),
        ("sentinel-2-l2a", "03.01"),
        ("sentinel-2-l2a", "05.11"),
    ]


def test_ingest_s2_bad_product_is_one_message_and_registers_nothing(
    home: Path, tmp_path: Path
) -> None:
    good = make_safe(tmp_path, Product())
    bad = make_safe(tmp_path / "bad", Product(omit=("B11",)))
    result = CliRunner().invoke(app, ["ingest", "s2", str(good), str(bad)])
    assert result.exit_code == 2
    assert "B11" in result.output and "Traceback" not in result.output
    assert not Settings(home=home).catalog_path.exists()


def test_ingest_s2_cog_option_writes_cogs(home: Path, tmp_path: Path) -> None:
    product = make_safe(tmp_path, Product(), as_zip=True)
    cogs = tmp_path / "cogs"
    result = CliRunner().invoke(app, ["ingest", "s2", str(product), "--cog", str(cogs)])
    assert result.exit_code == 0, result.output
    (item,) = GeoParquetCatalog(Settings(home=home).catalog_path).items()
    assert item.assets["B04"].href == (cogs / item.id / "B04.tif").as_uri()
    assert len(list((cogs / item.id).glob("*.tif"))) == 13
