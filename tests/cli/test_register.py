"""`tiandi catalog register` of your own per-band files, then a search with a cloud maximum.

The user story of issue 13: per-band GeoTIFFs of several dates registered one item per
date; a search with a cloud-cover maximum must find them (the cloud cover is computed
from the SCL band, or given), and keep, with one warning, an item whose cover is unknown.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from typer.testing import CliRunner

from tests.fixtures.catalog import write_raster
from tiandi.catalog.search import search_items
from tiandi.catalog.server import EmbeddedStacServer
from tiandi.catalog.store import GeoParquetCatalog
from tiandi.cli.app import app
from tiandi.errors import UnknownCloudCoverWarning
from tiandi.flows.runtime import prefect_environment
from tiandi.settings import Settings

S2 = "sentinel-2-l2a"


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A TIANDI_HOME; the Prefect variables the CLI sets are restored after the test."""
    home = tmp_path / "home"
    for key, value in prefect_environment(Settings(home=home)).items():
        monkeypatch.setenv(key, os.environ.get(key, value))
    monkeypatch.setenv("TIANDI_HOME", str(home))
    return home


def _date_folder(root: Path, day: str, cloudy_fraction: float | None) -> list[Path]:
    """B02 B03 B04 B08 (10 m), B11 B12 (20 m) and, when a fraction is given, SCL (20 m)."""
    folder = root / day
    files = [write_raster(folder / f"{b}.tif") for b in ("B02", "B03", "B04", "B08")]
    files += [write_raster(folder / f"{b}.tif", size=16, resolution=20.0) for b in ("B11", "B12")]
    if cloudy_fraction is not None:
        scl = np.full(16 * 16, 4, dtype="uint8")
        scl[: round(cloudy_fraction * scl.size)] = 9
        path = write_raster(folder / "SCL.tif", size=16, resolution=20.0, dtype="uint8")
        with rasterio.open(path, "r+") as dst:
            dst.write(scl.reshape(1, 16, 16))
        files.append(path)
    return files


def _register(files: list[Path], item_id: str, day: str, *extra: str) -> str:
    result = CliRunner().invoke(
        app,
        [
            "catalog", "register", *map(str, files), "--id", item_id,
            "--datetime", f"{day}T03:05:41Z", "--collection", S2, *extra,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.output


def test_registered_own_rasters_are_found_by_a_cloud_limited_search(
    home: Path, tmp_path: Path
) -> None:
    dates = {"2025-03-02": 0.0, "2025-03-12": 0.25, "2025-04-01": 0.5, "2025-04-21": 0.875}
    for day, fraction in dates.items():
        out = _register(_date_folder(tmp_path / "bands", day, fraction), f"s2-{day}", day)
        assert f"cloud cover {fraction * 100:g} %" in out
    out = _register(
        _date_folder(tmp_path / "bands", "2025-05-01", None), "s2-2025-05-01", "2025-05-01",
        "--cloud-cover", "12.5",
    )  # fmt: skip
    assert "cloud cover 12.5 %" in out
    out = _register(_date_folder(tmp_path / "bands", "2025-05-11", None), "s2-no-scl", "2025-05-11")
    assert "cloud cover unknown" in out

    catalog = Settings(home=home).catalog_path
    covers = {i.id: i.properties.get("eo:cloud_cover") for i in GeoParquetCatalog(catalog).items()}
    assert covers == {
        "s2-2025-03-02": 0.0, "s2-2025-03-12": 25.0, "s2-2025-04-01": 50.0,
        "s2-2025-04-21": 87.5, "s2-2025-05-01": 12.5, "s2-no-scl": None,
    }  # fmt: skip

    with (
        EmbeddedStacServer(catalog, home=home) as server,
        pytest.warns(UnknownCloudCoverWarning, match="s2-no-scl") as caught,
    ):
        found = search_items(
            server.url,
            collections=[S2],
            bbox=(115.0, 39.0, 117.0, 41.0),
            datetime="2025-01-01/2025-06-30",
            max_cloud_cover=80,
        )
    assert [i.id for i in found] == [
        "s2-2025-03-02", "s2-2025-03-12", "s2-2025-04-01", "s2-2025-05-01", "s2-no-scl",
    ]  # fmt: skip
    assert len(caught) == 1 and "1 item(s)" in str(caught[0].message)


def test_register_refuses_a_cloud_cover_out_of_range(home: Path, tmp_path: Path) -> None:
    files = _date_folder(tmp_path / "bands", "2025-03-02", None)
    result = CliRunner().invoke(
        app,
        [
            "catalog", "register", *map(str, files), "--id", "x", "--datetime",
            "2025-03-02T00:00:00Z", "--cloud-cover", "150",
        ],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "between 0 and 100" in result.output
    assert not Settings(home=home).catalog_path.exists()
