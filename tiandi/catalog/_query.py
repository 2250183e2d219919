"""Checks and conversions shared by the in-process and the HTTP search.

The cloud-cover rule of every tiandi search: with a maximum, an item whose
``eo:cloud_cover`` is at most that is kept, a cloudier one is left out, and one whose cloud
cover is unknown (no ``eo:cloud_cover``) is **kept**, and the search issues one
:class:`~tiandi.errors.UnknownCloudCoverWarning` naming those items. The composite masks
clouds pixel by pixel anyway; an unknown scene-level figure must not make imagery vanish.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pystac

from tiandi.errors import InputError, UnknownCloudCoverWarning

Bbox = tuple[float, float, float, float]
_PARTIAL = re.compile(r"^\d{4}(-\d{2})?$")


def check_bbox(bbox: Sequence[float]) -> Bbox:
    """Return ``bbox`` as four floats (west, south, east, north in degrees) or raise."""
    values = tuple(bbox)
    if len(values) != 4 or not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        raise InputError(
            f"bbox {bbox!r} must be four finite numbers: west, south, east, north in degrees"
        )
    west, south, east, north = (float(v) for v in values)
    if not (
        -90.0 <= south <= north <= 90.0 and -180.0 <= west <= 180.0 and -180.0 <= east <= 180.0
    ):
        raise InputError(
            f"bbox {bbox!r} is not west, south, east, north in degrees (EPSG:4326); "
            "latitudes must lie in -90..90 with south <= north, longitudes in -180..180"
        )
    return (west, south, east, north)


def check_period(period: str) -> str:
    """Return ``period`` ("START/END", one instant, ".." for open ends) or raise ``InputError``."""
    parts = period.split("/")
    ok = 1 <= len(parts) <= 2 and all(_is_instant(p, open_ok=len(parts) == 2) for p in parts)
    if not ok or parts == ["..", ".."]:
        raise InputError(
            f"datetime {period!r} is not a period; write START/END in ISO 8601, e.g. "
            "2025-01-01/2025-06-30 or 2025-01-01T00:00:00Z/.. (dates include the whole day)"
        )
    return period


def check_cloud_cover(max_cloud_cover: float | None) -> float | None:
    """Return the maximum cloud cover (0..100 %) or raise ``InputError``."""
    if max_cloud_cover is None:
        return None
    if not (isinstance(max_cloud_cover, int | float) and 0.0 <= max_cloud_cover <= 100.0):
        raise InputError(
            f"max_cloud_cover {max_cloud_cover!r} must be a percentage between 0 and 100"
        )
    return float(max_cloud_cover)


def cloud_filter(max_cloud_cover: float) -> dict[str, Any]:
    """CQL2-JSON filter: ``eo:cloud_cover`` at most the given value, or unknown (null)."""
    cover = {"property": "eo:cloud_cover"}
    return {
        "op": "or",
        "args": [
            {"op": "<=", "args": [cover, max_cloud_cover]},
            {"op": "isNull", "args": [cover]},
        ],
    }


def cloud_cover(item: pystac.Item) -> float | None:
    """The item's ``eo:cloud_cover`` in %, or None when it has none (or not a number)."""
    value = item.properties.get("eo:cloud_cover")
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def cloud_ok(item: pystac.Item, max_cloud_cover: float | None) -> bool:
    """Client-side cloud check: at most the maximum, or unknown (see the module's rule)."""
    if max_cloud_cover is None:
        return True
    value = cloud_cover(item)
    return value is None or value <= max_cloud_cover


def warn_unknown_cloud(
    items: Sequence[pystac.Item], max_cloud_cover: float | None, *, stacklevel: int = 3
) -> None:
    """Issue one ``UnknownCloudCoverWarning`` naming the items kept without a cloud cover."""
    if max_cloud_cover is None:
        return
    unknown = [i.id for i in items if cloud_cover(i) is None]
    if not unknown:
        return
    more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
    shown = ", ".join(unknown[:10]) + more
    warnings.warn(
        UnknownCloudCoverWarning(
            f"{len(unknown)} item(s) have no eo:cloud_cover and were kept despite the maximum "
            f"of {max_cloud_cover:g} %: {shown}; their clouds are masked pixel by pixel. "
            "Register them with a cloud cover (an SCL or QA_PIXEL asset, or "
            "`tiandi catalog register --cloud-cover`) to filter them by it"
        ),
        stacklevel=stacklevel,
    )


def sorted_unique(items: Iterable[pystac.Item]) -> list[pystac.Item]:
    """Items once each (by collection and id), ordered by datetime, collection, id."""
    unique = {(i.collection_id or "", i.id): i for i in items}
    return sorted(unique.values(), key=lambda i: (_when(i), i.collection_id or "", i.id))


def _when(item: pystac.Item) -> float:
    moment = item.datetime or item.common_metadata.start_datetime
    return -math.inf if moment is None else moment.timestamp()


def _is_instant(text: str, *, open_ok: bool) -> bool:
    if text in ("..", ""):
        return open_ok
    if _PARTIAL.match(text):
        return True
    try:
        datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return False
    return True
