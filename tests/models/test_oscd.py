"""Reading OSCD-layout folders: grid, labels, date-2 size quirks and bad layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import shared_data
from tests.fixtures.oscd import make_city, make_oscd
from tiandi.errors import InputError
from tiandi.models.oscd import (
    IMAGES_DIR,
    LABEL_DIRS,
    S2_BANDS,
    dataset_checksum,
    list_cities,
    read_city,
)


def test_city_is_read_on_the_date1_10m_grid_with_labels_0_1(tmp_path: Path) -> None:
    truth = make_city(tmp_path, "alpha", size=(48, 40))
    city = read_city(tmp_path, "alpha")
    assert city.shape == (48, 40)
    assert list(city.before.data_vars) == list(S2_BANDS)
    assert city.before["B01"].shape == (48, 40)  # 60 m band resampled to 10 m
    assert city.after["B11"].dtype == np.float32
    assert city.label is not None
    assert set(np.unique(city.label).tolist()) == {0, 1}  # from 1/2 in the file
    np.testing.assert_array_equal(city.label, truth)
    assert city.dates[0].isoformat() == "2016-01-01"
    assert city.notes == ()
    # reflectance = DN / 10000; the planted change is brighter in date 2
    change = city.label == 1
    assert float(city.after["B04"].values[change].mean()) > 0.2 + float(
        city.before["B04"].values[change].mean()
    )


def test_smaller_date2_rasters_are_resampled_to_the_date1_grid_and_noted(tmp_path: Path) -> None:
    make_city(tmp_path, "alpha", size=(48, 40), date2_shrink=3)
    city = read_city(tmp_path, "alpha")
    assert city.after["B02"].shape == (48, 40)
    assert any("imgs_2" in n and "45x37" in n and "resampled" in n for n in city.notes)


def test_bands_can_be_selected(tmp_path: Path) -> None:
    make_city(tmp_path, "alpha")
    city = read_city(tmp_path, "alpha", bands=("B02", "B03", "B04", "B08"))
    assert list(city.after.data_vars) == ["B02", "B03", "B04", "B08"]


def test_missing_band_names_city_and_band(tmp_path: Path) -> None:
    make_city(tmp_path, "alpha", skip_bands=("B8A",))
    with pytest.raises(InputError, match=r"'alpha'.*imgs_2.*B8A"):
        read_city(tmp_path, "alpha")


def test_missing_label_names_city_unless_not_required(tmp_path: Path) -> None:
    make_city(tmp_path, "alpha", label=False)
    with pytest.raises(InputError, match=r"'alpha'.*no change map"):
        read_city(tmp_path, "alpha")
    assert read_city(tmp_path, "alpha", require_label=False).label is None


def test_missing_dates_file_and_unknown_city_and_wrong_root(tmp_path: Path) -> None:
    make_oscd(tmp_path, ("alpha", "beta"))
    (tmp_path / IMAGES_DIR / "beta" / "dates.txt").unlink()
    with pytest.raises(InputError, match=r"'beta'.*dates.txt"):
        read_city(tmp_path, "beta")
    with pytest.raises(InputError, match=r"'nowhere'.*alpha, beta"):
        read_city(tmp_path, "nowhere")
    with pytest.raises(InputError, match="no folder"):
        list_cities(tmp_path / "elsewhere")


def test_label_of_wrong_shape_or_values_is_rejected(tmp_path: Path) -> None:
    make_city(tmp_path, "alpha", size=(48, 40))
    make_city(tmp_path / "other", "alpha", size=(40, 40))
    label = tmp_path / LABEL_DIRS[0] / "alpha" / "cm" / "alpha-cm.tif"
    label.write_bytes(
        (tmp_path / "other" / LABEL_DIRS[0] / "alpha" / "cm" / "alpha-cm.tif").read_bytes()
    )
    with pytest.raises(InputError, match=r"'alpha'.*label.*40x40.*48x40"):
        read_city(tmp_path, "alpha")


def test_dataset_checksum_is_stable_and_follows_the_files(tmp_path: Path) -> None:
    make_oscd(tmp_path, ("alpha", "beta"))
    first = dataset_checksum(tmp_path, ["beta", "alpha"], S2_BANDS)
    assert first == dataset_checksum(tmp_path, ["alpha", "beta"], S2_BANDS)
    assert first != dataset_checksum(tmp_path, ["alpha"], S2_BANDS)
    make_city(tmp_path, "beta", seed=7)
    assert first != dataset_checksum(tmp_path, ["alpha", "beta"], S2_BANDS)


@pytest.mark.realdata
def test_real_oscd_city_with_smaller_date2_is_aligned() -> None:
    root = shared_data("oscd-train")
    assert "saclay_e" in list_cities(root)
    city = read_city(root, "saclay_e")
    assert city.shape == (639, 688)
    assert city.after["B02"].shape == (639, 688)
    assert any("631x679" in n for n in city.notes)
    assert city.label is not None
    assert 0.005 < float(city.label.mean()) < 0.02  # 0.99 % changed per SOURCE.md
    assert city.dates[1].isoformat() == "2017-08-29"
    refl = city.before["B04"].values
    assert 0.0 < float(np.nanmedian(refl)) < 0.5
