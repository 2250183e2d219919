"""add_indices."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from tiandi.eo.indices import add_indices
from tiandi.errors import InputError


def _ds(**bands: float) -> xr.Dataset:
    return xr.Dataset({b: (("y", "x"), np.full((2, 2), v, np.float32)) for b, v in bands.items()})


def test_indices_of_forest_and_nan_propagation() -> None:
    ds = _ds(B02=0.03, B03=0.05, B04=0.03, B08=0.32, B11=0.16, B12=0.08)
    ds["B04"][0, 0] = np.nan
    out = add_indices(ds)
    assert out["ndvi"].dtype == np.float32
    np.testing.assert_allclose(out["ndvi"].values[1, 1], (0.32 - 0.03) / 0.35, rtol=1e-5)
    np.testing.assert_allclose(out["ndwi"].values[1, 1], (0.05 - 0.32) / 0.37, rtol=1e-5)
    np.testing.assert_allclose(out["ndbi"].values[1, 1], (0.16 - 0.32) / 0.48, rtol=1e-5)
    np.testing.assert_allclose(out["bsi"].values[1, 1], (0.19 - 0.35) / 0.54, rtol=1e-5)
    assert np.isnan(out["ndvi"].values[0, 0]) and np.isnan(out["bsi"].values[0, 0])


def test_missing_band_is_an_input_error() -> None:
    with pytest.raises(InputError, match="B11"):
        add_indices(_ds(B02=0.1, B03=0.1, B04=0.1, B08=0.1))
