"""The mask choice of the composite: Landsat QA_PIXEL (bands rescaled from their
raster:bands scale/offset) and the sun position used by the L1C shadow projection."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from affine import Affine
from odc.geo.geobox import GeoBox

from tiandi.catalog.providers.normalise import mask_kind, normalise_item
from tiandi.catalog.providers.profiles import PROFILES
from tiandi.eo.composite import composite_period
from tiandi.eo.masks import sun_angles, with_cloud_masks
from tiandi.errors import InputError

SIZE, RES, X0, Y0 = 64, 30.0, 400_000.0, 4_460_000.0
TRANSFORM = Affine(RES, 0.0, X0, 0.0, -RES, Y0)
PC_LANDSAT = {"blue": 100, "green": 200, "red": 300, "nir08": 400, "swir16": 500, "swir22": 600}
CLEAR_QA = 1 << 6  # bit 6: clear
CLOUD_QA = (1 << 3) | (1 << 1)  # bits 3 (cloud) and 1 (dilated cloud)


def _tif(path: Path, data: np.ndarray) -> str:  # type: ignore[type-arg]
    with rasterio.open(
        path, "w", driver="GTiff", width=SIZE, height=SIZE, count=1, dtype=data.dtype.name,
        crs="EPSG:32650", transform=TRANSFORM, nodata=0,
    ) as dst:  # fmt: skip
        dst.write(data, 1)
    return str(path)


def _landsat_item(tmp: Path, name: str, day: int, cloudy_left: bool) -> pystac.Item:
    """A Planetary Computer-shaped landsat-c2-l2 item: common-name keys, qa_pixel."""
    folder = tmp / name
    folder.mkdir()
    item = pystac.Item(
        name, {"type": "Polygon", "coordinates": [[[115.8, 40.2], [115.9, 40.2], [115.9, 40.3],
        [115.8, 40.3], [115.8, 40.2]]]}, [115.8, 40.2, 115.9, 40.3],
        datetime(2025, 6, day, 3, tzinfo=UTC),
        {"platform": "landsat-9", "proj:epsg": 32650, "view:sun_azimuth": 130.0,
         "view:sun_elevation": 60.0},
        collection="landsat-c2-l2",
    )  # fmt: skip
    for key, refl_x1000 in PC_LANDSAT.items():
        dn = round((refl_x1000 / 1000 + 0.2) / 2.75e-5)  # reflectance -> C2 L2 DN
        href = _tif(folder / f"{key}.tif", np.full((SIZE, SIZE), dn, dtype=np.uint16))
        item.add_asset(key, pystac.Asset(href, media_type=pystac.MediaType.COG, extra_fields={
            "raster:bands": [{"nodata": 0, "data_type": "uint16", "spatial_resolution": 30,
                              "scale": 2.75e-05, "offset": -0.2}],
            "proj:transform": list(TRANSFORM)[:6], "proj:shape": [SIZE, SIZE]}))  # fmt: skip
    qa = np.full((SIZE, SIZE), CLEAR_QA, dtype=np.uint16)
    if cloudy_left:
        qa[:, : SIZE // 2] = CLOUD_QA
    item.add_asset("qa_pixel", pystac.Asset(_tif(folder / "qa.tif", qa),
        media_type=pystac.MediaType.COG, extra_fields={"raster:bands": [
            {"nodata": 1, "data_type": "uint16", "spatial_resolution": 30}],
            "proj:transform": list(TRANSFORM)[:6], "proj:shape": [SIZE, SIZE]}))  # fmt: skip
    return normalise_item(item, PROFILES["planetary-computer"])


def test_landsat_composite_uses_qa_pixel_and_raster_scale(tmp_path: Path) -> None:
    items = [
        _landsat_item(tmp_path, "LC09_a", 1, cloudy_left=True),
        _landsat_item(tmp_path, "LC09_b", 17, cloudy_left=False),
    ]
    assert mask_kind(items) == "qa_pixel"
    grid = GeoBox((SIZE, SIZE), TRANSFORM, "EPSG:32650")
    masked = with_cloud_masks(items, grid, "qa_pixel", tmp_path / "masks")
    result = composite_period(masked, grid, chunk=64, dilate_px=0).compute()
    count = result["clear_count"].values
    assert (count[:, : SIZE // 2] == 1).all() and (count[:, SIZE // 2 :] == 2).all()
    for key, band in (("blue", "B02"), ("red", "B04"), ("nir08", "B08"), ("swir22", "B12")):
        np.testing.assert_allclose(result[band].values, PC_LANDSAT[key] / 1000, atol=2e-4)


def test_landsat_without_scale_is_refused_before_writing(tmp_path: Path) -> None:
    item = _landsat_item(tmp_path, "LC09_c", 1, cloudy_left=False)
    item.assets["B04"].extra_fields["raster:bands"] = [{"nodata": 0}]
    grid = GeoBox((SIZE, SIZE), TRANSFORM, "EPSG:32650")
    with pytest.raises(InputError, match=r"LC09_c.*B04.*landsat-c2-l2"):
        with_cloud_masks([item], grid, "qa_pixel", tmp_path / "masks")
    assert not list((tmp_path / "masks").iterdir())


def test_sun_angles_from_properties_or_computed() -> None:
    grid = GeoBox((SIZE, SIZE), TRANSFORM, "EPSG:32650")  # about 115.8 E, 40.3 N
    item = pystac.Item("x", None, None, datetime(2025, 6, 21, 4, 0, tzinfo=UTC), {})
    azimuth, zenith = sun_angles(item, grid)
    # Solar noon at 115.8 E is about 04:15 UTC; on the solstice at 40.3 N the noon zenith is
    # 40.3 - 23.44 = 16.9 deg: a quarter-hour before noon the sun is a little east of south.
    assert 15.0 < zenith < 20.0 and 120.0 < azimuth < 180.0
    item.properties.update({"view:sun_azimuth": 130.0, "view:sun_elevation": 60.0})
    assert sun_angles(item, grid) == (130.0, 30.0)
