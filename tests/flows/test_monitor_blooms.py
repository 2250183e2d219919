"""monitor_blooms end to end on a synthetic lake: the series, ledger and bloom patches in
the run folder, the alert dates' patches in the patch store; a zone without water is one
clear error through the CLI, and nothing is written."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.fixtures.bloom import (
    LARGE_BLOOM,
    SEASON,
    SMALL_BLOOM,
    bloom_px,
    dry_zone,
    lake_items,
    lake_zone,
)
from tests.fixtures.flow import Services
from tiandi.catalog.store import GeoParquetCatalog
from tiandi.cli.app import app
from tiandi.flows.monitor_blooms import MonitorBloomsRequest, monitor_blooms
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.store.open import open_store
from tiandi.settings import Settings

pytestmark = pytest.mark.slow
PERIOD = "2026-05-01/2026-06-30"


@pytest.fixture(scope="module")
def lake(services: Services, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    """Settings with an embedded catalog of the lake season (the session's Prefect and Dask)."""
    root = tmp_path_factory.mktemp("lake")
    settings = services.settings.model_copy(update={"home": root / "home", "chunk_size": 128})
    GeoParquetCatalog(settings.catalog_path).add(lake_items(root / "items", SEASON))
    return settings, root


def test_the_flow_writes_the_series_ledger_and_records_the_alert_dates(
    lake: tuple[Settings, Path], tmp_path: Path
) -> None:
    settings, _ = lake
    out = tmp_path / "blooms"
    request = MonitorBloomsRequest(
        lake_zone(tmp_path / "z.gpkg"), PERIOD, out, chunk=128, record=True
    )
    result = monitor_blooms(request, settings)
    assert result.alert_dates == ["2026-05-14", "2026-06-03"]
    assert result.without_clear_dates == []
    layout = RunLayout(out.resolve())
    series = pd.read_csv(layout.bloom_series_csv)
    assert list(series["date"]) == [s.date for s in SEASON]
    assert list(series["grade"]) == ["none", "local", "no_data", "regional", "none", "none"]
    facts = json.loads(layout.bloom_series_json.read_text(encoding="utf-8"))
    assert facts["alert_dates"] == result.alert_dates and len(facts["series"]) == 6
    assert facts["series"][2]["bloom_area_m2"] is None  # no data, not zero
    ledger = pd.read_csv(layout.bloom_ledger, encoding="utf-8-sig")
    assert "监测日期 Date" in ledger.columns and "面积（亩） Area (mu)" in ledger.columns
    assert ledger["预警 Alert"].tolist().count("是 yes") == 2
    patches = gpd.read_file(layout.bloom_patches, layer="patches")
    assert sorted(patches["bloom_date"]) == ["2026-05-14", "2026-06-03"]
    assert set(patches["change_type"]) == {"bloom"} and set(patches["hj1156_class"]) == {"other"}
    by_date = patches.set_index("bloom_date")["area_m2"]
    assert by_date["2026-05-14"] == pytest.approx(bloom_px(SMALL_BLOOM) * 100, rel=0.01)
    assert by_date["2026-06-03"] == pytest.approx(bloom_px(LARGE_BLOOM) * 100, rel=0.01)
    stored = open_store(settings).list_patches()
    assert len(stored) >= 1 and set(stored["change_type"]) == {"bloom"}
    assert set(stored["zone_id"]) == {"LK-1"}


def test_a_zone_without_water_is_one_error_and_nothing_is_written(
    lake: tuple[Settings, Path], tmp_path: Path
) -> None:
    from prefect.settings import PREFECT_API_URL

    settings, _ = lake
    out = tmp_path / "blooms"
    env = {
        "TIANDI_HOME": str(settings.home),
        "TIANDI_DASK_SCHEDULER": str(settings.dask_scheduler),
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
    }
    result = CliRunner().invoke(
        app,
        ["run", "monitor-blooms", "--zones", str(dry_zone(tmp_path / "dry.gpkg")),
         "--period", PERIOD, "--out", str(out)],
        env=env,
    )  # fmt: skip
    assert result.exit_code != 0, result.output
    text = " ".join(result.output.split())
    assert "DRY-1" in text and "no water body" in text, result.output
    assert "Traceback" not in result.output
    assert not out.exists() and not list(tmp_path.glob(".blooms*"))
