"""Composite storage: uint16 reflectance x 10000 round trip, no data kept as NaN."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_zeros

from tiandi.eo.cog import write_cog
from tiandi.eo.storage import _reflectance, as_read_back, read_composite, write_composite
from tiandi.errors import InputError


def _composite() -> xr.Dataset:
    gbox = GeoBox.from_bbox((400_000, 4_459_360, 400_640, 4_460_000), "EPSG:32650", resolution=10)
    rng = np.random.default_rng(0)
    template = xr_zeros(gbox, dtype="float32", chunks=(32, 32))
    bands = {}
    for name in ("B02", "B03", "B04", "B08", "B11", "B12"):
        values = rng.uniform(0.01, 0.5, template.shape).astype("float32")
        values[:5, :5] = np.nan
        bands[name] = template.copy(data=values)
    count = template.copy(data=np.full(template.shape, 3, dtype="uint8")).astype("uint8")
    count[:5, :5] = 0
    return xr.Dataset({**bands, "clear_count": count})


def test_composite_round_trip_keeps_reflectance_to_1e4(tmp_path: Path) -> None:
    original = _composite()
    path = write_composite(original, tmp_path / "c.tif", tags={"tiandi:period": "before"})
    with rasterio.open(path) as src:
        assert src.dtypes[0] == "uint16" and src.nodata == 0
        assert src.tags()["scale_factor"] == "0.0001"
    back = read_composite(path, chunk=32)
    b04 = back["B04"].values
    assert np.isnan(b04[:5, :5]).all()
    np.testing.assert_allclose(b04[5:], original["B04"].values[5:], atol=0.6e-4)
    assert int(back["clear_count"].values[0, 0]) == 0 and int(back["clear_count"].values[9, 9]) == 3
    assert "ndvi" in back and back["B04"].dtype == np.float32


def test_as_read_back_is_what_read_composite_returns_of_the_written_file(tmp_path: Path) -> None:
    original = _composite()
    original = original.chunk({"y": 32, "x": 32})
    back = read_composite(write_composite(original, tmp_path / "c.tif"), chunk=32)
    direct = as_read_back(original)
    assert list(direct.data_vars) == list(back.data_vars)
    for name in back.data_vars:
        assert direct[name].dtype == back[name].dtype, name
        assert direct[name].chunks == back[name].chunks, name
        np.testing.assert_array_equal(direct[name].values, back[name].values, err_msg=str(name))


def test_stored_values_become_the_float64_quotient_rounded_to_float32() -> None:
    stored = np.arange(65536, dtype=np.uint16)
    expected = (stored.astype(np.float64) / 10_000).astype(np.float32)
    expected[0] = np.nan
    np.testing.assert_array_equal(_reflectance(stored), expected)


def test_a_file_without_the_clear_count_is_not_taken_for_a_composite(tmp_path: Path) -> None:
    other = _composite().drop_vars("clear_count")
    path = write_cog(other, tmp_path / "bands.tif", nodata=0, dtype="uint16")
    with pytest.raises(InputError, match=r"bands\.tif is not a composite \(no clear_count"):
        read_composite(path)
