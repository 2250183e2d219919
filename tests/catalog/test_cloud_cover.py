"""Scene cloud cover from an SCL or QA_PIXEL mask, and the search rule for unknown cover."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from tests.fixtures.catalog import make_item, utc
from tiandi.catalog import cloud_cover
from tiandi.catalog._query import cloud_filter, cloud_ok
from tiandi.catalog.cloud_cover import (
    cloud_cover_of_assets,
    qa_cloud_cover,
    resolve_cloud_cover,
    scl_cloud_cover,
)
from tiandi.errors import InputError


def _write(path: Path, data: np.ndarray) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=data.shape[1],
        height=data.shape[0],
        count=1,
        dtype=str(data.dtype),
        crs="EPSG:32650",
        transform=Affine(20.0, 0, 400000.0, 0, -20.0, 4460000.0),
    ) as dst:
        dst.write(data, 1)
    return path


def test_scl_cloud_cover_counts_shadow_cloud_cirrus_over_valid_pixels(tmp_path: Path) -> None:
    # 100 pixels: 20 no data, 80 valid of which 3+8+9+10 classes make 4+4+4+4 = 16 -> 20 %.
    scl = np.full((10, 10), 4, dtype="uint8")
    scl.flat[:20] = 0
    for i, cls in enumerate((3, 8, 9, 10)):
        scl.flat[20 + 4 * i : 24 + 4 * i] = cls
    scl.flat[40:50] = 11  # snow is not cloud
    assert scl_cloud_cover(_write(tmp_path / "SCL.tif", scl)) == 20.0


def test_scl_without_valid_pixels_has_no_cloud_cover(tmp_path: Path) -> None:
    assert scl_cloud_cover(_write(tmp_path / "SCL.tif", np.zeros((4, 4), "uint8"))) is None


def test_scl_is_read_at_a_decimated_level(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Left half cloud (9), right half vegetation: any nearest decimation gives 50 %.
    scl = np.full((64, 64), 4, dtype="uint8")
    scl[:, :32] = 9
    path = _write(tmp_path / "SCL.tif", scl)
    seen: list[tuple[int, int]] = []
    read = rasterio.io.DatasetReader.read

    def spy(self: rasterio.io.DatasetReader, *args: object, **kwargs: object) -> np.ndarray:
        out = read(self, *args, **kwargs)
        seen.append(out.shape)
        return out

    monkeypatch.setattr(cloud_cover, "MAX_SIDE", 8)
    monkeypatch.setattr(rasterio.io.DatasetReader, "read", spy)
    assert scl_cloud_cover(path) == 50.0
    assert seen == [(8, 8)]


def test_qa_pixel_cloud_cover_skips_fill(tmp_path: Path) -> None:
    clear, fill, cloud, shadow, cirrus = 1 << 6, 1, 1 << 3, 1 << 4, 1 << 2
    qa = np.array([[clear, clear, clear, fill], [cloud, shadow, cirrus, clear]], dtype="uint16")
    # 7 valid pixels, 3 cloudy
    assert qa_cloud_cover(_write(tmp_path / "LC09_QA_PIXEL.tif", qa)) == round(300 / 7, 2)


def test_assets_pick_scl_then_qa_pixel_else_none(tmp_path: Path) -> None:
    scl = _write(tmp_path / "SCL.tif", np.full((4, 4), 9, dtype="uint8"))
    qa = _write(tmp_path / "QA.tif", np.full((4, 4), 1 << 6, dtype="uint16"))
    band = _write(tmp_path / "B04.tif", np.full((4, 4), 500, dtype="uint16"))
    assert cloud_cover_of_assets({"B04": band, "SCL": scl, "QA_PIXEL": qa}) == 100.0
    assert cloud_cover_of_assets({"B04": band, "LC09_L2SP_QA_PIXEL": qa}) == 0.0
    assert cloud_cover_of_assets({"T50TMK_20250412T030541_SCL_20m": scl}) == 100.0
    assert cloud_cover_of_assets({"B04": band}) is None


def test_given_cloud_cover_wins_and_is_checked(tmp_path: Path) -> None:
    scl = _write(tmp_path / "SCL.tif", np.full((4, 4), 9, dtype="uint8"))
    assert resolve_cloud_cover({"SCL": scl}, 12.5) == 12.5
    assert resolve_cloud_cover({"SCL": scl}) == 100.0
    with pytest.raises(InputError, match="between 0 and 100"):
        resolve_cloud_cover({"SCL": scl}, 120.0)


def test_unreadable_mask_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "SCL.tif"
    bad.write_bytes(b"not a raster")
    with pytest.raises(InputError, match=r"SCL\.tif"):
        scl_cloud_cover(bad)


def test_rule_keeps_unknown_cover_and_filters_known() -> None:
    unknown = make_item("u", when=utc(2025, 1, 1), cloud=None)
    cloudy = make_item("c", when=utc(2025, 1, 1), cloud=90.0)
    assert cloud_ok(unknown, 10.0) and not cloud_ok(cloudy, 10.0) and cloud_ok(cloudy, None)
    assert cloud_filter(10.0)["op"] == "or"
    assert {"op": "isNull", "args": [{"property": "eo:cloud_cover"}]} in cloud_filter(10)["args"]
