"""Reading zones and stations: formats, encodings, CRSs, aliases, repairs, errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
from affine import Affine
from shapely.geometry import LineString, Polygon, box

from tests.conftest import shared_data
from tiandi.errors import EncodingGuessWarning, InputError
from tiandi.redline.zones.read import (
    STATION_COLUMNS,
    ZONE_COLUMNS,
    read_stations,
    read_zones,
)

NAMES = ["黄河湿地国家级自然保护区", "秦岭生态保护红线"]


def _chinese_zones(crs: str = "EPSG:4490") -> gpd.GeoDataFrame:
    geoms = [box(116.9, 39.0, 117.0, 39.1), box(117.0, 39.0, 117.1, 39.1)]
    gdf = gpd.GeoDataFrame(
        {
            "名称": NAMES,
            "功能区": ["核心区", None],
            "级别": ["国家级", "省级"],
            "类型": ["自然保护区", "生态保护红线"],
            "bh": ["HH01", "QL01"],
        },
        geometry=geoms,
        crs="EPSG:4490",
    )
    return gdf.to_crs(crs)


def _gbk_shapefile(tmp_path: Path, *, cpg: bool) -> Path:
    path = tmp_path / "zones_gbk.shp"
    pyogrio.write_dataframe(_chinese_zones(), path, encoding="GBK")
    cpg_file = path.with_suffix(".cpg")
    assert cpg_file.read_text().strip() == "GBK"
    if not cpg:
        cpg_file.unlink()
    return path


def test_gbk_shapefile_with_cpg_reads_chinese_values(tmp_path: Path) -> None:
    zones = read_zones(_gbk_shapefile(tmp_path, cpg=True))
    assert zones["name"].tolist() == NAMES
    assert zones.attrs["source_encoding"] == "GBK"


def test_gbk_shapefile_without_cpg_is_detected_and_reported(tmp_path: Path) -> None:
    path = _gbk_shapefile(tmp_path, cpg=False)
    with pytest.warns(EncodingGuessWarning, match="GBK"):
        zones = read_zones(path)
    assert zones["name"].tolist() == NAMES
    assert zones["functional_zone"].tolist() == ["核心区", None]
    assert zones.attrs["source_encoding"] == "GBK"


def test_utf8_shapefile_without_cpg_reads_without_warning(tmp_path: Path) -> None:
    path = tmp_path / "zones_utf8.shp"
    pyogrio.write_dataframe(_chinese_zones(), path, encoding="UTF-8")
    path.with_suffix(".cpg").unlink(missing_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EncodingGuessWarning)
        zones = read_zones(path)
    assert zones["name"].tolist() == NAMES
    assert zones.attrs["source_encoding"] == "UTF-8"


def test_explicit_encoding_overrides_detection(tmp_path: Path) -> None:
    zones = read_zones(_gbk_shapefile(tmp_path, cpg=False), encoding="GB18030")
    assert zones["name"].tolist() == NAMES


def test_chinese_aliases_map_to_contract_columns(tmp_path: Path) -> None:
    path = tmp_path / "zones.gpkg"
    pyogrio.write_dataframe(_chinese_zones(), path)
    zones = read_zones(path)
    assert list(zones.columns) == [*ZONE_COLUMNS, "geometry"]
    assert zones["zone_id"].tolist() == ["HH01", "QL01"]
    assert zones["zone_type"].tolist() == ["reserve", "redline"]
    assert zones["level"].tolist() == ["national", "provincial"]
    assert zones.crs.to_epsg() == 4490


def test_gauss_kruger_crs_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "zones_gk.shp"
    pyogrio.write_dataframe(_chinese_zones("EPSG:4527"), path, encoding="GBK")
    zones = read_zones(path)
    assert zones.crs.to_epsg() == 4527
    equal_area_ha = zones.to_crs("EPSG:6933").geometry.area.sum() / 10_000
    assert zones.geometry.area.sum() / 10_000 == pytest.approx(equal_area_ha, rel=1e-3)
    assert 19_000 < equal_area_ha < 19_500  # 0.2° x 0.1° at 39° N


def test_geojson_and_kml_are_read(tmp_path: Path) -> None:
    src = _chinese_zones().rename(columns={"名称": "NAME"})[["NAME", "geometry"]]
    gj = tmp_path / "zones.geojson"
    pyogrio.write_dataframe(src, gj, driver="GeoJSON")
    assert read_zones(gj)["name"].tolist() == NAMES
    kml = tmp_path / "zones.kml"
    pyogrio.write_dataframe(
        src.to_crs("EPSG:4326").rename(columns={"NAME": "Name"}), kml, driver="KML"
    )
    zones = read_zones(kml)
    assert zones["name"].tolist() == NAMES
    assert zones.crs.to_epsg() == 4326


def test_invalid_geometry_is_repaired_and_non_polygons_dropped(tmp_path: Path) -> None:
    bowtie = Polygon([(0, 0), (2, 2), (2, 0), (0, 2), (0, 0)])
    gdf = gpd.GeoDataFrame(
        {"name": ["bowtie", "line", "empty"]},
        geometry=[bowtie, LineString([(0, 0), (1, 1)]), Polygon()],
        crs="EPSG:4527",
    )
    path = tmp_path / "bad.gpkg"
    pyogrio.write_dataframe(gdf, path, geometry_type="Unknown")
    zones = read_zones(path)
    assert zones["name"].tolist() == ["bowtie"]
    assert zones.geometry.iloc[0].is_valid
    assert zones.geometry.iloc[0].area == pytest.approx(2.0)


def test_generated_zone_ids_are_deterministic_and_unique(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(
        {"name": ["a", "b", "c"], "code": [None, "X", "X"]},
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1)],
        crs="EPSG:4527",
    )
    path = tmp_path / "z.gpkg"
    pyogrio.write_dataframe(gdf, path)
    first, second = read_zones(path)["zone_id"].tolist(), read_zones(path)["zone_id"].tolist()
    assert first == second
    assert first[0].startswith("ZN-") and len(first[0]) == 13
    assert first[1:] == ["X", "X-2"]


def test_read_stations_maps_aliases(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(
        {"站点编号": ["S01", "S02"], "站点名称": ["东站", "西站"]},
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
        crs="EPSG:4490",
    )
    path = tmp_path / "stations.gpkg"
    pyogrio.write_dataframe(gdf, path)
    stations = read_stations(path)
    assert list(stations.columns) == [*STATION_COLUMNS, "geometry"]
    assert stations["station_id"].tolist() == ["S01", "S02"]
    assert stations["name"].tolist() == ["东站", "西站"]


# --- errors ----------------------------------------------------------------------------


def test_missing_file_raises_input_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.gpkg"
    with pytest.raises(InputError, match=r"nope\.gpkg does not exist"):
        read_zones(path)


def test_raster_file_is_not_vector_data(tmp_path: Path) -> None:
    path = tmp_path / "image.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=2,
        height=2,
        count=1,
        dtype="uint8",
        crs="EPSG:4490",
        transform=Affine(0.1, 0.0, 110.0, 0.0, -0.1, 34.0),
    ) as dst:
        dst.write(np.zeros((1, 2, 2), "uint8"))
    with pytest.raises(InputError, match=r"image\.tif could not be read as vector data.*vector"):
        read_zones(path)


def test_garbage_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "zones.gpkg"
    path.write_bytes(b"\x00\x01 not a geopackage")
    with pytest.raises(InputError, match="could not be read"):
        read_zones(path)


def test_layer_without_features_raises(tmp_path: Path) -> None:
    path = tmp_path / "empty.gpkg"
    empty = gpd.GeoDataFrame({"name": []}, geometry=gpd.GeoSeries([], crs="EPSG:4490"))
    pyogrio.write_dataframe(empty, path, geometry_type="Polygon")
    with pytest.raises(InputError, match="has no features"):
        read_zones(path)


def test_only_empty_geometries_raises(tmp_path: Path) -> None:
    path = tmp_path / "lines.gpkg"
    lines = gpd.GeoDataFrame(
        {"name": ["l"]}, geometry=[LineString([(0, 0), (1, 1)])], crs="EPSG:4490"
    )
    pyogrio.write_dataframe(lines, path)
    with pytest.raises(InputError, match="no non-empty polygons"):
        read_zones(path)


def test_shapefile_without_prj_asks_for_a_crs(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.shp"
    src = gpd.GeoDataFrame({"name": ["a"]}, geometry=[box(0, 0, 1, 1)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        pyogrio.write_dataframe(src, path)
    with pytest.raises(InputError, match=r"no coordinate reference system.*\.prj.*EPSG:4490"):
        read_zones(path)


def test_undecodable_shapefile_without_cpg_asks_for_encoding(tmp_path: Path) -> None:
    path = tmp_path / "latin.shp"
    src = gpd.GeoDataFrame({"name": ["Ÿ" * 3 + "\xad"]}, geometry=[box(0, 0, 1, 1)], crs=4490)
    pyogrio.write_dataframe(src, path, encoding="cp1252")
    path.with_suffix(".cpg").unlink(missing_ok=True)
    dbf = path.with_suffix(".dbf")
    data = bytearray(dbf.read_bytes())
    data[-2] = 0xFF  # 0xFF is invalid as a lone byte in UTF-8, GBK and GB18030
    dbf.write_bytes(bytes(data))
    with pytest.raises(InputError, match="encoding="):
        read_zones(path)


# --- real data -------------------------------------------------------------------------


@pytest.mark.realdata
def test_natura2000_shapefile_reads_as_reserves() -> None:
    path = shared_data("natura2000-northsea-mpa") / "MPA_NorthSea_Shapes.shp"
    zones = read_zones(path)
    raw = pyogrio.read_dataframe(path)
    assert len(zones) == 4
    assert zones.crs.to_epsg() == 25832
    assert "Borkum Riff" in zones["name"].tolist()
    assert set(zones["zone_type"]) == {"reserve"}  # IUCN category IV
    assert zones["zone_id"].is_unique
    assert zones.geometry.is_valid.all()
    area_ha = zones.geometry.area.to_numpy() / 10_000
    np.testing.assert_allclose(area_ha, raw["FLAECHE"].to_numpy(), rtol=0.02)
    assert read_zones(path)["zone_id"].tolist() == zones["zone_id"].tolist()


@pytest.mark.realdata
def test_zion_geopackage_reads_as_national_park() -> None:
    zones = read_zones(shared_data("zion-np") / "zion.gpkg")
    assert zones["name"].tolist() == ["Zion National Park"]
    assert zones["zone_type"].tolist() == ["reserve"]
    assert zones.crs.is_projected
    assert 55_000 < zones.geometry.area.iloc[0] / 10_000 < 65_000  # about 595 km²
