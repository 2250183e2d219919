"""The demo scene generator: files, determinism, planted events, baseline offset, clouds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
from rasterio import features
from rasterio.transform import Affine
from shapely.geometry import box

from tests.conftest import shared_data
from tiandi.demo.scene import SceneManifest, generate_scene, main
from tiandi.demo.scene_disturbances import COASTAL_ZONE
from tiandi.errors import InputError

SIZE = 512
X0, Y0 = 400000.0, 4460000.0
BANDS_10M = ("B02", "B03", "B04", "B08")
SIGNATURES = {  # after-state B02 B03 B04 B08 of docs/architecture.md
    "quarry": (0.18, 0.20, 0.24, 0.28),
    "construction": (0.12, 0.13, 0.14, 0.19),
    "road": (0.10, 0.11, 0.12, 0.16),
    "aquaculture": (0.06, 0.07, 0.05, 0.03),
    "solar": (0.07, 0.07, 0.07, 0.10),
    "clearing": (0.09, 0.11, 0.14, 0.22),
}
HJ1156 = {
    "quarry": "mining",
    "construction": "industry",
    "road": "transport",
    "aquaculture": "aquaculture",
    "solar": "energy",
    "clearing": "agriculture",
}
CLEAR = (4, 5, 6)


@pytest.fixture(scope="module")
def scene(demo_scene: SceneManifest) -> SceneManifest:
    """The session's scene of size ``SIZE``, seed 1 (``demo_scene``, tests/conftest.py)."""
    return demo_scene


@pytest.fixture(scope="module")
def entries(scene: SceneManifest) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(scene.scenes_json.read_text(encoding="utf-8"))
    return records


def _reflectance(root: Path, entry: dict[str, Any]) -> dict[str, np.ndarray]:
    """Harmonised 10 m reflectance and SCL upsampled to 10 m, for one scenes.json entry."""
    out = {}
    for band in BANDS_10M:
        with rasterio.open(root / entry["assets"][band]) as src:
            out[band] = (src.read(1).astype(np.float64) + entry["boa_add_offset"]) / 10000.0
    with rasterio.open(root / entry["assets"]["SCL"]) as src:
        out["SCL"] = np.repeat(np.repeat(src.read(1), 2, axis=0), 2, axis=1)
    return out


def _reflectance_all(root: Path, entry: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every band as 10 m reflectance (20 m bands repeated) and SCL, for one entry."""
    out = _reflectance(root, entry)
    for band in ("B11", "B12"):
        with rasterio.open(root / entry["assets"][band]) as src:
            dn = src.read(1).astype(np.float64)
        refl = (dn + entry["boa_add_offset"]) / 10000.0
        out[band] = np.repeat(np.repeat(refl, 2, axis=0), 2, axis=1)
    return out


def _footprint_mask(geometry: Any) -> np.ndarray:
    transform = Affine(10.0, 0.0, X0, 0.0, -10.0, Y0)
    mask: np.ndarray = features.rasterize(
        [(geometry, 1)], out_shape=(SIZE, SIZE), transform=transform
    ).astype(bool)
    return mask


def test_rasters_have_expected_bands_resolutions_crs_and_dtypes(
    scene: SceneManifest, entries: list[dict[str, Any]]
) -> None:
    assert len(entries) == len(scene.scenes) >= 8
    for entry in entries:
        assert set(entry["assets"]) == {*BANDS_10M, "B11", "B12", "SCL"}
        for band, rel in entry["assets"].items():
            assert not Path(rel).is_absolute(), rel
            with rasterio.open(scene.root / rel) as src:
                side = SIZE if band in BANDS_10M else SIZE // 2
                res = 10.0 if band in BANDS_10M else 20.0
                assert (src.width, src.height) == (side, side), (entry["item_id"], band)
                assert src.res == (res, res)
                assert src.crs.to_epsg() == 32650
                assert (src.transform.c, src.transform.f) == (X0, Y0)
                assert src.dtypes[0] == ("uint8" if band == "SCL" else "uint16")
                assert src.nodata == 0
                assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
                assert src.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"


def test_scenes_json_has_two_periods_mixed_baselines_and_measured_cloud_cover(
    scene: SceneManifest, entries: list[dict[str, Any]]
) -> None:
    before = [e for e in entries if e["datetime"] < "2025-07-01"]
    after = [e for e in entries if e["datetime"] >= "2025-07-01"]
    assert len(before) >= 4 and len(after) >= 4
    assert all(e["datetime"].startswith("2025-") and e["datetime"].endswith("Z") for e in entries)
    for entry in entries:
        expected = -1000 if entry["processing_baseline"] == "04.00" else 0
        assert entry["processing_baseline"] in ("03.01", "04.00")
        assert entry["boa_add_offset"] == expected
        assert entry["item_id"].startswith(("S2B_MSIL2A_", "S2C_MSIL2A_"))
        with rasterio.open(scene.root / entry["assets"]["SCL"]) as src:
            scl = src.read(1)
        valid = scl != 0
        measured = 100.0 * np.isin(scl[valid], (8, 9, 10)).mean()
        assert entry["cloud_cover"] == pytest.approx(measured, abs=0.01)
    for group in (before, after):
        assert {e["processing_baseline"] for e in group} == {"03.01", "04.00"}
    covers = sorted(e["cloud_cover"] for e in entries)
    assert covers[0] < 3.0, "no almost clear scene"
    assert covers[-1] > 70.0, "no very cloudy scene"


def test_rerun_writes_byte_identical_files(tmp_path: Path) -> None:
    first = generate_scene(tmp_path / "a", size=256, seed=5)
    assert main([str(tmp_path / "b"), "--size", "256", "--seed", "5"]) == 0
    files = sorted(p.relative_to(first.root) for p in first.root.rglob("*") if p.is_file())
    assert len(files) == 10 * 7 + 4
    for rel in files:
        assert (tmp_path / "b" / rel).read_bytes() == (first.root / rel).read_bytes(), rel
    other = generate_scene(tmp_path / "c", size=256, seed=6)
    tif = first.scenes[0].assets["B04"].relative_to(first.root)
    assert (other.root / tif).read_bytes() != (first.root / tif).read_bytes()


def test_disturbances_change_no_pixel_of_the_events_or_of_the_land_around(
    tmp_path: Path,
) -> None:
    """The same scene without disturbances (the default): no 2024 acquisitions, no
    disturbances layer; every pixel of 2025 away from the planted disturbances is the
    same."""
    shared_data("eurosat-ms-sample")
    shared_data("s2-burned-areas-california")
    with_them = generate_scene(tmp_path / "a", size=256, seed=5, disturbances=True)
    without = generate_scene(tmp_path / "b", size=256, seed=5)
    planted = gpd.read_file(with_them.truth, layer="disturbances").to_crs(32650)
    assert len(planted) == 2  # below 512 px: the burn scar and the dieback stand only
    assert "disturbances" not in pyogrio.list_layers(without.truth)[:, 0]
    earlier = [a for a in with_them.scenes if a.period == "baseline"]
    assert len(earlier) == 3 and not any(b.period == "baseline" for b in without.scenes)
    transform = Affine(10.0, 0.0, X0, 0.0, -10.0, Y0)
    near = features.rasterize(
        [(g.buffer(30.0), 1) for g in planted.geometry], out_shape=(256, 256), transform=transform
    ).astype(bool)
    this_year = [a for a in with_them.scenes if a.period != "baseline"]
    for a, b in zip(this_year, without.scenes, strict=True):
        assert a.item_id == b.item_id
        with rasterio.open(a.assets["B08"]) as x, rasterio.open(b.assets["B08"]) as y:
            pa, pb = x.read(1), y.read(1)
        assert np.array_equal(pa[~near], pb[~near]), a.item_id
        assert np.array_equal(pa[near], pb[near]) == (a.period != "after"), a.item_id


def test_disturbances_without_the_real_data_folder_fail_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"real data folder .*none.* not found"):
        generate_scene(
            tmp_path / "a", size=256, seed=5, disturbances=True, real_data=tmp_path / "none"
        )
    assert not (tmp_path / "a").exists()  # nothing written


def _index(bands: dict[str, np.ndarray], a: str, b: str) -> np.ndarray:
    return (bands[a] - bands[b]) / (bands[a] + bands[b])


def test_disturbances_show_their_real_spectra_after_and_are_in_the_truth(
    disturbed_scene: SceneManifest,
) -> None:
    scene = disturbed_scene
    entries = json.loads(scene.scenes_json.read_text(encoding="utf-8"))
    earlier = [e for e in entries if e["datetime"] < "2025-01-01"]
    assert len(earlier) == 3 and all(e["datetime"].startswith("2024-0") for e in earlier)
    assert all(e["cloud_cover"] == 0.0 for e in earlier)  # the dieback baseline: clear
    planted = gpd.read_file(scene.truth, layer="disturbances").to_crs(32650)
    assert sorted(planted.kind) == ["bloom", "bloom", "burn_scar", "dieback", "reclamation"]
    types = dict(zip(planted.kind, planted.change_type, strict=True))
    assert types == {
        "bloom": "bloom",
        "burn_scar": "burned",
        "dieback": "dieback",
        "reclamation": "reclamation",
    }
    zones = gpd.read_file(scene.zones, layer="zones").to_crs(32650).set_index("zone_id")
    events = gpd.read_file(scene.truth, layer="events").to_crs(32650)
    for row in planted.itertuples():
        assert row.geometry.buffer(-1.0).within(zones.geometry[row.zone_id]), row.event_id
        assert events.distance(row.geometry).min() > 50.0, row.event_id
    assert set(planted.zone_id[planted.kind.isin(["bloom", "reclamation"])]) == {COASTAL_ZONE}
    by_day = {e["datetime"][:10]: e for e in entries}
    bands = {d: _reflectance_all(scene.root, by_day[d]) for d in ("2025-06-21", "2025-08-10")}
    for row in planted.itertuples():
        inside = _footprint_mask(row.geometry)
        before, after = bands["2025-06-21"], bands["2025-08-10"]
        clear = inside & (before["SCL"] != 0) & (after["SCL"] < 7) & (after["SCL"] != 3)
        assert clear.sum() > 0.5 * inside.sum(), row.event_id
        if row.kind == "burn_scar":  # NBR of a burn: far below the grass before
            assert np.median(_index(after, "B08", "B12")[clear]) < 0.0
            assert np.median(_index(before, "B08", "B12")[clear]) > 0.2
        if row.kind == "dieback":  # NDVI and NDMI both down, still vegetated
            for a, b in (("B08", "B04"), ("B08", "B11")):
                drop = _index(before, a, b)[clear] - _index(after, a, b)[clear]
                assert np.median(drop) > 0.1, (a, b)
            assert np.median(_index(after, "B08", "B04")[clear]) > 0.35
        if row.kind == "reclamation":  # water before, land after (MNDWI)
            assert np.median(_index(before, "B03", "B11")[clear]) > 0.2
            assert np.median(_index(after, "B03", "B11")[clear]) < 0.0
        if row.kind == "bloom" and row.date == "2025-08-10":  # FAI above the bloom threshold
            fai = after["B08"] - (after["B04"] + (after["B11"] - after["B04"]) * 168.2 / 949.1)
            assert np.median(fai[clear]) > -0.004
            assert np.median(_index(after, "B03", "B11")[clear]) > 0.2  # still water


def test_events_absent_before_and_present_in_every_after_scene(
    scene: SceneManifest, entries: list[dict[str, Any]]
) -> None:
    truth = gpd.read_file(scene.truth, layer="events").to_crs(32650)
    checked_after = dict.fromkeys(truth.event_id, 0)
    data = [(e, _reflectance(scene.root, e)) for e in entries]
    for event in truth.itertuples():
        inside = _footprint_mask(event.geometry)
        assert inside.sum() == pytest.approx(event.geometry.area / 100.0, rel=1e-6)
        signature = np.array(SIGNATURES[event.kind])
        for entry, bands in data:
            clear = inside & np.isin(bands["SCL"], CLEAR)
            if clear.sum() < 0.5 * inside.sum():
                continue
            observed = np.array([np.median(bands[b][clear]) for b in BANDS_10M])
            gap = np.abs(observed - signature).max()
            if entry["datetime"] >= "2025-07-01":
                assert gap < 0.02, (event.event_id, event.kind, entry["item_id"], observed)
                checked_after[event.event_id] += 1
            else:
                assert gap > 0.04, (event.event_id, event.kind, entry["item_id"], observed)
    assert all(count >= 1 for count in checked_after.values()), checked_after


def test_baseline_0400_scenes_carry_the_1000_dn_offset(
    scene: SceneManifest, entries: list[dict[str, Any]]
) -> None:
    old = next(e for e in entries if e["item_id"] == "S2C_MSIL2A_20250517_T50TMK")
    new = next(e for e in entries if e["item_id"] == "S2C_MSIL2A_20250621_T50TMK")
    assert (old["processing_baseline"], new["processing_baseline"]) == ("03.01", "04.00")
    raw = {}
    for key, entry in (("old", old), ("new", new)):
        with rasterio.open(scene.root / entry["assets"]["B08"]) as src:
            raw[key] = src.read(1).astype(np.int64)
        with rasterio.open(scene.root / entry["assets"]["SCL"]) as src:
            raw[key + "_scl"] = np.repeat(np.repeat(src.read(1), 2, axis=0), 2, axis=1)
    water = (raw["old_scl"] == 6) & (raw["new_scl"] == 6)
    assert water.sum() > 500
    shift = np.median(raw["new"][water]) - np.median(raw["old"][water])
    assert shift == pytest.approx(1000, abs=30)
    assert raw["new"][raw["new"] > 0].min() > 1000
    assert raw["old"][raw["old"] > 0].min() < 1000


def test_scl_marks_clouds_where_reflectance_is_bright_and_shadows_dark(
    scene: SceneManifest, entries: list[dict[str, Any]]
) -> None:
    cloudy = max(entries, key=lambda e: e["cloud_cover"])
    for entry in (cloudy, next(e for e in entries if 30 < e["cloud_cover"] < 60)):
        bands = _reflectance(scene.root, entry)
        bright = bands["B02"] > 0.25
        assert bright.sum() > 1000
        assert np.isin(bands["SCL"][bright], (8, 9, 10)).mean() > 0.97
        assert np.median(bands["B02"][bands["SCL"] == 9]) > 0.3
        clear = bands["SCL"] == 4
        shadow = bands["SCL"] == 3
        assert shadow.sum() > 100, "no cloud shadow marked"
        assert np.median(bands["B08"][shadow]) < 0.7 * np.median(bands["B08"][clear])


def test_vectors_are_cgcs2000_zones_nest_and_stations_tile_the_scene(
    scene: SceneManifest,
) -> None:
    zones = gpd.read_file(scene.zones, layer="zones")
    stations = gpd.read_file(scene.stations, layer="stations")
    truth = gpd.read_file(scene.truth, layer="events")
    for frame in (zones, stations, truth):
        assert frame.crs.to_epsg() == 4490
    assert {"zone_id", "name", "zone_type", "level", "functional_zone", "region"} <= set(zones)
    reserve = zones[zones.zone_type == "reserve"]
    assert sorted(reserve.functional_zone) == sorted(["核心区", "缓冲区", "实验区"])
    redline = zones[zones.zone_type == "redline"]
    assert set(redline.category) == {"水源涵养", "生物多样性维护", "水土保持"}

    extent = box(X0, Y0 - 10 * SIZE, X0 + 10 * SIZE, Y0)
    utm = zones.to_crs(32650)
    overlap = sum(
        a.intersection(b).area for i, a in enumerate(utm.geometry) for b in utm.geometry[i + 1 :]
    )
    assert overlap < 1.0
    assert 0.5 <= utm.union_all().intersection(extent).area / extent.area <= 0.7

    scene_4490 = gpd.GeoSeries([extent], crs=32650).to_crs(4490).iloc[0]
    assert len(stations) == 3
    assert stations.union_all().contains(scene_4490)
    station_utm = stations.to_crs(32650).geometry
    assert sum(a.intersection(b).area for a in station_utm for b in station_utm) == pytest.approx(
        sum(g.area for g in station_utm), rel=1e-9
    )

    assert set(truth.kind) == set(SIGNATURES)
    assert all(HJ1156[k] == c for k, c in zip(truth.kind, truth.hj1156_class, strict=True))
    assert set(truth.change_type) == {"new"}
    days = sorted(s.datetime.date().isoformat() for s in scene.scenes)
    last_before = max(d for d in days if d < "2025-07-01")
    first_after = min(d for d in days if d >= "2025-07-01")
    assert ((truth.date > last_before) & (truth.date < first_after)).all(), truth.date
    zone_union = zones.union_all()
    inside = truth[truth.inside_zone]
    outside = truth[~truth.inside_zone]
    assert len(inside) >= 6 and len(outside) >= 1
    assert inside.geometry.within(zone_union.buffer(1e-7)).all()
    assert not outside.geometry.intersects(zone_union).any()


@pytest.mark.parametrize(
    ("size", "seed", "fragment"),
    [(100, 0, "between"), (513, 0, "odd"), (512, -1, "seed"), (2.5, 0, "integer")],
)
def test_bad_arguments_raise_input_error(
    tmp_path: Path, size: Any, seed: int, fragment: str
) -> None:
    with pytest.raises(InputError, match=fragment):
        generate_scene(tmp_path / "x", size=size, seed=seed)
    assert not (tmp_path / "x").exists()


def test_output_folder_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("not a folder")
    with pytest.raises(InputError, match="is a file"):
        generate_scene(target, size=256)
