"""fetch_cdse against a fake Copernicus Data Space whose Process API keeps failing: retried,
then one clear error naming the service and its address, nothing written or registered,
and no credential in any log record."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from pydantic import SecretStr

from tests.fixtures.fake_cdse import CLIENT_ID, CLIENT_SECRET, fake_cdse
from tiandi.catalog.register import EmbeddedRegistrar
from tiandi.catalog.store import GeoParquetCatalog
from tiandi.eo.cdse.fetch import fetch_cdse, fetch_grid
from tiandi.errors import InputError, ServiceError
from tiandi.settings import Settings

PERIOD = (dt.datetime(2025, 4, 1, tzinfo=dt.UTC), dt.datetime(2025, 5, 31, tzinfo=dt.UTC))


def _zones() -> gpd.GeoDataFrame:
    box = shapely.box(117.0, 40.0, 117.004, 40.003)
    return gpd.GeoDataFrame({"zone_id": ["Z1"]}, geometry=[box], crs="EPSG:4326")


def test_process_api_5xx_is_retried_then_one_error_and_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake is http on loopback
    caplog.set_level(logging.DEBUG)
    with fake_cdse(process_status=503) as fake:
        settings = Settings(
            home=tmp_path / "home", cdse_base_url=fake.url, cdse_token_url=fake.token_url,
            cdse_client_id=SecretStr(CLIENT_ID), cdse_client_secret=SecretStr(CLIENT_SECRET),
        )  # fmt: skip
        catalog = GeoParquetCatalog(settings.catalog_path)
        with pytest.raises(ServiceError) as caught:
            fetch_cdse(
                _zones(), PERIOD, settings, EmbeddedRegistrar(catalog), attempts=2,
                retry_sleep_s=0.01,
            )  # fmt: skip
        seen = fake.state()
    message = str(caught.value)
    assert f"Process API {fake.url}/api/v1/process failed after 2 attempts" in message
    assert "HTTP 503" in message and "nothing was registered" in message
    assert len(seen["process"]) == 2  # the first tile, tried twice; nothing after it
    assert not settings.catalog_path.exists()
    assert not settings.cdse_path.exists() or not any(settings.cdse_path.iterdir())
    assert CLIENT_SECRET not in caplog.text and CLIENT_SECRET not in message
    assert "access_token" not in caplog.text


def test_grid_is_utm_10m_snapped_and_tiled() -> None:
    grid = fetch_grid(_zones(), max_tile_px=20)
    assert grid.epsg == 32650
    x0, y0, x1, y1 = grid.geobox.boundingbox
    assert all(v % 10 == 0 for v in (x0, y0, x1, y1))
    rows, cols = grid.geobox.shape
    assert sum(t.size[0] * t.size[1] for t in grid.tiles) == rows * cols
    assert max(max(t.size) for t in grid.tiles) <= 20
    with pytest.raises(InputError, match="2500"):
        fetch_grid(_zones(), max_tile_px=4000)
