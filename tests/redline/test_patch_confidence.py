"""A patch's confidence level and evidence from the integrated detector's per-pixel layers
(the level a quarter of its pixels hold, agreement counted on the same pixels), and the
run summary's table of levels."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rioxarray  # noqa: F401  (the .rio accessor)
import xarray as xr
from shapely.geometry import box

from tiandi.errors import InputError
from tiandi.models.evidence import EVIDENCE_BITS, NETWORK_HIGH_BIT, level_of
from tiandi.redline.patches.confidence import add_confidence
from tiandi.redline.reports.run_summary import (
    RunSummary,
    confidence_table,
    level_counts,
    write_summary_html,
)

X0, Y0, RES = 500_000.0, 4_400_000.0, 10.0
NET, VEG, BARE = (EVIDENCE_BITS[n] for n in ("network", "vegetation_loss", "bare_soil"))


def _change(bits: np.ndarray) -> xr.Dataset:
    h, w = bits.shape
    coords = {"y": Y0 - RES * (np.arange(h) + 0.5), "x": X0 + RES * (np.arange(w) + 0.5)}
    ds = xr.Dataset(
        {
            "evidence": (("y", "x"), bits),
            "confidence_level": (("y", "x"), level_of(bits)),
        },
        coords=coords,
    )
    return ds.rio.write_crs("EPSG:32650")


def _square(col: int, row: int, n: int) -> object:
    return box(X0 + col * RES, Y0 - (row + n) * RES, X0 + (col + n) * RES, Y0 - row * RES)


def test_patch_levels_and_evidence_from_the_pixels() -> None:
    bits = np.zeros((10, 30), dtype=np.uint8)
    bits[0:4, 0:4] = NET | VEG  # A: network and vegetation loss agree everywhere: highest
    bits[0:4, 10:14] = VEG | BARE  # B: two tests of one family (a harvest): nominal,
    bits[0, 10] = NET | VEG  # the network on one pixel only (1/16 < a quarter)
    bits[0:4, 20:22] = NET  # C: network on one half, bare soil on the other: both listed,
    bits[0:4, 22:24] = BARE  # but never on the same pixel, so not highest
    bits[0:2, 20:22] = NET | NETWORK_HIGH_BIT  # the network alone is high
    bits[9, 29] = 255
    patches = gpd.GeoDataFrame(
        {"patch_id": ["A", "B", "C"]},
        geometry=[_square(0, 0, 4), _square(10, 0, 4), _square(20, 0, 4)],
        crs="EPSG:32650",
    )
    got = add_confidence(patches, _change(bits)).set_index("patch_id")
    assert got.loc["A", "confidence_level"] == "highest"
    assert got.loc["A", "evidence"] == "network,vegetation_loss"
    assert got.loc["B", "confidence_level"] == "nominal"
    assert got.loc["B", "evidence"] == "vegetation_loss,bare_soil"
    assert got.loc["C", "evidence"] == "network,bare_soil"
    assert got.loc["C", "confidence_level"] == "high"


def test_change_maps_without_levels_are_refused() -> None:
    change = _change(np.zeros((4, 4), dtype=np.uint8)).drop_vars("evidence")
    with pytest.raises(InputError, match="--detector integrated"):
        add_confidence(gpd.GeoDataFrame(geometry=[], crs="EPSG:32650"), change)


def test_the_summary_counts_patches_per_level(tmp_path: Path) -> None:
    patches = gpd.GeoDataFrame(
        {
            "patch_id": ["A", "B", "C", "D"],
            "zone_name": "Z",
            "functional_zone": None,
            "hj1156_zh": "其他",
            "area_ha": [1.0, 2.0, 3.0, 4.0],
            "area_mu": [15.0, 30.0, 45.0, 60.0],
            "confidence_level": ["highest", "nominal", "nominal", None],
            "evidence": ["network,bare_soil", "water_gain", "network", None],
        },
        geometry=[_square(i * 5, 0, 2) for i in range(4)],
        crs="EPSG:32650",
    )
    table = confidence_table(patches)
    assert table is not None
    assert table["level"].tolist() == ["最高 highest", "一般 nominal", "— none"]
    assert table["n"].tolist() == [1, 2, 1] and table["area_ha"].tolist() == [1.0, 5.0, 4.0]
    assert table["evidence"].tolist()[1] == "network, water_gain"
    assert level_counts(patches) == {"highest": 1, "nominal": 2, "none": 1}
    assert confidence_table(patches.drop(columns=["confidence_level", "evidence"])) is None
    summary = RunSummary("z.gpkg", "a", "b", [], [], "integrated", "0.1.0", 4, 10.0, {})
    page = write_summary_html(summary, patches, tmp_path).read_text(encoding="utf-8")
    assert "按置信等级 By confidence level" in page and "最高 highest" in page
