"""UAV orthophoto ingestion: STAC item, co-registration to the satellite grid, patch chips."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp, Resampling
from rasterio.warp import reproject
from scipy import ndimage
from shapely.geometry import box

from tests.conftest import shared_data
from tiandi._time import CHINA_STANDARD_TIME
from tiandi.catalog.uav import UAV_TIME_ZONE, check_orthophoto, uav_item
from tiandi.eo.coregister import coregister
from tiandi.eo.uav_ingest import ingest_uav
from tiandi.errors import InputError
from tiandi.redline.patches.extract import write_patches

WHEN = datetime(2025, 8, 20, 3, 0, tzinfo=UTC)
UTM = "EPSG:32650"
X0, Y0 = 400000.0, 4460000.0


def _write(path: Path, data: np.ndarray, transform: Affine, crs: str, **kw: object) -> Path:
    profile = dict(
        driver="GTiff",
        height=data.shape[1],
        width=data.shape[2],
        count=data.shape[0],
        dtype=str(data.dtype),
        crs=crs,
        transform=transform,
        **kw,
    )
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if "descriptions" not in kw and data.shape[0] in (3, 4) and data.dtype == np.uint8:
            interp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
            dst.colorinterp = interp[: data.shape[0]]
    return path


def _satellite(path: Path, rgb: np.ndarray, transform: Affine, crs: str) -> Path:
    """A composite like the flow's: uint16 reflectance x 10000, bands described B04 B03 B02."""
    data = np.clip(rgb * 40 + 100, 1, 65535).astype("uint16")
    _write(path, data, transform, crs, nodata=0)
    with rasterio.open(path, "r+") as dst:
        for i, name in enumerate(("B04", "B03", "B02"), start=1):
            dst.set_band_description(i, name)
    return path


@pytest.fixture(scope="module")
def terrain() -> np.ndarray:
    """A 1 m 'truth' landscape: smooth texture with features of a few tens of metres."""
    rng = np.random.default_rng(3)
    base = ndimage.gaussian_filter(rng.normal(size=(3, 640, 640)), sigma=(0, 12, 12))
    base = (base - base.min()) / (base.max() - base.min()) * 200 + 20
    return base.astype("float64")


def _synthetic(
    tmp_path: Path, terrain: np.ndarray, offset: tuple[float, float]
) -> tuple[Path, Path]:
    # satellite: 10 m block means of the truth, correctly located
    sat = terrain.reshape(3, 64, 10, 64, 10).mean(axis=(2, 4))
    sat_path = _satellite(tmp_path / "after.tif", sat, Affine(10, 0, X0, 0, -10, Y0), UTM)
    # UAV: 1 m pixels of a 400 x 400 m sub-area, georeferenced ``offset`` metres off
    r0, c0 = 100, 120
    uav = np.concatenate([terrain[:, r0 : r0 + 400, c0 : c0 + 400], np.full((1, 400, 400), 255.0)])
    true = Affine(1, 0, X0 + c0, 0, -1, Y0 - r0)
    wrong = Affine.translation(*offset) @ true
    uav_path = _write(tmp_path / "flight.tif", uav.round().astype("uint8"), wrong, UTM)
    return uav_path, sat_path


@pytest.mark.parametrize("offset", [(23.0, -17.0), (-8.0, 4.0), (0.0, 0.0)])
def test_a_known_offset_is_recovered_within_one_pixel(
    tmp_path: Path, terrain: np.ndarray, offset: tuple[float, float]
) -> None:
    uav, sat = _synthetic(tmp_path, terrain, offset)
    result = coregister(uav, sat)
    assert result.status == "estimated"
    # the correction is the opposite of the error put into the georeference
    assert result.shift_x_m == pytest.approx(-offset[0], abs=10.0)
    assert result.shift_y_m == pytest.approx(-offset[1], abs=10.0)
    assert result.shift_col_px == pytest.approx(-offset[0] / 10, abs=1.0)
    assert result.shift_row_px == pytest.approx(offset[1] / 10, abs=1.0)
    assert abs(result.shift_col_px + offset[0] / 10) < 0.5  # measured: well within 1 px
    assert result.pixel_m == 10.0 and result.bands == ("red", "green", "blue")


def test_ingest_applies_the_shift_and_chips_the_covered_patches(
    tmp_path: Path, terrain: np.ndarray
) -> None:
    uav, sat = _synthetic(tmp_path, terrain, (23.0, -17.0))
    patches = gpd.GeoDataFrame(
        {"patch_id": ["TB-in", "TB-out"], "zone_id": ["Z", "Z"]},
        geometry=[
            box(X0 + 200, Y0 - 300, X0 + 260, Y0 - 250),
            box(X0 + 600, Y0 - 630, X0 + 630, Y0 - 600),
        ],
        crs=UTM,
    )
    write_patches(patches, tmp_path / "patches.gpkg")
    out = tmp_path / "uav"
    res = ingest_uav(uav, out, satellite=sat, patches=tmp_path / "patches.gpkg", datetime=WHEN)
    assert res.applied and res.item.collection_id == "uav"
    props = res.item.properties
    assert props["tiandi:coreg_status"] == "estimated"
    assert props["tiandi:coreg_shift_x_m"] == pytest.approx(-23.0, abs=5.0)
    assert res.item.assets["visual"].href == (out / "orthophoto.tif").resolve().as_uri()
    with rasterio.open(out / "orthophoto.tif") as fixed, rasterio.open(uav) as orig:
        assert fixed.transform.c - orig.transform.c == pytest.approx(
            props["tiandi:coreg_shift_x_m"]
        )
        assert (fixed.read() == orig.read()).all()
    assert [c.patch_id for c in res.chips] == ["TB-in"]
    rows = list(csv.DictReader((out / "chips" / "index.csv").open(encoding="utf-8")))
    assert rows[0]["patch_id"] == "TB-in" and float(rows[0]["coverage"]) == 1.0
    png = out / "chips" / "TB-in.png"
    assert png.read_bytes().startswith(b"\x89PNG")
    first = png.read_bytes()
    ingest_uav(uav, out, satellite=sat, patches=tmp_path / "patches.gpkg", datetime=WHEN)
    assert png.read_bytes() == first
    assert "chips_index" in res.item.assets


def test_real_webodm_orthophoto_is_registered_and_coregistered(tmp_path: Path) -> None:
    ortho = shared_data("uav-orthophoto-webodm") / "orthophoto.tif"
    info = check_orthophoto(ortho)
    assert info.crs == "EPSG:32615" and info.alpha == 4 and info.rgb == (1, 2, 3)
    assert info.gsd_m == pytest.approx(0.5, abs=0.01)
    item = uav_item(info, datetime=WHEN)
    assert item.collection_id == "uav" and item.id.startswith("uav-orthophoto-")
    lon, lat = item.geometry["coordinates"][0][0]
    assert -92.1 < lon < -91.9 and 46.8 < lat < 46.9
    assert item.properties["gsd"] == pytest.approx(0.5, abs=0.01)
    # a 2 m "satellite" made from the orthophoto itself, whose grid is 6 m east, 4 m south
    with rasterio.open(ortho) as src:
        left, top = src.bounds.left, src.bounds.top
        grid = Affine(2, 0, left, 0, -2, top)
        rgb = np.zeros((3, 53, 53))
        reproject(
            src.read([1, 2, 3]).astype(float),
            rgb,
            src_transform=src.transform,
            src_crs=src.crs,
            dst_transform=grid,
            dst_crs=src.crs,
            resampling=Resampling.average,
        )
    sat = _satellite(tmp_path / "sat.tif", rgb, Affine.translation(6, -4) @ grid, "EPSG:32615")
    res = ingest_uav(ortho, tmp_path / "out", satellite=sat, datetime=WHEN)
    c = res.coregistration
    assert c is not None and c.status == "estimated"
    assert (c.shift_x_m, c.shift_y_m) == (pytest.approx(6.0, abs=2.0), pytest.approx(-4.0, abs=2.0))
    assert res.applied and (tmp_path / "out" / "coregistration.json").is_file()
    # at 10 m the 106 m flight is ~10 satellite pixels: too few, reported, not guessed
    coarse = _satellite(
        tmp_path / "s2.tif", rgb[:, ::5, ::5], Affine(10, 0, left, 0, -10, top), "EPSG:32615"
    )
    skipped = coregister(ortho, coarse)
    assert skipped.status == "skipped" and "too few" in skipped.reason


def test_bad_input_is_refused_with_a_clear_message(tmp_path: Path, terrain: np.ndarray) -> None:
    text = tmp_path / "notes.tif"
    text.write_text("not an image")
    with pytest.raises(InputError, match="cannot be read as a raster"):
        check_orthophoto(text)
    single = _write(
        tmp_path / "dem.tif", np.zeros((1, 20, 20), "float32"), Affine(0.1, 0, X0, 0, -0.1, Y0), UTM
    )
    with pytest.raises(InputError, match="an orthophoto is RGB or RGBA"):
        check_orthophoto(single)
    coarse = _write(
        tmp_path / "s2.tif", np.zeros((3, 20, 20), "uint8"), Affine(10, 0, X0, 0, -10, Y0), UTM
    )
    with pytest.raises(InputError, match="must be finer"):
        check_orthophoto(coarse)
    with pytest.raises(InputError, match="carries no acquisition time"):
        uav_item(check_orthophoto(_synthetic(tmp_path, terrain, (0, 0))[0]))
    uav, _ = _synthetic(tmp_path, terrain, (0.0, 0.0))
    far = _satellite(
        tmp_path / "far.tif", np.ones((3, 30, 30)), Affine(10, 0, X0 + 50_000, 0, -10, Y0), UTM
    )
    with pytest.raises(InputError, match="does not overlap satellite composite"):
        ingest_uav(uav, tmp_path / "o", satellite=far, datetime=WHEN)


def test_tiff_time_is_china_standard_time_unless_an_exif_offset_says_otherwise(
    tmp_path: Path,
) -> None:
    def ortho(name: str, stamp: str, offset: str | None = None) -> Path:
        path = _write(
            tmp_path / name, np.zeros((3, 20, 20), "uint8"), Affine(0.1, 0, X0, 0, -0.1, Y0), UTM
        )
        with rasterio.open(path, "r+") as dst:
            dst.update_tags(TIFFTAG_DATETIME=stamp)
            if offset is not None:
                dst.update_tags(ns="EXIF", EXIF_OffsetTime=offset)
        return path

    local = check_orthophoto(ortho("local.tif", "2025:08:20 11:00:00"))
    assert UAV_TIME_ZONE is CHINA_STANDARD_TIME
    assert local.acquired == WHEN  # 11:00 in UTC+08:00 is 03:00 UTC
    tagged = check_orthophoto(ortho("tagged.tif", "2025:08:20 10:00:00", "+07:00"))
    assert tagged.acquired == WHEN
    assert uav_item(tagged).datetime == WHEN
    broken = check_orthophoto(ortho("broken.tif", "20 Aug 2025"))
    assert broken.acquired is None
    with pytest.raises(InputError, match="carries no acquisition time"):
        uav_item(broken)


def test_cli_ingest_uav_registers_the_item(
    tmp_path: Path, terrain: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from tiandi.catalog.store import GeoParquetCatalog
    from tiandi.cli.app import app

    monkeypatch.setenv("TIANDI_HOME", str(tmp_path / "home"))
    uav, sat = _synthetic(tmp_path, terrain, (23.0, -17.0))
    res = CliRunner().invoke(
        app,
        [
            "ingest",
            "uav",
            str(uav),
            "--satellite",
            str(sat),
            "--datetime",
            "2025-08-20T03:00:00Z",
            "--id",
            "uav-test",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "shift found" in " ".join(res.output.split()) and "corrected copy written" in " ".join(
        res.output.split()
    )
    items = GeoParquetCatalog(tmp_path / "home" / "catalog" / "items.parquet").items()
    assert [i.id for i in items] == ["uav-test"]
    res = CliRunner().invoke(app, ["ingest", "uav", str(tmp_path / "missing.tif")])
    assert res.exit_code == 2 and "does not exist" in " ".join(res.output.split())
