"""Bad input to detect_changes: one clear error naming the input, and no output left."""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from tests.fixtures.flow import Services
from tiandi.errors import InputError, NoDataError, TiandiError
from tiandi.flows.detect_changes import detect_changes

pytestmark = pytest.mark.slow


def _fails(
    services: Services, out: Path, error: type[TiandiError], *words: str, **req: object
) -> str:
    with pytest.raises(error) as info:
        detect_changes(services.request(out, **req), services.configured)
    message = str(info.value)
    for word in words:
        assert word in message, message
    assert not out.exists(), "a failed run left an output folder"
    assert not list(out.parent.glob(f".{out.name}*")), "a failed run left a staging folder"
    return message


def test_missing_zones_file(services: Services, tmp_path: Path) -> None:
    missing = tmp_path / "nope.gpkg"
    _fails(services, tmp_path / "out", InputError, str(missing), zones=missing)


def test_empty_zones_file(services: Services, tmp_path: Path) -> None:
    empty = tmp_path / "empty.gpkg"
    gpd.GeoDataFrame({"name": []}, geometry=[], crs="EPSG:4490").to_file(empty, layer="zones")
    _fails(services, tmp_path / "out", InputError, str(empty), zones=empty)


def test_unreadable_zones_file(services: Services, tmp_path: Path) -> None:
    bad = tmp_path / "zones.gpkg"
    bad.write_text("this is not a GeoPackage")
    _fails(services, tmp_path / "out", InputError, str(bad), zones=bad)


def test_zones_without_crs(services: Services, tmp_path: Path) -> None:
    shp = tmp_path / "zones.shp"
    gpd.GeoDataFrame({"name": ["a"]}, geometry=[box(0, 0, 1, 1)]).to_file(shp)
    _fails(services, tmp_path / "out", InputError, "coordinate reference system", zones=shp)


def test_zones_outside_imagery(services: Services, tmp_path: Path) -> None:
    far = tmp_path / "far.gpkg"
    gpd.GeoDataFrame(
        {"name": ["far"]}, geometry=[box(80, 30, 80.1, 30.1)], crs="EPSG:4490"
    ).to_file(far, layer="zones")
    _fails(services, tmp_path / "out", NoDataError, str(far), "outside the imagery", zones=far)


def test_no_items_in_period(services: Services, tmp_path: Path) -> None:
    _fails(
        services,
        tmp_path / "out",
        NoDataError,
        "2019-01-01/2019-06-30",
        before="2019-01-01/2019-06-30",
    )


def test_period_without_clear_observation(services: Services, tmp_path: Path) -> None:
    """A period whose only scene is all cloud: no composite, never 'no change'."""
    import rasterio

    from tiandi.catalog.items import asset_path, item_from_rasters
    from tiandi.demo.scene_catalog import scene_items

    source = scene_items(services.scene)[-1]
    cloudy = tmp_path / "cloudy"
    cloudy.mkdir()
    assets = {}
    for name, asset in source.assets.items():
        dst = cloudy / asset_path(asset).name
        shutil.copy(asset_path(asset), dst)
        assets[name] = dst
    with rasterio.open(asset_path(source.assets["SCL"])) as scl:
        profile, shape = scl.profile, scl.shape
    profile.update(driver="GTiff")
    with rasterio.open(assets["SCL"], "w", **profile) as scl:
        scl.write(np.full(shape, 9, dtype="uint8"), 1)
    item = item_from_rasters(
        "cloudy-only",
        assets,
        datetime=source.datetime,  # type: ignore[arg-type]
        collection="cloudy-test",
        properties={**source.properties, "eo:cloud_cover": 100.0},
    )
    services.registrar.register([item])
    period = f"{source.datetime:%Y-%m-%d}/{source.datetime:%Y-%m-%d}T23:59:59Z"  # type: ignore[union-attr]
    _fails(
        services,
        tmp_path / "out",
        NoDataError,
        "clear",
        collection="cloudy-test",
        before=period,
        after=period,
        max_cloud_cover=100.0,
    )


def test_unreadable_raster(services: Services, tmp_path: Path) -> None:
    from tiandi.catalog.items import asset_path, item_from_rasters
    from tiandi.demo.scene_catalog import scene_items

    items = scene_items(services.scene)
    broken_dir = tmp_path / "broken"
    broken_dir.mkdir()
    broken = []
    for source in items:
        assets = {}
        for name, asset in source.assets.items():
            dst = broken_dir / f"{source.id}-{asset_path(asset).name}"
            shutil.copy(asset_path(asset), dst)
            assets[name] = dst
        item = item_from_rasters(
            source.id,
            assets,
            datetime=source.datetime,  # type: ignore[arg-type]
            collection="broken-test",
            properties=source.properties,
        )
        broken.append((item, assets))
    services.registrar.register([i for i, _ in broken])
    clearest = min(broken, key=lambda pair: float(pair[0].properties["eo:cloud_cover"]))
    victim = clearest[1]["B04"]
    victim.write_bytes(victim.read_bytes()[:2000])  # truncated after registration
    _fails(services, tmp_path / "out", InputError, victim.name, collection="broken-test")


def test_request_with_a_bad_period_is_refused_before_any_work(tmp_path: Path) -> None:
    from tiandi.flows.detect_changes import DetectChangesRequest

    with pytest.raises(InputError, match="after period '2025-07-01'"):
        DetectChangesRequest(
            zones=tmp_path / "z.gpkg", before="2025-01-01/2025-06-30", after="2025-07-01",
            out=tmp_path / "out",
        )  # fmt: skip


def test_unreadable_truth_file_is_named(tmp_path: Path) -> None:
    from tiandi.redline.accuracy.truth import read_truth

    bad = tmp_path / "truth.gpkg"
    bad.write_text("not vector data")
    with pytest.raises(InputError, match=r"truth\.gpkg"):
        read_truth(bad)
