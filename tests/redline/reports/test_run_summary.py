"""The summary page and table: sums per zone and class, self-contained HTML."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
from shapely.geometry import box

from tiandi.redline.reports.run_summary import RunSummary, patch_table, write_summary_html


def _patches() -> gpd.GeoDataFrame:
    rows = [
        ("TB-1", "保护区", "实验区", "矿产资源开发", 2.0),
        ("TB-2", "保护区", "实验区", "矿产资源开发", 1.5),
        ("TB-3", "红线A", None, "养殖", 4.0),
    ]
    return gpd.GeoDataFrame(
        {
            "patch_id": [r[0] for r in rows],
            "zone_name": [r[1] for r in rows],
            "functional_zone": [r[2] for r in rows],
            "hj1156_zh": [r[3] for r in rows],
            "area_ha": [r[4] for r in rows],
            "area_mu": [r[4] * 15 for r in rows],
        },
        geometry=[box(0, 0, 1, 1)] * 3,
        crs="EPSG:4490",
    )


def test_patch_table_sums_per_zone_and_class() -> None:
    table = patch_table(_patches())
    mining = table[table["hj1156_zh"] == "矿产资源开发"].iloc[0]
    assert mining["n"] == 2 and mining["area_ha"] == 3.5
    assert table["area_ha"].sum() == 7.5
    assert "—" in set(table["functional_zone"])  # a red-line zone has no functional zone


def test_summary_page_is_self_contained(tmp_path: Path) -> None:
    summary = RunSummary(
        zones_file="zones.gpkg",
        before="2025-01-01/2025-06-30",
        after="2025-07-01/2025-12-31",
        items_before=["a"],
        items_after=["b"],
        detector="baseline-cva",
        detector_version="0.1.0",
        n_patches=3,
        total_area_ha=7.5,
        outputs={"patches": "patches.gpkg"},
        scores={"precision": 0.9, "recall": 0.8, "f1": 0.85, "n_patches": 3, "n_truth": 3},
    )
    page = write_summary_html(summary, _patches(), tmp_path).read_text(encoding="utf-8")
    assert "矿产资源开发" in page and "112.5 亩" in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page), "page links outside (air-gapped)"
    assert (tmp_path / "summary.json").exists()
