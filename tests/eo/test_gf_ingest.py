"""`tiandi ingest gf`: GF-1 WFV and GF-2 PMS L1A products orthorectified, fused, chipped."""

from __future__ import annotations

import csv
import dataclasses
import io
import tarfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import rasterio.warp
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import box
from typer.testing import CliRunner

from tests.fixtures.gf import Sample, write_flat_dem, write_gf_product
from tiandi.catalog.store import GeoParquetCatalog
from tiandi.cli.app import app
from tiandi.eo.gf_ingest import check_gf_products, ingest_gf
from tiandi.errors import InputError
from tiandi.settings import Settings


def _feature_offset_px(cog: Path, sample: Sample, band: int = 1) -> tuple[float, float, float]:
    """(east, north) offset in pixels of the planted bright square from where it lies; its
    area in pixels."""
    with rasterio.open(cog) as src:
        bright = src.read(band) > 1000
        rows, cols = np.nonzero(bright)
        x, y = src.transform * (cols.mean() + 0.5, rows.mean() + 0.5)
        (ex,), (ey,) = rasterio.warp.transform(
            "EPSG:4326", src.crs, *map(list, zip(sample.feature_lonlat, strict=True))
        )
        res = src.res[0]
    return (x - ex) / res, (y - ey) / res, float(bright.sum())


def _patches(path: Path, sample: Sample, half_m: float) -> Path:
    """A patches.gpkg with one patch over the planted feature and one far away."""
    lon, lat = sample.feature_lonlat
    d_lat, d_lon = half_m / 111_320.0, half_m / (111_320.0 * np.cos(np.radians(lat)))
    gdf = gpd.GeoDataFrame(
        {"patch_id": ["TB-01", "TB-99"]},
        geometry=[
            box(lon - d_lon, lat - d_lat, lon + d_lon, lat + d_lat),
            box(10, 10, 10.01, 10.01),
        ],
        crs="EPSG:4326",
    )
    gdf.to_file(path, layer="patches", driver="GPKG")
    return path


def test_a_gf2_pms_product_is_orthorectified_fused_registered_and_chipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = write_gf_product(tmp_path / "in", "gf2-pms")
    patches = _patches(tmp_path / "patches.gpkg", sample, 20.0)
    monkeypatch.setenv("TIANDI_HOME", str(tmp_path / "home"))
    got = CliRunner().invoke(
        app, ["ingest", "gf", str(sample.path), "--height", "800", "--patches", str(patches)]
    )
    assert got.exit_code == 0, got.output
    assert "registered gf" in got.output and "1 patch chips" in got.output
    settings = Settings()
    [item] = GeoParquetCatalog(settings.catalog_path).items()
    assert item.id == sample.name and item.collection_id == "gf"
    props = item.properties
    assert props["platform"] == "gf-2" and props["instruments"] == ["pms"]
    assert props["eo:cloud_cover"] == 3.0 and props["gsd"] == 0.8
    assert props["gf:rpc_height"] == 800.0 and props["proj:code"] == "EPSG:32649"
    assert props["view:incidence_angle"] == 8.6
    assert item.datetime is not None and item.datetime.isoformat() == "2024-08-20T03:26:42+00:00"
    assert {"pan", "multispectral", "pansharpened", "browse", "metadata", "chips_index"} <= set(
        item.assets
    )
    eo = item.assets["pansharpened"].extra_fields["eo:bands"]
    assert [b["common_name"] for b in eo] == ["blue", "green", "red", "nir"]
    folder = settings.gf_path / sample.name
    for name, res in (("pan.tif", 0.8), ("mss.tif", 3.2), ("pansharpened.tif", 0.8)):
        with rasterio.open(folder / name) as src:
            assert src.res == (res, res) and src.crs.to_epsg() == 32649
        assert cog_validate(str(folder / name))[0], name
        dx, dy, area = _feature_offset_px(folder / name, sample)
        assert abs(dx) < 1.0 and abs(dy) < 1.0, (name, dx, dy)
        assert area == pytest.approx((2 * sample.feature_half_m / res) ** 2, rel=0.35)
    with rasterio.open(folder / "pansharpened.tif") as src:
        assert src.count == 4 and src.descriptions == ("blue", "green", "red", "nir")
    rows = list(csv.DictReader((folder / "chips" / "index.csv").open(encoding="utf-8")))
    assert [(r["patch_id"], r["item_id"]) for r in rows] == [("TB-01", sample.name)]
    assert float(rows[0]["coverage"]) > 0.95 and float(rows[0]["gsd_m"]) == pytest.approx(0.8)


def test_a_gf1_wfv_product_with_a_dem_lands_where_it_should(tmp_path: Path) -> None:
    sample = write_gf_product(tmp_path / "in", "gf1-wfv")
    dem = write_flat_dem(tmp_path / "dem.tif", sample)
    [product] = check_gf_products([sample.path], dem)
    result = ingest_gf(product, tmp_path / "out", dem=dem)
    props = result.item.properties
    assert props["platform"] == "gf-1" and props["instruments"] == ["wfv"]
    assert props["gf:sensor"] == "WFV3" and props["eo:cloud_cover"] == 12.0
    assert props["gf:rpc_dem"] == "dem.tif" and "gf:rpc_height" not in props
    assert props["gsd"] == 16.0 and props["proj:code"] == "EPSG:32650"
    assert set(result.item.assets) == {"multispectral", "browse", "metadata"}
    dx, dy, _ = _feature_offset_px(result.folder / "wfv.tif", sample)
    assert abs(dx) < 1.0 and abs(dy) < 1.0
    # The RPC's own mean height (500 m) instead of the terrain's 800 m shifts the scene
    # by the parallax: the height used matters and is stated in the item.
    shifted = ingest_gf(product, tmp_path / "default")
    assert shifted.item.properties["gf:rpc_height"] == 500.0
    dx, _, _ = _feature_offset_px(shifted.folder / "wfv.tif", sample)
    assert 2.0 < abs(dx) < 4.0  # 0.15 * 300 m / 16 m = 2.8 px


def _rewrite(
    source: Path, target: Path, drop: str = "", replace: dict[str, bytes] | None = None
) -> Path:
    """A copy of a product archive without the members ending in ``drop``, or with some replaced."""
    with tarfile.open(source, "r:gz") as src, tarfile.open(target, "w:gz") as dst:
        for member in src:
            if drop and member.name.endswith(drop):
                continue
            handle = src.extractfile(member)
            data = handle.read() if handle is not None else b""
            for suffix, new in (replace or {}).items():
                if member.name.endswith(suffix):
                    data = new
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    return target


def _refused(tmp_path: Path, product: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TIANDI_HOME", str(tmp_path / "home"))
    got = CliRunner().invoke(app, ["ingest", "gf", str(product)])
    assert got.exit_code != 0 and "Traceback" not in got.output
    assert not (tmp_path / "home" / "catalog").exists()
    assert (
        not list((tmp_path / "home" / "gf").glob("*"))
        if (tmp_path / "home" / "gf").exists()
        else True
    )
    return "".join(got.output.split())  # the console wraps (and folds) long lines


def _squeeze(text: str) -> str:
    return "".join(text.split())


def test_a_gf_product_without_rpcs_is_refused_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = write_gf_product(tmp_path / "in", "gf2-pms")
    bad = _rewrite(sample.path, tmp_path / sample.path.name.replace("L1A", "X"), drop="MSS1.rpb")
    message = _refused(tmp_path, bad, monkeypatch)
    assert f"{sample.name}-MSS1.rpb" in message and str(bad) in message
    assert _squeeze("without RPCs it cannot be orthorectified") in message
    assert _squeeze("Nothing was registered") in message


def test_a_tar_gz_that_is_not_a_gf_product_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "S2B_MSIL2A_20250412T030541.tar.gz"
    with tarfile.open(other, "w:gz") as archive:
        data = b"<Level-2A_User_Product/>"
        info = tarfile.TarInfo("MTD_MSIL2A.xml")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    message = _refused(tmp_path, other, monkeypatch)
    assert str(other) in message and _squeeze("is not a GF product") in message
    garbage = tmp_path / "GF2_broken.tar.gz"
    garbage.write_bytes(b"not a tar at all")
    assert _squeeze("not a readable .tar.gz") in _refused(tmp_path, garbage, monkeypatch)


def test_corrupt_gf_metadata_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sample = write_gf_product(tmp_path / "in", "gf1-wfv")
    bad = _rewrite(
        sample.path, tmp_path / "bad.tar.gz", replace={".xml": b"<ProductMetaData><Sate"}
    )
    message = _refused(tmp_path, bad, monkeypatch)
    assert f"{sample.name}.xml" in message and _squeeze("not readable XML") in message
    with pytest.raises(InputError, match="lacks <SatelliteID>"):
        check_gf_products(
            [_rewrite(sample.path, tmp_path / "b2.tar.gz", replace={".xml": b"<ProductMetaData/>"})]
        )


def test_a_dem_that_misses_the_scene_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    sample = write_gf_product(tmp_path / "in", "gf1-wfv")
    far = write_flat_dem(tmp_path / "far.tif", dataclasses.replace(sample, lon0=sample.lon0 + 5))
    with pytest.raises(InputError, match=r"does not cover .*pass a DEM that covers the scene"):
        check_gf_products([sample.path], far)
    with pytest.raises(InputError, match="does not exist"):
        check_gf_products([sample.path], tmp_path / "nowhere.tif")
