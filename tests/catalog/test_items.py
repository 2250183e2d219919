"""STAC items built from raster headers and from pipeline outputs."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import odc.stac
import pytest
import rasterio.warp
from shapely.geometry import Polygon, box, shape

from tests.conftest import shared_data
from tests.fixtures.catalog import X0, Y0, sentinel2_assets, utc, write_raster
from tiandi.catalog.items import ProcessingInfo, item_from_rasters, output_item
from tiandi.errors import InputError

S2 = "sentinel-2-l2a"


@pytest.fixture()
def s2_assets(tmp_path: Path) -> dict[str, Path]:
    return sentinel2_assets(tmp_path / "scene")


def test_item_footprint_is_the_raster_extent_in_lonlat(s2_assets: dict[str, Path]) -> None:
    item = item_from_rasters("S2B_T50TMK", s2_assets, datetime=utc(2025, 3, 12), collection=S2)
    west, south, east, north = rasterio.warp.transform_bounds(
        "EPSG:32650", "EPSG:4326", X0, Y0 - 320, X0 + 320, Y0, densify_pts=21
    )
    assert item.bbox == pytest.approx([west, south, east, north], abs=1e-8)
    footprint = shape(item.geometry)
    assert footprint.is_valid
    assert footprint.geom_type == "Polygon"
    # UTM north is not true north: the footprint is the rotated quadrilateral, not the bbox.
    xs, ys = rasterio.warp.transform(
        "EPSG:32650", "EPSG:4326", [X0, X0 + 320, X0 + 320, X0], [Y0 - 320, Y0 - 320, Y0, Y0]
    )
    assert footprint.area == pytest.approx(Polygon(zip(xs, ys, strict=True)).area, rel=1e-6)
    assert footprint.area < box(west, south, east, north).area
    ring = (item.geometry or {})["coordinates"][0]
    assert ring[0] == ring[-1]
    assert len(ring) > 5  # densified edges, not just the four corners


def test_item_projection_is_per_asset_where_resolution_differs(
    s2_assets: dict[str, Path],
) -> None:
    item = item_from_rasters("S2B_T50TMK", s2_assets, datetime=utc(2025, 3, 12), collection=S2)
    assert item.properties["proj:code"] == "EPSG:32650"
    b02 = item.assets["B02"].extra_fields
    b11 = item.assets["B11"].extra_fields
    assert b02["proj:shape"] == [32, 32]
    assert b02["proj:transform"] == [10.0, 0.0, X0, 0.0, -10.0, Y0]
    assert b11["proj:shape"] == [16, 16]
    assert b11["proj:transform"] == [20.0, 0.0, X0, 0.0, -20.0, Y0]
    assert "proj:code" not in b02  # same CRS as the item


def test_item_has_raster_and_eo_bands_for_sentinel2_names(s2_assets: dict[str, Path]) -> None:
    item = item_from_rasters("S2B_T50TMK", s2_assets, datetime=utc(2025, 3, 12), collection=S2)
    b08 = item.assets["B08"].extra_fields
    assert b08["raster:bands"] == [{"data_type": "uint16", "nodata": 0, "spatial_resolution": 10.0}]
    assert b08["eo:bands"][0]["name"] == "B08"
    assert b08["eo:bands"][0]["common_name"] == "nir"
    assert b08["eo:bands"][0]["center_wavelength"] == pytest.approx(0.842)
    assert item.assets["B11"].extra_fields["eo:bands"][0]["common_name"] == "swir16"
    assert item.assets["B11"].extra_fields["raster:bands"][0]["spatial_resolution"] == 20.0
    assert item.assets["B02"].roles == ["data", "reflectance"]


def test_scl_asset_is_a_classified_data_mask(s2_assets: dict[str, Path]) -> None:
    item = item_from_rasters("S2B_T50TMK", s2_assets, datetime=utc(2025, 3, 12), collection=S2)
    scl = item.assets["SCL"]
    assert scl.roles == ["data", "data-mask"]
    assert "eo:bands" not in scl.extra_fields
    assert scl.extra_fields["raster:bands"][0]["data_type"] == "uint8"
    classes = {c["value"]: c["name"] for c in scl.extra_fields["classification:classes"]}
    assert classes[3] == "cloud_shadows"
    assert classes[9] == "cloud_high_probability"
    assert classes[10] == "thin_cirrus"


def test_file_checksum_is_sha256_multihash_of_the_bytes(s2_assets: dict[str, Path]) -> None:
    item = item_from_rasters("S2B_T50TMK", s2_assets, datetime=utc(2025, 3, 12), collection=S2)
    for key, path in s2_assets.items():
        fields = item.assets[key].extra_fields
        assert fields["file:checksum"] == "1220" + hashlib.sha256(path.read_bytes()).hexdigest()
        assert fields["file:size"] == path.stat().st_size
        assert item.assets[key].href == path.resolve().as_uri()


def test_core_fields_and_passed_properties(s2_assets: dict[str, Path]) -> None:
    item = item_from_rasters(
        "S2B_T50TMK",
        s2_assets,
        datetime=utc(2025, 3, 12),
        collection=S2,
        properties={
            "eo:cloud_cover": 12.5,
            "platform": "sentinel-2b",
            "s2:processing_baseline": "04.00",
            "s2:boa_add_offset": -1000,
        },
    )
    d = item.to_dict(include_self_link=False)
    assert d["type"] == "Feature"
    assert d["stac_version"] == "1.1.0"
    assert d["id"] == "S2B_T50TMK"
    assert d["collection"] == S2
    assert d["properties"]["datetime"] == "2025-03-12T03:00:00Z"
    assert d["properties"]["eo:cloud_cover"] == 12.5
    assert d["properties"]["s2:processing_baseline"] == "04.00"
    assert d["properties"]["s2:boa_add_offset"] == -1000
    assert d["properties"]["platform"] == "sentinel-2b"
    assert len(d["bbox"]) == 4
    for name in ("projection", "raster", "eo", "file", "classification"):
        assert any(f"/{name}/" in uri for uri in d["stac_extensions"]), name
    json.dumps(d, allow_nan=False)  # plain JSON, no NaN


def test_same_files_give_the_same_item(s2_assets: dict[str, Path]) -> None:
    a = item_from_rasters("x", s2_assets, datetime=utc(2025, 3, 12), collection=S2)
    b = item_from_rasters("x", s2_assets, datetime=utc(2025, 3, 12), collection=S2)
    assert a.to_dict() == b.to_dict()


def test_scale_and_offset_come_from_the_file(tmp_path: Path) -> None:
    path = write_raster(tmp_path / "B04.tif", scale=0.0001, offset=-0.1)
    item = item_from_rasters("x", {"B04": path}, datetime=utc(2025, 1, 1), collection=S2)
    band = item.assets["B04"].extra_fields["raster:bands"][0]
    assert band["scale"] == pytest.approx(0.0001)
    assert band["offset"] == pytest.approx(-0.1)


def test_cgcs2000_geographic_raster(tmp_path: Path) -> None:
    path = write_raster(
        tmp_path / "gf2.tif",
        crs="EPSG:4490",
        resolution=0.0001,
        origin=(116.0, 40.0),
        dtype="float32",
        nodata=float("nan"),
    )
    item = item_from_rasters("gf2", {"pan": path}, datetime=utc(2025, 5, 1), collection="gf")
    assert item.properties["proj:code"] == "EPSG:4490"
    assert item.bbox == pytest.approx([116.0, 39.9968, 116.0032, 40.0], abs=1e-6)
    band = item.assets["pan"].extra_fields["raster:bands"][0]
    assert band == {"data_type": "float32", "nodata": "nan", "spatial_resolution": 0.0001}


@pytest.mark.realdata
def test_uav_orthophoto_becomes_an_rgb_item() -> None:
    ortho = shared_data("uav-orthophoto-webodm") / "orthophoto.tif"
    item = item_from_rasters("uav-1", {"visual": ortho}, datetime=utc(2025, 6, 1), collection="uav")
    assert item.properties["proj:code"] == "EPSG:32615"
    visual = item.assets["visual"].extra_fields
    assert visual["proj:shape"] == [212, 212]
    assert [b["data_type"] for b in visual["raster:bands"]] == ["uint8"] * 4
    assert [b.get("common_name") for b in visual["eo:bands"]] == ["red", "green", "blue", None]
    assert visual["raster:bands"][0]["spatial_resolution"] == pytest.approx(0.5, abs=0.001)
    with rasterio.open(ortho) as src:
        expected = rasterio.warp.transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    assert item.bbox == pytest.approx(list(expected), abs=1e-7)
    west, south, east, north = item.bbox or [0.0] * 4
    assert -92.1 < west < east < -91.9  # about 77 km east of UTM 15N's central meridian
    assert 46.8 < south < north < 46.9


def test_missing_raster_is_an_input_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "B04.tif"
    with pytest.raises(InputError, match=r"B04\.tif does not exist"):
        item_from_rasters("x", {"B04": missing}, datetime=utc(2025, 1, 1), collection=S2)


def test_unreadable_raster_is_an_input_error_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "B04.tif"
    bad.write_text("not a tiff")
    with pytest.raises(InputError, match=r"B04\.tif cannot be read.*GeoTIFF"):
        item_from_rasters("x", {"B04": bad}, datetime=utc(2025, 1, 1), collection=S2)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_raster_without_crs_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.tif"
    with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8") as d:
        d.write(np.ones((1, 4, 4), dtype="uint8"))
    with pytest.raises(InputError, match="has no CRS"):
        item_from_rasters("x", {"a": path}, datetime=utc(2025, 1, 1), collection=S2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"datetime": datetime(2025, 1, 1)}, "no time zone"),
        ({"collection": ""}, "collection"),
        ({"item_id": "a/b"}, "item id"),
        ({"properties": {"datetime": "2025-01-01"}}, "may not set"),
        ({"properties": {"eo:cloud_cover": float("nan")}}, "JSON"),
    ],
)
def test_bad_item_arguments_are_input_errors(
    s2_assets: dict[str, Path], kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {
        "item_id": "x",
        "assets": s2_assets,
        "datetime": utc(2025, 1, 1),
        "collection": S2,
    }
    args.update(kwargs)
    with pytest.raises(InputError, match=message):
        item_from_rasters(**args)  # type: ignore[arg-type]


def test_no_assets_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no assets"):
        item_from_rasters("x", {}, datetime=utc(2025, 1, 1), collection=S2)


def _outputs(folder: Path) -> dict[str, Path]:
    change = write_raster(folder / "change_mask.tif", dtype="uint8", nodata=255)
    zones = gpd.GeoDataFrame(
        {"patch_id": ["p1"]},
        geometry=[box(115.8240, 40.2820, 115.8250, 40.2830)],
        crs="EPSG:4490",
    )
    patches = folder / "patches.gpkg"
    zones.to_file(patches, layer="patches", driver="GPKG")
    summary = folder / "summary.html"
    summary.write_text("<html><body>ok</body></html>", encoding="utf-8")
    return {"change_mask": change, "patches": patches, "summary": summary}


PROCESSING = ProcessingInfo(
    lineage="tiandi detect_changes 2025-01-01/2025-06-30 -> 2025-07-01/2025-12-31",
    software={"tiandi": "0.1.0", "numpy": "2.4.6"},
    inputs=["S2A_1", "S2B_2", "S2A_1"],
    model="baseline-cva",
    model_version="1.0.0",
    parameters={"threshold": "otsu", "min_mapping_unit_m2": 1000.0},
)


def test_output_item_carries_processing_provenance(tmp_path: Path) -> None:
    when = utc(2025, 12, 31, 0)
    item = output_item(
        "run-1-change",
        _outputs(tmp_path),
        datetime=when,
        collection="tiandi-change",
        processing=PROCESSING,
    )
    p = item.properties
    assert p["processing:lineage"].startswith("tiandi detect_changes")
    assert p["processing:software"] == {"numpy": "2.4.6", "tiandi": "0.1.0"}
    assert p["processing:datetime"] == "2025-12-31T00:00:00Z"
    assert p["tiandi:inputs"] == ["S2A_1", "S2B_2"]
    assert p["tiandi:model"] == "baseline-cva"
    assert p["tiandi:model_version"] == "1.0.0"
    assert json.loads(p["tiandi:parameters"]) == PROCESSING.parameters
    assert any("/processing/" in uri for uri in item.stac_extensions)


def test_output_item_lists_every_file_with_checksum_and_type(tmp_path: Path) -> None:
    files = _outputs(tmp_path)
    item = output_item(
        "run-1-change", files, datetime=utc(2025, 12, 31), collection="c", processing=PROCESSING
    )
    for key, path in files.items():
        assert item.assets[key].extra_fields["file:checksum"] == (
            "1220" + hashlib.sha256(path.read_bytes()).hexdigest()
        )
    assert item.assets["patches"].media_type == "application/geopackage+sqlite3"
    assert item.assets["summary"].media_type == "text/html"
    assert item.assets["summary"].roles == ["metadata"]
    assert item.assets["change_mask"].extra_fields["raster:bands"][0]["nodata"] == 255
    # The footprint covers the raster (UTM) and the patches (EPSG:4490).
    footprint = shape(item.geometry)
    assert footprint.covers(box(115.8240, 40.2820, 115.8250, 40.2830))


def test_output_item_is_reproducible(tmp_path: Path) -> None:
    files = _outputs(tmp_path)
    args = {"datetime": utc(2025, 12, 31), "collection": "c", "processing": PROCESSING}
    a = output_item("r", files, **args)  # type: ignore[arg-type]
    b = output_item("r", files, **args)  # type: ignore[arg-type]
    assert a.to_dict() == b.to_dict()


def test_output_item_without_located_asset_is_an_input_error(tmp_path: Path) -> None:
    note = tmp_path / "summary.html"
    note.write_text("<p>x</p>", encoding="utf-8")
    with pytest.raises(InputError, match="location is unknown"):
        output_item(
            "r", {"summary": note}, datetime=utc(2025, 1, 1), collection="c", processing=PROCESSING
        )


def test_output_item_rejects_parameters_that_are_not_json(tmp_path: Path) -> None:
    info = ProcessingInfo(lineage="x", software={}, parameters={"when": object()})
    with pytest.raises(InputError, match="not JSON-serialisable"):
        output_item(
            "r", _outputs(tmp_path), datetime=utc(2025, 1, 1), collection="c", processing=info
        )


def test_odc_stac_loads_the_item_lazily_with_its_dtype_and_nodata(
    s2_assets: dict[str, Path],
) -> None:
    item = item_from_rasters("S2B_T50TMK", s2_assets, datetime=utc(2025, 3, 12), collection=S2)
    ds = odc.stac.load([item], bands=["B02", "B11"], resolution=10, chunks={})
    assert ds["B02"].dtype == np.uint16
    assert ds["B02"].attrs["nodata"] == 0
    assert ds["B02"].shape == (1, 32, 32)
    assert ds["B02"].chunks is not None  # lazy
    assert int(ds["B02"].isel(time=0, x=0, y=0).compute()) == 1
