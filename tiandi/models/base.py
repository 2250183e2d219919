"""What every change detector offers the pipeline."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import xarray as xr

__all__ = ["CHANGE", "NO_CHANGE", "NO_DATA", "ChangeDetector"]

#: ``change_mask`` values.
NO_CHANGE = 0
CHANGE = 1
NO_DATA = 255


@runtime_checkable
class ChangeDetector(Protocol):
    """A change detector: two composites of the same grid in, change layers out.

    ``detect`` returns a Dataset on the same grid with ``change_prob`` (float32 0-1, NaN
    where either period has no clear observation) and ``change_mask`` (uint8: 0 no change,
    1 change, 255 no data). It stays lazy when its inputs are lazy.
    """

    name: str
    version: str

    def detect(self, before: xr.Dataset, after: xr.Dataset) -> xr.Dataset:
        """Change between ``before`` and ``after``."""
        ...
