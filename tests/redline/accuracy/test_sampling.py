"""Sampling design over a change map and the accuracy report from the verified sample."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
from affine import Affine
from shapely.geometry import box

from tiandi.errors import InputError
from tiandi.redline.accuracy.estimates import assess, estimate_areas
from tiandi.redline.accuracy.report import accuracy_report, write_accuracy_report
from tiandi.redline.accuracy.sampling import (
    SamplingParams,
    design_sample,
    read_samples,
    write_samples,
)

X0, Y0, RES, CRS = 400000.0, 4460000.0, 10.0, "EPSG:32650"


def _mask(path: Path, data: np.ndarray) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=data.shape[0],
        width=data.shape[1],
        count=1,
        dtype="uint8",
        crs=CRS,
        transform=Affine(RES, 0, X0, 0, -RES, Y0),
        nodata=255,
    ) as dst:
        dst.write(data, 1)
    return path


def _utm_box(r0: int, r1: int, c0: int, c1: int) -> box:
    return box(X0 + c0 * RES, Y0 - r1 * RES, X0 + c1 * RES, Y0 - r0 * RES)


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    data = np.zeros((40, 50), "uint8")
    data[10:16, 10:16] = 1  # 36 change pixels
    data[:, 45:] = 255  # a no-data strip of 5 columns
    return _mask(tmp_path / "change_mask.tif", data)


SMALL = SamplingParams(minimum=5, buffer_px=2, n_total=30, seed=7)


def test_strata_areas_from_the_mask_and_a_buffer_ring(scene: Path) -> None:
    design = design_sample(scene, params=SMALL)
    by = {s.name: s for s in design.strata}
    assert by["change"].pixels == 36
    assert by["buffer"].pixels == 10 * 10 - 36  # ring of 2 px around a 6 x 6 block
    assert by["no_change"].pixels == 40 * 45 - 100
    assert by["change"].area_m2 == pytest.approx(3600.0)
    assert design.pixel_area_m2 == pytest.approx(100.0)
    assert [by[n].map_class for n in ("change", "buffer", "no_change")] == [
        "change",
        "no_change",
        "no_change",
    ]
    assert sum(s.n_samples for s in design.strata) == 30
    assert min(s.n_samples for s in design.strata) >= 5


def test_points_lie_in_their_stratum_and_never_on_no_data(scene: Path) -> None:
    design = design_sample(scene, params=SamplingParams(minimum=20, buffer_px=2, n_total=100))
    with rasterio.open(scene) as src:
        mask = src.read(1)
        transform = src.transform
    s = design.samples
    assert len(s) == 100 and s["sample_id"].is_unique
    values = mask[s["row"], s["col"]]
    assert (values != 255).all()
    assert (values[s["stratum"] == "change"] == 1).all()
    assert (values[s["stratum"] != "change"] == 0).all()
    buffer = s[s["stratum"] == "buffer"]
    assert ((buffer["row"].between(8, 17)) & (buffer["col"].between(8, 17))).all()
    x, y = transform @ (s["col"].to_numpy() + 0.5, s["row"].to_numpy() + 0.5)
    assert np.allclose(s.geometry.x, x) and np.allclose(s.geometry.y, y)
    assert (s["reference_class"] == "").all()


def test_sample_depends_on_the_seed_not_on_the_window(scene: Path) -> None:
    big = design_sample(scene, params=SMALL)
    small = design_sample(scene, params=SamplingParams(**{**SMALL.__dict__, "window_rows": 3}))
    other = design_sample(scene, params=SamplingParams(**{**SMALL.__dict__, "seed": 8}))
    cols = ["sample_id", "row", "col"]
    assert big.samples[cols].equals(small.samples[cols])
    assert not big.samples[cols].equals(other.samples[cols])
    assert big.strata == small.strata


def test_sample_size_from_the_target_standard_error(scene: Path) -> None:
    design = design_sample(scene, params=SamplingParams(target_se=0.05, minimum=2, buffer_px=2))
    w = np.array([s.pixels for s in design.strata], float)
    u = np.array(
        [
            0.95 if s.name == "no_change" else 0.85 if s.name == "buffer" else 0.8
            for s in design.strata
        ]
    )
    expected = math.ceil((w / w.sum() @ np.sqrt(u * (1 - u)) / 0.05) ** 2)
    assert design.n_target == expected
    assert sum(s.n_samples for s in design.strata) == max(expected, 6)


def test_a_stratum_smaller_than_its_allocation_is_taken_whole(tmp_path: Path) -> None:
    data = np.zeros((30, 30), "uint8")
    data[5:7, 5:7] = 1  # 4 change pixels, minimum 10
    design = design_sample(_mask(tmp_path / "m.tif", data), params=SamplingParams(minimum=10))
    assert {s.name: s.n_samples for s in design.strata}["change"] == 4


def test_strata_split_by_hj1156_class_from_patches(scene: Path, tmp_path: Path) -> None:
    data = np.zeros((40, 50), "uint8")
    data[10:16, 10:16] = 1
    data[30:34, 30:40] = 1
    data[2, 2] = 1  # a speck the patches dropped: goes to the buffer stratum
    mask = _mask(tmp_path / "cls.tif", data)
    patches = gpd.GeoDataFrame(
        {"patch_id": ["TB-1", "TB-2"], "hj1156_class": ["mining", "industry"]},
        geometry=[_utm_box(10, 16, 10, 16), _utm_box(30, 34, 30, 40)],
        crs=CRS,
    ).to_crs("EPSG:4490")
    params = SamplingParams(minimum=3, buffer_px=1, n_total=20, by_class=True)
    design = design_sample(mask, patches=patches, params=params)
    by = {s.name: s for s in design.strata}
    assert list(by) == ["no_change", "buffer", "mining", "industry"]
    assert by["mining"].pixels == 36 and by["industry"].pixels == 40
    assert by["buffer"].pixels == (8 * 8 - 36) + (6 * 12 - 40) + 1
    assert by["mining"].map_class == "mining"


def test_zones_restrict_the_domain_and_tag_the_points(scene: Path) -> None:
    zones = gpd.GeoDataFrame(
        {
            "zone_id": ["R-1", "R-2"],
            "name": ["保护区", "保护区"],  # as tiandi.redline.zones.read.read_zones names it
            "zone_type": ["reserve", "reserve"],
            "functional_zone": ["核心区", "缓冲区"],
        },
        geometry=[_utm_box(0, 20, 0, 20), _utm_box(20, 40, 0, 20)],
        crs=CRS,
    )
    design = design_sample(scene, zones=zones, params=SMALL)
    assert sum(s.pixels for s in design.strata) == 40 * 20
    assert set(design.samples["zone_id"]) <= {"R-1", "R-2"}
    assert set(design.samples["zone_name"]) == {"保护区"}
    assert (design.samples["col"] < 20).all()
    t = design.strata_table
    assert t.loc[(t.zone_id == "R-1") & (t.stratum == "change"), "pixels"].item() == 36
    assert t.loc[t.zone_id == "R-2", "pixels"].sum() == 400


def test_samples_written_as_field_tasks_in_cgcs2000(scene: Path, tmp_path: Path) -> None:
    design = design_sample(scene, params=SMALL)
    gpkg, geojson = write_samples(design, tmp_path / "samples.gpkg")
    first = gpkg.read_bytes()
    write_samples(design, tmp_path / "samples.gpkg")
    assert gpkg.read_bytes() == first
    layers = dict(pyogrio.list_layers(gpkg))
    assert layers["samples"] == "Point"
    samples = gpd.read_file(gpkg, layer="samples")
    assert samples.crs.to_epsg() == 4490
    assert {"sample_id", "stratum", "map_class", "reference_class"} <= set(samples.columns)
    assert np.allclose(samples.geometry.x, samples["lon"])
    doc = json.loads(geojson.read_text(encoding="utf-8"))
    assert len(doc["features"]) == 30
    read, strata = read_samples(gpkg)
    assert len(read) == 30 and strata["pixels"].sum() == 40 * 45


@pytest.mark.parametrize(
    ("fill", "needle"),
    [(255, "no valid pixel"), (0, "maps no change")],
)
def test_an_empty_map_is_refused(tmp_path: Path, fill: int, needle: str) -> None:
    path = _mask(tmp_path / "empty.tif", np.full((10, 10), fill, "uint8"))
    with pytest.raises(InputError, match=needle):
        design_sample(path)


def test_a_file_that_is_not_a_raster_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "mask.tif"
    bad.write_text("not a raster")
    with pytest.raises(InputError, match="cannot be read as a raster"):
        design_sample(bad)
    with pytest.raises(InputError, match=r"must end in \.gpkg"):
        write_samples(design_sample(_mask(tmp_path / "ok.tif", _block())), tmp_path / "s.csv")
    with pytest.raises(InputError, match="expected 'samples' and 'strata'"):
        gpd.GeoDataFrame({"a": [1]}, geometry=[box(0, 0, 1, 1)], crs=CRS).to_file(
            tmp_path / "x.gpkg", layer="other"
        )
        read_samples(tmp_path / "x.gpkg")


def _block() -> np.ndarray:
    data = np.zeros((30, 30), "uint8")
    data[10:20, 10:20] = 1
    return data


# --- accuracy report ------------------------------------------------------------------

# Olofsson et al. (2014), section 5, Table 8 (map rows, reference columns), 30 m pixels.
CLASSES = ["deforestation", "forest_gain", "stable_forest", "stable_nonforest"]
COUNTS = [[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]]
HA = [200_000 * 0.09, 150_000 * 0.09, 3_200_000 * 0.09, 6_450_000 * 0.09]


def _samples_from_counts(
    counts: list[list[int]],
    strata: list[str],
    classes: list[str],
    map_classes: list[str] | None = None,
) -> pd.DataFrame:
    rows = []
    for i, row in enumerate(counts):
        for j, n in enumerate(row):
            for _ in range(n):
                m = (map_classes or strata)[i]
                rows.append((f"{strata[i]}-{len(rows)}", strata[i], m, classes[j]))
    return pd.DataFrame(rows, columns=["sample_id", "stratum", "map_class", "reference_class"])


def test_report_reproduces_olofsson_table_8() -> None:
    samples = _samples_from_counts(COUNTS, CLASSES, CLASSES)
    areas = pd.DataFrame(
        {"stratum": CLASSES, "map_class": CLASSES, "area_m2": [a * 10_000 for a in HA]}
    )
    report = accuracy_report(samples, areas, by=None)
    g = report["overall"]
    ref = assess(COUNTS, HA, classes=CLASSES)
    assert g.classes == tuple(CLASSES)
    assert np.allclose(g.proportions, ref.proportions)
    assert g.overall.value == pytest.approx(ref.overall.value)
    assert g.overall.se == pytest.approx(ref.overall.se)
    for i, c in enumerate(CLASSES):
        assert g.users[i].value == pytest.approx(ref[c].users.value)
        assert g.users[i].se == pytest.approx(ref[c].users.se)
        assert g.producers[i].value == pytest.approx(ref[c].producers.value)
        assert g.producers[i].se == pytest.approx(ref[c].producers.se)
        assert g.area_m2[i].value / 1e4 == pytest.approx(ref[c].area.value)
        assert g.area_m2[i].se / 1e4 == pytest.approx(ref[c].area.se)
    # the numbers printed in the paper: deforestation 21,158 ± 6,158 ha, OA 0.95 ± 0.02
    assert round(g.area_m2[0].value / 1e4) == 21_158
    assert round(g.area_m2[0].half_width / 1e4) == 6_158
    assert (round(g.overall.value, 2), round(g.overall.half_width, 2)) == (0.95, 0.02)


def test_buffer_stratum_areas_match_the_stratified_area_estimator() -> None:
    counts = [[40, 10], [5, 45], [1, 99]]
    strata = ["change", "buffer", "no_change"]
    samples = _samples_from_counts(
        counts, strata, ["change", "no_change"], ["change", "no_change", "no_change"]
    )
    areas = pd.DataFrame(
        {
            "stratum": strata,
            "map_class": ["change", "no_change", "no_change"],
            "area_m2": [100.0, 400.0, 9500.0],
        }
    )
    g = accuracy_report(samples, areas, by=None)["overall"]
    ref = estimate_areas(counts, [100.0, 400.0, 9500.0], classes=["change", "no_change"])
    assert g.area_m2[0].value == pytest.approx(ref[0].area.value)
    assert g.area_m2[0].se == pytest.approx(ref[0].area.se)
    # user's accuracy of change uses the change stratum only: 40/50
    assert g.users[0].value == pytest.approx(0.8)
    # overall = Σ W_h * agreement_h
    w = np.array([100, 400, 9500]) / 10_000
    assert g.overall.value == pytest.approx(w @ [0.8, 0.9, 0.99])
    # producer's accuracy of change: mapped-and-found / found everywhere
    found = w @ [0.8, 0.1, 0.01]
    assert g.producers[0].value == pytest.approx(w[0] * 0.8 / found)


def _verified(tmp_path: Path, scene: Path) -> tuple[Path, gpd.GeoDataFrame]:
    zones = gpd.GeoDataFrame(
        {
            "zone_id": ["R-1", "R-2"],
            "zone_name": ["甲保护区", "乙红线"],
            "zone_type": ["reserve", "redline"],
            "functional_zone": ["核心区", None],
        },
        geometry=[_utm_box(0, 20, 0, 45), _utm_box(20, 40, 0, 45)],
        crs=CRS,
    )
    design = design_sample(scene, zones=zones, params=SMALL)
    gpkg, _ = write_samples(design, tmp_path / "samples.gpkg")
    samples = gpd.read_file(gpkg, layer="samples")
    # the crew: mapped change confirmed except one; one omission found in the buffer
    ref = samples["map_class"].where(samples["map_class"] != "change", "变化").tolist()
    ref[samples.index[samples["stratum"] == "change"][0]] = "no_change"
    ref[samples.index[samples["stratum"] == "buffer"][0]] = "change"
    samples["reference_class"] = ref
    return gpkg, samples


def test_report_per_reserve_and_overall_from_a_field_edited_package(
    scene: Path, tmp_path: Path
) -> None:
    gpkg, samples = _verified(tmp_path, scene)
    pyogrio.write_dataframe(samples, gpkg, layer="samples")  # what the field app saves
    read, strata = read_samples(gpkg)
    report = accuracy_report(read, strata, by="reserve")
    assert [g.group for g in report.groups] == ["overall", "乙红线", "甲保护区"]
    overall = report["overall"]
    assert overall.classes == ("change", "no_change")
    assert overall.n_samples == 30
    assert sum(map(sum, overall.counts)) == 30
    assert overall.counts[0][1] == 1 and overall.counts[1][0] == 1
    assert overall.total_area_m2 == pytest.approx(40 * 45 * 100.0)
    assert sum(e.value for e in overall.area_m2) == pytest.approx(overall.total_area_m2)
    assert 0 < overall.overall.ci_low < overall.overall.value < overall.overall.ci_high <= 1.5
    # 乙红线 has no mapped change: its change stratum has no area, no samples
    red = report["乙红线"]  # no mapped change there: one no_change stratum
    assert red.note == "" and red.mapped_area_m2[0] == 0.0 and red.users[0] is None
    assert red.total_area_m2 == pytest.approx(20 * 45 * 100.0)
    reserve = report["甲保护区"]
    assert reserve.n_samples + red.n_samples == 30
    assert reserve.mapped_area_m2[0] == pytest.approx(3600.0)
    paths = write_accuracy_report(report, tmp_path / "accuracy.json")
    again = [p.read_bytes() for p in paths]
    write_accuracy_report(report, tmp_path / "accuracy.json")
    assert [p.read_bytes() for p in paths] == again
    doc = json.loads(paths[0].read_text(encoding="utf-8"))
    assert (
        doc["groups"][0]["per_class"][0]["area_ha"]["ci_low"]
        < doc["groups"][0]["per_class"][0]["area_ha"]["value"]
    )
    assert "用户精度" in paths[1].read_text(encoding="utf-8")
    assert "<table>" in paths[2].read_text(encoding="utf-8")


def test_report_refuses_unverified_unknown_and_zero_area_input(scene: Path, tmp_path: Path) -> None:
    _, samples = _verified(tmp_path, scene)
    _, strata = read_samples(tmp_path / "samples.gpkg")
    blank = samples.copy()
    blank.loc[blank.index[:3], "reference_class"] = ""
    with pytest.raises(InputError, match="3 of 30 samples have no reference_class"):
        accuracy_report(blank, strata)
    odd = samples.copy()
    odd.loc[odd.index[0], "reference_class"] = "volcano"
    with pytest.raises(InputError, match="'volcano' is not one of"):
        accuracy_report(odd, strata)
    zero = strata.copy()
    zero.loc[zero["stratum"] == "buffer", "area_m2"] = 0.0
    with pytest.raises(InputError, match=r"stratum 'buffer' holds .* zero area"):
        accuracy_report(samples, zero)
    first_change = samples.index[samples["stratum"] == "change"][0]
    few = samples[(samples["stratum"] != "change") | (samples.index == first_change)]
    with pytest.raises(InputError, match=r"stratum 'change' .* has 1 verified sample units"):
        accuracy_report(few, strata)
    with pytest.raises(InputError, match="lack the column"):
        accuracy_report(samples.drop(columns="reference_class"), strata)


def test_cli_sample_then_report_after_field_edits(scene: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tiandi.cli.app import app

    run = tmp_path / "run"
    (run / "change").mkdir(parents=True)
    (run / "change" / "change_mask.tif").write_bytes(scene.read_bytes())
    out = tmp_path / "samples.gpkg"
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "accuracy",
            "sample",
            "--run",
            str(run),
            "--out",
            str(out),
            "--minimum",
            "5",
            "--target-se",
            "0.05",
            "--buffer-px",
            "2",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "sample units" in " ".join(res.output.split()) and out.is_file()
    samples = gpd.read_file(out, layer="samples")
    samples["reference_class"] = samples["map_class"]
    pyogrio.write_dataframe(samples, out, layer="samples")
    res = runner.invoke(app, ["accuracy", "report", "--samples", str(out), "--by", "none"])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "samples.accuracy.json").read_text(encoding="utf-8"))
    assert doc["groups"][0]["overall"]["value"] == pytest.approx(1.0)
    res = runner.invoke(app, ["accuracy", "sample", "--run", str(tmp_path), "--out", str(out)])
    assert res.exit_code == 2 and "has no change/change_mask.tif" in " ".join(res.output.split())
