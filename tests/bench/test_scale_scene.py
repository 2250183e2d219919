"""The scale series' synthetic scenes: dates a period, periods, items."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.windows

from bench import scale_scene


def test_four_dates_a_period_are_the_scenes_always_measured() -> None:
    assert scale_scene.dates() == scale_scene.DATES
    assert scale_scene.dates(4) == scale_scene.DATES


@pytest.mark.parametrize("per_period", [1, 3, 12])
def test_n_dates_a_period_fall_inside_their_period_in_order(per_period: int) -> None:
    days = scale_scene.dates(per_period)
    assert len(days) == 2 * per_period and len({d for d, _ in days}) == 2 * per_period
    assert [d for d, _ in days] == sorted(d for d, _ in days)
    for (start, end), half in zip(
        (p.split("/") for p in (scale_scene.BEFORE, scale_scene.AFTER)),
        (days[:per_period], days[per_period:]),
        strict=True,
    ):
        assert all(start <= day <= end for day, _ in half)
    baselines = {b for _, b in days}
    assert baselines <= {"04.00", "03.01"}
    assert ("03.01" in baselines) == (per_period > 1)  # both baselines once there are two


def test_a_scene_of_n_dates_is_its_own_folder_and_splits_into_its_periods(tmp_path: Path) -> None:
    usual = scale_scene.generate(tmp_path, 512, 1)
    folder = scale_scene.generate(tmp_path, 512, 3)
    assert usual.name == "scale-512-d1" and folder.name == "scale-512-d3"
    assert scale_scene.generate(tmp_path, 512, 3) == folder  # cached
    about = folder / "scene.json"
    about.write_text(json.dumps({"size": 512, "dates": scale_scene.dates(3)}), "utf-8")
    stale = folder / "stale.txt"
    stale.write_text("from an older generator", "utf-8")
    assert scale_scene.generate(tmp_path, 512, 3) == folder  # no version: made again
    assert json.loads(about.read_text("utf-8"))["version"] == scale_scene.SCENE_VERSION
    assert not stale.exists()
    (before, before_days), (after, after_days) = scale_scene.periods(folder)
    assert [len(before), len(after)] == [3, 3]
    assert [i.datetime.date().isoformat() for i in before + after] == [
        d for d, _ in before_days + after_days
    ]
    assert len(scale_scene.files(folder)) == 6 * 7
    # the quarry (rows 256-296, columns 384-444) is planted on every date after, none before
    quarry = rasterio.windows.Window(384, 256, 60, 40)
    for items, planted in ((before, False), (after, True)):
        for item in items:
            with rasterio.open(item.assets["B02"].href.removeprefix("file://")) as src:
                assert src.width == 512 and src.dtypes[0] == "uint16"
                # quarry B02 1800 DN against 300-700 for the fields (+ 1000 on 04.00)
                offset = 1000 if item.properties["s2:processing_baseline"] == "04.00" else 0
                median = float(np.median(src.read(1, window=quarry))) - offset
                assert (median > 1500) == planted, (item.id, median)
    with pytest.raises(ValueError, match="at least 1"):
        scale_scene.dates(0)


def test_scenes_are_about_as_cloudy_at_every_size_they_are_measured_at() -> None:
    # the scale series compares time per Mpx across sizes: the same share of clouds
    cover = []
    for size in (4096, 8192, 16384):
        rng = np.random.default_rng(size)
        scl = [scale_scene._clouds(size // 2, rng) for _ in range(3)]
        cover.append(float(np.mean([np.isin(s, (3, 9)).mean() for s in scl])))
    assert max(cover) - min(cover) < 0.06, cover
    assert min(cover) > 0.1 and max(cover) < 0.3, cover  # a cloudy date, not an overcast one
