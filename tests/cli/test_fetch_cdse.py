"""`tiandi fetch cdse`: Sentinel-2 L2A from a fake Copernicus Data Space (Catalog + Process
API and OAuth on loopback, recorded responses) into the embedded catalog, read back by the
composite; and the command's bad input (credentials missing or refused, no scene)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from pydantic import SecretStr
from typer.testing import CliRunner

from tests.fixtures.fake_cdse import CLIENT_ID, CLIENT_SECRET, FakeCdse, expected_band, fake_cdse
from tiandi.catalog.items import asset_path
from tiandi.catalog.register import EmbeddedRegistrar
from tiandi.catalog.store import GeoParquetCatalog
from tiandi.cli.app import app
from tiandi.eo.cdse.credentials import load_credentials
from tiandi.eo.cdse.fetch import fetch_cdse, fetch_grid
from tiandi.eo.composite import DEFAULT_BANDS, composite_period
from tiandi.errors import ServiceError
from tiandi.flows.runtime import prefect_environment
from tiandi.redline.zones.read import read_zones
from tiandi.settings import Settings

PERIOD = "2025-04-01/2025-05-31"
PERIOD_DT = (dt.datetime(2025, 4, 1, tzinfo=dt.UTC), dt.datetime(2025, 5, 31, tzinfo=dt.UTC))
TILE_PX = 32  # the zones' grid is 72 x 66 px: 3 x 3 tiles per acquisition
_ENV = ("TIANDI_CDSE_CLIENT_ID", "TIANDI_CDSE_CLIENT_SECRET", "SH_CLIENT_ID", "SH_CLIENT_SECRET",
        "TIANDI_CDSE_SECRETS_FILE")  # fmt: skip


@pytest.fixture(scope="module")
def cdse() -> Iterator[FakeCdse]:
    with fake_cdse() as fake:
        yield fake


@pytest.fixture()
def zones(tmp_path: Path) -> Path:
    """One red-line zone of about 510 x 445 m near 117.0 E 40.0 N (UTM 50N)."""
    path = tmp_path / "zones.geojson"
    ring = [[117.0, 40.0], [117.006, 40.0], [117.006, 40.004], [117.0, 40.004], [117.0, 40.0]]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"zone_id": "HB-001", "name": "test zone"},
        "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))  # fmt: skip
    return path


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cdse: FakeCdse) -> Path:
    """TIANDI_HOME and the fake's addresses; no credentials (each test sets its own)."""
    home = tmp_path / "home"
    for key, value in prefect_environment(Settings(home=home)).items():
        monkeypatch.setenv(key, os.environ.get(key, value))
    monkeypatch.setenv("TIANDI_HOME", str(home))
    monkeypatch.setenv("TIANDI_CDSE_BASE_URL", cdse.url)
    monkeypatch.setenv("TIANDI_CDSE_TOKEN_URL", cdse.token_url)
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake is http on loopback
    for key in _ENV:
        monkeypatch.delenv(key, raising=False)
    return home


def _fetch(zones: Path, *extra: str) -> Any:
    args = ["fetch", "cdse", "--zones", str(zones), "--period", PERIOD, "--tile-px", str(TILE_PX)]
    return CliRunner().invoke(app, [*args, *extra])


def _nothing_written(home: Path) -> None:
    assert not Settings(home=home).catalog_path.exists()
    cdse = Settings(home=home).cdse_path
    assert not cdse.exists() or not any(cdse.iterdir()), list(cdse.iterdir())


def test_fetch_registers_two_acquisitions_the_composite_reads(
    env: Path, zones: Path, cdse: FakeCdse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SH_CLIENT_SECRET", CLIENT_SECRET)
    before = len(cdse.state()["process"])
    result = _fetch(zones)
    assert result.exit_code == 0, result.output
    assert CLIENT_SECRET not in result.output and CLIENT_ID not in result.output
    items = GeoParquetCatalog(Settings(home=env).catalog_path).items()
    assert [i.datetime.date().isoformat() for i in items] == ["2025-04-12", "2025-05-07"]
    grid = fetch_grid(read_zones(zones), max_tile_px=TILE_PX)
    sizes = [(b["output"]["width"], b["output"]["height"]) for b in cdse.state()["process"]]
    assert len(sizes) - before == 2 * len(grid.tiles) == 18
    assert max(max(s) for s in sizes[before:]) <= TILE_PX
    for item in items:
        assert item.collection_id == "sentinel-2-l2a"
        assert set(item.assets) == {*DEFAULT_BANDS, "SCL"}
        assert item.properties["proj:code"] == "EPSG:32650"
        assert item.properties["s2:boa_add_offset"] == 0
        band = item.assets["B04"].extra_fields["raster:bands"][0]
        assert (band["scale"], band["offset"], band["nodata"]) == (0.0001, 0.0, 0)
    assert items[0].properties["eo:cloud_cover"] == pytest.approx(25.0, abs=3.0)
    assert items[1].properties["eo:cloud_cover"] == 0.0
    # every pixel of every tile where the fake put it (tiles stitched on the grid)
    xs, ys = grid.geobox.coordinates["x"].values, grid.geobox.coordinates["y"].values
    gx, gy = np.meshgrid(xs, ys)
    with rasterio.open(asset_path(items[1].assets["B04"])) as src:
        assert src.profile["tiled"] and src.transform == grid.geobox.transform
        np.testing.assert_array_equal(src.read(1), expected_band(2, 1, gx, gy))
    composite = composite_period(items, grid.geobox, chunk=256).compute()
    col = np.floor(gx / 10).astype(int) % 40
    day0, day1 = (expected_band(2, s, gx, gy) / 10000.0 for s in (0, 1))
    red = composite["B04"].values
    np.testing.assert_allclose(red[col < 10], day1[col < 10], atol=1e-6)  # day 0 cloudy
    clear = (col >= 13) & (col < 37)  # beyond the 2 px dilation of the cloud
    np.testing.assert_allclose(red[clear], ((day0 + day1) / 2)[clear], atol=1e-4)


def test_missing_credentials_name_the_variables(env: Path, zones: Path) -> None:
    result = _fetch(zones)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    for name in ("TIANDI_CDSE_CLIENT_ID", "TIANDI_CDSE_CLIENT_SECRET", "SH_CLIENT_ID"):
        assert name in text
    _nothing_written(env)


def test_secrets_file_readable_by_others_is_refused(
    env: Path, zones: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "cdse.env"
    secrets.write_text(f"client_id={CLIENT_ID}\nclient_secret={CLIENT_SECRET}\n")
    secrets.chmod(0o644)
    monkeypatch.setenv("TIANDI_CDSE_SECRETS_FILE", str(secrets))
    result = _fetch(zones)
    assert result.exit_code == 2 and "chmod 600" in result.output, result.output
    assert CLIENT_SECRET not in result.output
    secrets.chmod(0o600)  # the same file, now private: it is used, and never shown
    credentials = load_credentials(Settings(home=env, cdse_secrets_file=secrets))
    assert (credentials.client_id, credentials.client_secret) == (CLIENT_ID, CLIENT_SECRET)
    assert CLIENT_SECRET not in repr(credentials) and CLIENT_ID not in repr(credentials)


def test_wrong_credentials_401_registers_nothing(
    env: Path, zones: Path, monkeypatch: pytest.MonkeyPatch, cdse: FakeCdse
) -> None:
    monkeypatch.setenv("TIANDI_CDSE_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("TIANDI_CDSE_CLIENT_SECRET", "wrong-secret-zz9")
    result = _fetch(zones)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "refused the client credentials" in text and cdse.token_url in text, text
    assert "wrong-secret-zz9" not in result.output
    _nothing_written(env)


def test_no_scene_in_the_period_is_a_clear_message(
    env: Path, zones: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SH_CLIENT_SECRET", CLIENT_SECRET)
    args = ["fetch", "cdse", "--zones", str(zones), "--period", "2024-01-01/2024-02-01"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 3, result.output
    text = " ".join(result.output.split())
    assert "has no sentinel-2-l2a scene" in text and "2024-01-01" in text, text
    _nothing_written(env)


def test_process_api_5xx_is_retried_then_one_error_and_nothing_written(
    env: Path, zones: Path, caplog: pytest.LogCaptureFixture, cdse: FakeCdse
) -> None:
    """fetch_cdse itself: retried, then one error naming the service and its address,
    nothing written or registered, no credential in any log record (DEBUG included)."""
    caplog.set_level(logging.DEBUG)
    fake = cdse
    zones_frame = read_zones(zones)
    before = len(fake.state()["process"])
    with fake.failing(503):
        settings = Settings(
            home=env, cdse_base_url=fake.url, cdse_token_url=fake.token_url,
            cdse_client_id=SecretStr(CLIENT_ID), cdse_client_secret=SecretStr(CLIENT_SECRET),
        )  # fmt: skip
        catalog = GeoParquetCatalog(settings.catalog_path)
        with pytest.raises(ServiceError) as caught:
            fetch_cdse(
                zones_frame, PERIOD_DT, settings, EmbeddedRegistrar(catalog), attempts=2,
                retry_sleep_s=0.01,
            )  # fmt: skip
        seen = fake.state()
    message = str(caught.value)
    assert f"Process API {fake.url}/api/v1/process failed after 2 attempts" in message
    assert "HTTP 503" in message and "nothing was registered" in message
    assert len(seen["process"]) - before == 2  # the first tile, tried twice; nothing after it
    assert not settings.catalog_path.exists()
    assert not settings.cdse_path.exists() or not any(settings.cdse_path.iterdir())
    assert CLIENT_SECRET not in caplog.text and CLIENT_SECRET not in message
    assert "access_token" not in caplog.text
