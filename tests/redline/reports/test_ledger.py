"""Ledgers (台账): counts and areas per zone and period, CSV with BOM and stable XLSX."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from openpyxl import load_workbook
from shapely.geometry import box

from tests.fixtures.service import BURNED, fill_with_answers
from tiandi.errors import InputError
from tiandi.redline.patches.extract import write_patches
from tiandi.redline.reports.ledger import (
    ANSWERS,
    BY_ZONE,
    REGISTER,
    TOTAL,
    build_ledger,
    register_columns,
    write_ledgers,
)
from tiandi.redline.reports.ledger_sources import read_run_patches, run_period, store_periods
from tiandi.redline.store.gpkg import GpkgPatchStore
from tiandi.redline.vocabulary import MU_M2


def _patches(state: bool = False) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "patch_id": ["TB-1", "TB-2", "TB-3", "TB-4"],
            "zone_id": ["NNR01-1", "NNR01-1", "NNR01-2", "HX-01"],
            "zone_name": ["云峰山保护区", "云峰山保护区", "云峰山保护区", "水源涵养红线"],
            "zone_type": ["reserve", "reserve", "reserve", "redline"],
            "functional_zone": ["核心区", "核心区", "缓冲区", None],
            "hj1156_class": ["mining", "mining", "energy", "transport"],
            "change_type": ["new", "new", "enlarged", "new"],
            "area_m2": [20_000.0, 10_000.0, 6_666.7, 1_500.0],
            "confidence": [0.9, 0.8, 0.7, 0.6],
        }
    )
    if state:
        frame["state"] = ["closed", "dispatched", "closed", None]
    return frame


def test_counts_and_areas_by_zone_class_change_type_and_state() -> None:
    ledger = build_ledger({"2025-H2": _patches()})
    t = ledger.by_zone
    mining = t[(t.zone_id == "NNR01-1") & (t.hj1156_class == "mining")].iloc[0]
    assert mining.n_patches == 2
    assert mining.area_m2 == 30_000.0 and mining.area_ha == 3.0
    assert mining.area_mu == pytest.approx(round(30_000 / MU_M2, 2))
    assert mining.hj1156_zh == "矿产资源开发" and mining.change_type_zh == "新增"
    assert mining.state == "detected" and mining.state_zh == "已检出"
    total = t.iloc[-1]
    assert total.zone_name == TOTAL and total.n_patches == 4
    assert total.area_ha == pytest.approx(3.8167, abs=1e-4)
    assert t.iloc[:-1].n_patches.sum() == 4
    assert list(ledger.by_period.n_patches) == [1, 2, 1, 4]  # energy, mining, transport, total


def test_state_column_splits_rows_and_missing_state_is_detected() -> None:
    ledger = build_ledger({"2025-H2": _patches(state=True)})
    t = ledger.by_zone.iloc[:-1]
    mining = t[t.hj1156_class == "mining"]
    assert sorted(mining.state) == ["closed", "dispatched"]
    assert set(mining.state_zh) == {"已销号", "已下发核查"}
    assert t[t.zone_id == "HX-01"].state.item() == "detected"


def test_one_ledger_per_period_with_totals_per_period() -> None:
    ledger = build_ledger({"2025-H2": _patches(), "2025-H1": _patches().iloc[:1]})
    p = ledger.by_period
    assert list(p.period.unique()) == ["2025-H1", "2025-H2"]
    totals = p[p.hj1156_zh == TOTAL]
    assert list(totals.n_patches) == [1, 4]
    assert list(ledger.register.period) == ["2025-H1"] + ["2025-H2"] * 4


def test_csv_has_bom_and_bilingual_headers_and_xlsx_is_frozen_and_stable(
    tmp_path: Path,
) -> None:
    ledger = build_ledger({"2025-H2": _patches(state=True)})
    paths = write_ledgers(ledger, tmp_path)
    names = [p.name for p in paths]
    assert names == [
        "ledger_by_zone.csv",
        "ledger_by_period.csv",
        "patch_register.csv",
        "ledger.xlsx",
    ]
    raw = paths[0].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0][:3] == ["监测时期 Period", "保护地编号 Zone ID", "保护地名称 Zone name"]
    assert len(rows) == len(ledger.by_zone) + 1
    wb = load_workbook(paths[3])
    assert wb.sheetnames == ["按保护地 By zone", "按时期 By period", "图斑清单 Patches"]
    ws = wb["按保护地 By zone"]
    assert ws.freeze_panes == "A3"
    assert ws["A1"].value == "监测时期" and ws["A2"].value == "Period"
    assert [c.value for c in ws[2]][-3:] == ["Area (m²)", "Area (ha)", "Area (mu)"]
    assert len(ws[2]) == len(BY_ZONE)
    assert ws.max_row == len(ledger.by_zone) + 2
    assert ws.column_dimensions["C"].width >= len("云峰山保护区") * 2
    assert wb.properties.created.year == 2000
    first = [p.read_bytes() for p in paths]
    write_ledgers(ledger, tmp_path)
    assert [p.read_bytes() for p in paths] == first
    with zipfile.ZipFile(paths[3]) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_ledger_from_a_run_folder(tmp_path: Path) -> None:
    frame = _patches()
    geoms = [box(i, 0, i + 0.001, 0.001) for i in range(4)]
    gdf = gpd.GeoDataFrame(frame, geometry=geoms, crs="EPSG:4490")
    write_patches(gdf, tmp_path / "patches.gpkg")
    (tmp_path / "summary.json").write_text(json.dumps({"after": "2025-07-01/2025-12-31"}))
    assert run_period(tmp_path) == "2025-07-01/2025-12-31"
    ledger = build_ledger({run_period(tmp_path): read_run_patches(tmp_path)})
    assert ledger.by_zone.iloc[-1].n_patches == 4


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"lack the column\(s\) \['area_m2'\]"):
        build_ledger({"p": _patches().drop(columns="area_m2")})
    bad = _patches()
    bad.loc[0, "area_m2"] = -1.0
    with pytest.raises(InputError, match="negative area_m2"):
        build_ledger({"p": bad})
    with pytest.raises(InputError, match=r"has no patches\.gpkg"):
        read_run_patches(tmp_path)
    (tmp_path / "patches.gpkg").write_text("not a geopackage")
    with pytest.raises(InputError, match="cannot be read"):
        read_run_patches(tmp_path)


def test_no_patches_gives_empty_tables() -> None:
    ledger = build_ledger({"p": _patches().iloc[:0]})
    assert ledger.by_zone.empty and ledger.register.empty


def test_cli_ledger_of_two_runs(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tiandi.cli.app import app

    runs = []
    for k, period in enumerate(["2025-01-01/2025-06-30", "2025-07-01/2025-12-31"]):
        run = tmp_path / f"run{k}"
        run.mkdir()
        frame = _patches().iloc[: k + 2]
        geoms = [box(i, 0, i + 0.001, 0.001) for i in range(len(frame))]
        write_patches(
            gpd.GeoDataFrame(frame, geometry=geoms, crs="EPSG:4490"), run / "patches.gpkg"
        )
        (run / "summary.json").write_text(json.dumps({"after": period}))
        runs += ["--run", str(run)]
    res = CliRunner().invoke(app, ["ledger", *runs, "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    by_period = pd.read_csv(tmp_path / "out" / "ledger_by_period.csv", encoding="utf-8-sig")
    totals = by_period[by_period["人类活动类型 HJ 1156 class (zh)"] == TOTAL]
    assert list(totals["图斑数 Patches"]) == [2, 3]
    res = CliRunner().invoke(app, ["ledger", "--run", str(tmp_path), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "has no patches.gpkg" in " ".join(res.output.split())


def test_a_ledger_of_the_patch_store_carries_the_answers_on_the_ground(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tiandi.cli.app import app

    store = GpkgPatchStore(tmp_path / "patches.gpkg")
    fill_with_answers(store)
    periods = store_periods(store)
    assert list(periods) == ["2025-07-01/2025-12-31"]  # both runs' after period
    register = build_ledger(periods).register
    assert register_columns(register) == [*REGISTER, *ANSWERS]
    burned = register[register.patch_id == BURNED].iloc[0]
    assert (burned.state, burned.hj1156_class, burned.change_type) == (
        "field_checked",
        "other",  # the reviewed class
        "burned",
    )
    assert burned.field_severity == "重度 high" and burned.field_dieback_cause == ""
    assert set(register[register.patch_id != BURNED].field_severity) == {""}
    res = CliRunner().invoke(
        app, ["ledger", "--store", str(store.path), "--out", str(tmp_path / "out")]
    )
    assert res.exit_code == 0, res.output
    raw = (tmp_path / "out" / "patch_register.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.reader(raw.splitlines()))
    header = "火烧程度（实地核查） Burn severity (CBI), on the ground"
    assert header in rows[0]
    assert rows[1][rows[0].index(header)] == "重度 high"
    ws = load_workbook(tmp_path / "out" / "ledger.xlsx")["图斑清单 Patches"]
    assert [c.value for c in ws[1]][-3:] == [
        "火烧程度（实地核查）",
        "水华可见（实地核查）",
        "枯死原因（实地核查）",
    ]
    assert [c.value for c in ws[2]][-3] == "Burn severity (CBI), on the ground"
    both = ["--run", str(tmp_path), "--store", str(store.path), "--out", str(tmp_path)]
    refused = CliRunner().invoke(app, ["ledger", *both])
    assert refused.exit_code == 2 and "not both" in refused.output


def test_a_ledger_of_runs_keeps_its_columns() -> None:
    register = build_ledger({"2025-H2": _patches(state=True)}).register
    assert list(register.columns) == REGISTER
