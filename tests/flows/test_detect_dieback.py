"""detect_dieback on a synthetic multi-year forest series (tests/fixtures/dieback.py):
the dying stand is found, provisional on one date and confirmed on the next (a later
run updates the same patch identity in the store), the clear-cut is left to the
human-activity path, the seasonal cycle raises nothing, and a baseline without a clear
observation is an explicit no-data naming the zone and the years."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.features import shapes
from shapely.geometry import shape
from shapely.ops import unary_union

from tests.fixtures import dieback as fx
from tests.fixtures.flow import Services
from tiandi.catalog.store import GeoParquetCatalog
from tiandi.errors import NoDataError
from tiandi.flows.detect_dieback import DetectDiebackRequest, detect_dieback
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.store.open import open_store
from tiandi.settings import Settings

pytestmark = pytest.mark.slow


def _settings(services: Services, root: Path, *, cloudy_baseline: bool = False) -> Settings:
    settings = services.settings.model_copy(update={"home": root / "home"})
    items = fx.make_series(root / "items", cloudy_baseline=cloudy_baseline)
    GeoParquetCatalog(settings.catalog_path).add(items)
    return settings


def _request(root: Path, out: str, period: str, **kw: object) -> DetectDiebackRequest:
    zones = root / "zones.gpkg"
    if not zones.exists():
        fx.zones().to_file(zones, layer="zones")  # type: ignore[attr-defined]
    return DetectDiebackRequest(zones=zones, period=period, out=root / out, chunk=256, **kw)  # type: ignore[arg-type]


def _stand_polygon(mask: np.ndarray) -> object:
    transform = rasterio.transform.from_origin(fx.X0, fx.Y0, 10.0, 10.0)
    polys = [shape(g) for g, v in shapes(mask.astype("uint8"), mask=mask, transform=transform)]
    return gpd.GeoSeries([unary_union(polys)], crs="EPSG:32650").to_crs("EPSG:4490").iloc[0]


def test_stand_provisional_then_confirmed_clear_cut_left_out(
    services: Services, tmp_path: Path
) -> None:
    settings = _settings(services, tmp_path)
    store = open_store(settings)
    # run A: 06-10 normal, 07-05 dying: one anomalous date, provisional
    first = detect_dieback(
        _request(tmp_path, "run-a", "2025-06-01/2025-07-10", record=True), settings
    )
    assert list(first.patches["alert_status"]) == ["provisional"]
    assert list(first.clear_cuts["screen_reason"]) == ["clear_cut"]
    [uid] = store.list_patches()["patch_uid"]
    before = store.get(uid)
    # run B, the whole season: 07-05 and 07-30 in a row confirm it; same identity, updated
    result = detect_dieback(_request(tmp_path, "full", fx.PERIOD, record=True), settings)
    layout = RunLayout(result.out)
    patches = gpd.read_file(layout.patches, layer="patches")
    screened = gpd.read_file(layout.patches, layer="screened")
    assert len(patches) == 1, patches
    p = patches.iloc[0]
    assert (p.change_type, p.hj1156_class, p.alert_status) == ("dieback", "other", "confirmed")
    assert (p.first_date, p.last_date, p.n_anomalous_dates) == ("2025-07-05", "2025-07-30", 2)
    assert p.max_z > 5 and 0.7 <= p.confidence <= 1.0
    stand = _stand_polygon(fx.STAND)
    geom = patches.geometry.iloc[0]
    assert geom.intersection(stand).area / geom.union(stand).area > 0.8
    stored = store.list_patches()
    assert list(stored["patch_uid"]) == [uid]
    assert stored["change_type"].iloc[0] == "dieback" and stored["n_detections"].iloc[0] == 2
    assert stored["confidence"].iloc[0] > before.attributes["confidence"]
    # the clear-cut: bare soil with straight edges, an HJ 1156 change, not dieback
    assert list(screened["screen_reason"]) == ["clear_cut"]
    assert screened.geometry.iloc[0].intersection(_stand_polygon(fx.CUT)).area > 0
    # the seasonal cycle and year-to-year phenology raised nothing else
    with rasterio.open(layout.dieback_status) as src:
        status = src.read(1)
    alert = (status == 1) | (status == 2)
    assert not (alert & ~fx.STAND & ~fx.CUT).any()
    assert result.summary["n_confirmed"] == 1 and result.summary["no_data_zones"] == []
    assert layout.composite("before").is_file() and layout.dieback_max_z.is_file()


def test_baseline_without_clear_observation_is_no_data_naming_zone_and_years(
    services: Services, tmp_path: Path
) -> None:
    settings = _settings(services, tmp_path, cloudy_baseline=True)
    request = _request(tmp_path, "out", fx.PERIOD)
    with pytest.raises(NoDataError) as info:
        detect_dieback(request, settings)
    message = str(info.value)
    for word in ("Z1", "2022", "2023", "2024", "baseline"):
        assert word in message, message
    assert not request.out.exists()
