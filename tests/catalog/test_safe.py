"""Sentinel-2 SAFE products (folders and zips, L1C and L2A, any baseline) as STAC items."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from tests.fixtures.eo import FOREST
from tests.fixtures.safe import X0, Y0, Product, make_safe
from tiandi.catalog.items import asset_path
from tiandi.catalog.register import EmbeddedRegistrar
from tiandi.catalog.safe import ingest_safe, open_safe, safe_item
from tiandi.catalog.store import GeoParquetCatalog
from tiandi.eo.composite import composite_period
from tiandi.eo.grid import geobox_for_bounds
from tiandi.errors import InputError

L2A_KEYS = {
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12", "SCL",
}  # fmt: skip
SIZE = 96
GRID = geobox_for_bounds("EPSG:32650", 10.0, (X0, Y0 - SIZE * 10, X0 + SIZE * 10, Y0))


def test_l2a_folder_becomes_one_item_with_canonical_bands(tmp_path: Path) -> None:
    item = safe_item(open_safe(make_safe(tmp_path, Product())))
    assert item.id == "S2B_MSIL2A_20250412T030541_N0511_R075_T50TMK_20250412T061234"
    assert item.collection_id == "sentinel-2-l2a"
    assert set(item.assets) == L2A_KEYS | {"product_metadata"}
    assert (
        item.datetime is not None
        and item.datetime.isoformat() == "2025-04-12T03:05:41.024000+00:00"
    )
    props = item.properties
    assert props["s2:processing_baseline"] == "05.11"
    assert props["s2:boa_add_offset"] == -1000
    assert props["eo:cloud_cover"] == 3.25
    assert props["platform"] == "sentinel-2b" and props["s2:mgrs_tile"] == "50TMK"
    assert props["sat:relative_orbit"] == 75 and props["proj:code"] == "EPSG:32650"
    # each band at its native resolution, not one of the resampled copies
    for key, suffix in {
        "B04": "_B04_10m.jp2",
        "B11": "_B11_20m.jp2",
        "SCL": "_SCL_20m.jp2",
    }.items():
        assert item.assets[key].href.endswith(suffix), key
    assert item.assets["B01"].href.endswith("R60m/T50TMK_20250412T030541_B01_60m.jp2")
    b04 = item.assets["B04"].extra_fields["raster:bands"][0]
    assert b04 == {
        "nodata": 0, "data_type": "uint16", "spatial_resolution": 10.0,
        "scale": 0.0001, "offset": -0.1,
    }  # fmt: skip
    assert item.assets["SCL"].extra_fields["raster:bands"][0]["nodata"] == 0
    assert "scale" not in item.assets["SCL"].extra_fields["raster:bands"][0]
    assert item.assets["B04"].extra_fields["eo:bands"][0]["common_name"] == "red"
    assert item.assets["B11"].extra_fields["proj:shape"] == [48, 48]
    assert item.assets["product_metadata"].href.endswith("MTD_MSIL2A.xml")


def test_old_baseline_has_no_offset(tmp_path: Path) -> None:
    product = Product(baseline="03.01", sensing="2021-04-12T03:05:41")
    item = safe_item(open_safe(make_safe(tmp_path, product)))
    assert item.properties["s2:processing_baseline"] == "03.01"
    assert item.properties["s2:boa_add_offset"] == 0
    assert item.assets["B04"].extra_fields["raster:bands"][0]["offset"] == 0.0


def test_l1c_product_keeps_b10_and_its_radiometric_offset(tmp_path: Path) -> None:
    item = safe_item(open_safe(make_safe(tmp_path, Product(level="L1C"))))
    assert item.collection_id == "sentinel-2-l1c"
    assert set(item.assets) == (L2A_KEYS - {"SCL"}) | {"B10", "product_metadata"}
    assert item.properties["s2:radio_add_offset"] == -1000
    assert "s2:boa_add_offset" not in item.properties
    assert item.assets["B04"].href.endswith("IMG_DATA/T50TMK_20250412T030541_B04.jp2")


def test_zipped_product_is_read_in_place(tmp_path: Path) -> None:
    archive = make_safe(tmp_path, Product(), as_zip=True)
    item = safe_item(open_safe(archive))
    href = item.assets["B04"].href
    assert href.startswith(f"/vsizip/{archive}/") and href.endswith("_B04_10m.jp2")
    with rasterio.open(href) as src:
        assert int(src.read(1)[0, 0]) == round(FOREST["B04"] * 10000) + 1000
    member = href.removeprefix(f"/vsizip/{archive}/")
    with zipfile.ZipFile(archive) as zf:
        assert item.assets["B04"].extra_fields["file:size"] == zf.getinfo(member).file_size


def test_cog_option_converts_the_bands(tmp_path: Path) -> None:
    item = safe_item(
        open_safe(make_safe(tmp_path, Product(), as_zip=True)), cog_dir=tmp_path / "cogs"
    )
    path = asset_path(item.assets["B11"])
    assert path == tmp_path / "cogs" / item.id / "B11.tif"
    assert cog_validate(str(path))[0]
    with rasterio.open(path) as src:
        assert src.shape == (48, 48) and int(src.read(1)[5, 5]) == 1000 + 1600
    assert item.assets["B11"].extra_fields["raster:bands"][0]["offset"] == -0.1


def test_two_baselines_composite_to_the_same_reflectance(tmp_path: Path) -> None:
    """Baselines 03.01 (before) and 05.11 (after), registered and read back from the catalog:
    the 1000 DN offset is harmonised, so an unchanged scene shows no change."""
    folder = tmp_path / "products"
    folder.mkdir()
    make_safe(folder, Product(baseline="03.01", sensing="2021-04-12T03:05:41"))
    make_safe(folder, Product(baseline="05.11", sensing="2025-04-12T03:05:41"), as_zip=True)
    catalog = GeoParquetCatalog(tmp_path / "items.parquet")
    ingest_safe([folder], EmbeddedRegistrar(catalog))
    before, after = catalog.search(collections=["sentinel-2-l2a"])
    assert before.properties["s2:processing_baseline"] == "03.01"
    assert after.properties["s2:processing_baseline"] == "05.11"
    old = composite_period([before], GRID, chunk=48).compute()
    new = composite_period([after], GRID, chunk=48).compute()
    both = composite_period([before, after], GRID, chunk=48).compute()
    for band, value in FOREST.items():
        np.testing.assert_allclose(old[band].values, value, atol=1e-6, err_msg=band)
        np.testing.assert_allclose(new[band].values, old[band].values, atol=1e-6, err_msg=band)
        np.testing.assert_allclose(both[band].values, value, atol=1e-6, err_msg=band)
    # without the baseline's offset the after period would look 0.1 brighter: false change
    after.properties["s2:boa_add_offset"] = 0
    wrong = composite_period([after], GRID, chunk=48).compute()
    np.testing.assert_allclose(wrong["B04"].values, FOREST["B04"] + 0.1, atol=1e-6)


# --- bad input: one clear InputError naming the file; the catalog unchanged ---------------


@pytest.fixture()
def catalog(tmp_path: Path) -> GeoParquetCatalog:
    """A catalog that already holds one product."""
    cat = GeoParquetCatalog(tmp_path / "catalog" / "items.parquet")
    ingest_safe(
        [make_safe(tmp_path / "old", Product(sensing="2025-01-02T03:05:41"))],
        EmbeddedRegistrar(cat),
    )
    return cat


def _refused(catalog: GeoParquetCatalog, good: Path, bad: Path, *patterns: str) -> None:
    before = catalog.path.read_bytes()
    with pytest.raises(InputError) as caught:
        ingest_safe([good, bad], EmbeddedRegistrar(catalog))
    message = str(caught.value)
    for pattern in patterns:
        assert pattern in message, message
    assert catalog.path.read_bytes() == before


def _good(tmp_path: Path) -> Path:
    return make_safe(tmp_path / "good", Product(sensing="2025-05-02T03:05:41"))


def test_missing_band_is_refused(tmp_path: Path, catalog: GeoParquetCatalog) -> None:
    bad = make_safe(tmp_path / "bad", Product(omit=("B04",)))
    _refused(catalog, _good(tmp_path), bad, bad.name, "B04", "download the product again")


def test_missing_band_in_a_zip_is_refused(tmp_path: Path, catalog: GeoParquetCatalog) -> None:
    bad = make_safe(tmp_path / "bad", Product(omit=("SCL",)), as_zip=True)
    _refused(catalog, _good(tmp_path), bad, str(bad), "SCL")


def test_corrupt_metadata_is_refused(tmp_path: Path, catalog: GeoParquetCatalog) -> None:
    bad = make_safe(tmp_path / "bad", Product(xml_hook=lambda text: text[: len(text) // 2]))
    _refused(catalog, _good(tmp_path), bad, "MTD_MSIL2A.xml", "not well-formed XML")


def test_unknown_processing_baseline_is_refused(tmp_path: Path, catalog: GeoParquetCatalog) -> None:
    bad = make_safe(tmp_path / "bad", Product(baseline="09.01"))
    _refused(catalog, _good(tmp_path), bad, "MTD_MSIL2A.xml", "'09.01'", "not one tiandi knows")


def test_new_baseline_without_offsets_is_refused(
    tmp_path: Path, catalog: GeoParquetCatalog
) -> None:
    def drop_offsets(text: str) -> str:
        start = text.index("<BOA_ADD_OFFSET_VALUES_LIST>")
        end = text.index("</BOA_ADD_OFFSET_VALUES_LIST>") + len("</BOA_ADD_OFFSET_VALUES_LIST>")
        return text[:start] + text[end:]

    bad = make_safe(tmp_path / "bad", Product(xml_hook=drop_offsets))
    _refused(catalog, _good(tmp_path), bad, "MTD_MSIL2A.xml", "BOA_ADD_OFFSET")


def test_zip_that_is_not_a_safe_is_refused(tmp_path: Path, catalog: GeoParquetCatalog) -> None:
    bad = tmp_path / "holiday-photos.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("IMG_0001.jpg", b"\xff\xd8 not a product")
    _refused(catalog, _good(tmp_path), bad, str(bad), "is not a Sentinel-2 product")


def test_file_that_is_not_a_zip_is_refused(tmp_path: Path, catalog: GeoParquetCatalog) -> None:
    bad = tmp_path / "S2B_MSIL2A_truncated.zip"
    bad.write_bytes(b"PK\x03\x04 truncated download")
    _refused(catalog, _good(tmp_path), bad, str(bad), "not a readable zip file")


def test_folder_without_products_is_refused(tmp_path: Path, catalog: GeoParquetCatalog) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    _refused(catalog, _good(tmp_path), empty, str(empty), "neither a Sentinel-2 product")
