"""A per-date series of index layers: one clear-masked layer set per acquisition day.

Items of the same UTC day (neighbouring tiles of one pass) form one date. Each date is
read through :func:`tiandi.eo.composite.composite_period` on its own items, so it gets the
same harmonisation (processing baseline offsets), SCL masking and dilation as every
composite; a date whose items hold no clear pixel on the grid is left out of the series.
Only the index layers are kept in memory (a few float32 layers per date), not the bands.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date

import numpy as np
import numpy.typing as npt
import pystac
from odc.geo.geobox import GeoBox

from tiandi.eo.composite import DILATE_PX, composite_period
from tiandi.errors import NoDataError

F32 = npt.NDArray[np.float32]
IndexFn = Callable[[Mapping[str, F32]], dict[str, F32]]


def items_by_day(items: Sequence[pystac.Item]) -> dict[date, list[pystac.Item]]:
    """The items grouped by their UTC acquisition day, days in order (items without a
    datetime are left out)."""
    days: dict[date, list[pystac.Item]] = {}
    for item in sorted(items, key=lambda i: (i.datetime.isoformat() if i.datetime else "", i.id)):
        if item.datetime is not None:
            days.setdefault(item.datetime.date(), []).append(item)
    return dict(sorted(days.items()))


def date_layers(
    items: Sequence[pystac.Item],
    grid: GeoBox,
    indices: IndexFn,
    *,
    bands: Sequence[str] = ("B02", "B04", "B08", "B11"),
    chunk: int = 1024,
    dilate_px: int = DILATE_PX,
) -> list[tuple[date, dict[str, F32]]]:
    """``(day, indices(reflectance))`` for every day of ``items`` with a clear pixel on
    ``grid``; the layers are NaN where the day is cloud, shadow or no data (the cloud
    mask dilated by ``dilate_px``)."""
    out: list[tuple[date, dict[str, F32]]] = []
    for day, day_items in items_by_day(items).items():
        try:
            ds = composite_period(day_items, grid, bands=bands, chunk=chunk, dilate_px=dilate_px)
        except NoDataError:
            continue  # every pixel cloudy that day
        reflectance = {b: np.asarray(ds[b].values, dtype=np.float32) for b in bands}
        out.append((day, indices(reflectance)))
    return out
