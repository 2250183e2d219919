"""Sentinel-2 processing-baseline harmonisation.

Since processing baseline 04.00 (2022-01-25) ESA adds 1000 to every valid L1C/L2A digital
number and publishes ``BOA_ADD_OFFSET = -1000``; STAC items carry it as
``s2:boa_add_offset`` (Earth Search, CDSE) next to ``s2:processing_baseline``. Reflectance
is ``max(DN + offset, 1) / 10000`` with DN 0 kept as no data.
"""

from __future__ import annotations

import pystac

from tiandi.errors import InputError

__all__ = ["boa_offset"]

BASELINE_WITH_OFFSET = (4, 0)
DEFAULT_OFFSET = -1000


def _baseline(text: str, item_id: str) -> tuple[int, int]:
    try:
        major, _, minor = str(text).partition(".")
        return int(major), int(minor or 0)
    except ValueError:
        raise InputError(
            f"STAC item {item_id!r} has s2:processing_baseline {text!r}, expected 'NN.NN' "
            "(e.g. '04.00'); fix the item's metadata"
        ) from None


def boa_offset(item: pystac.Item) -> int:
    """The DN offset to add to ``item``'s bands (0 or -1000).

    Uses ``s2:boa_add_offset`` when present; otherwise -1000 for processing baseline
    04.00 or later and 0 for older baselines or items without a baseline (e.g. Landsat or
    demo data already harmonised).
    """
    props = item.properties
    if props.get("s2:boa_add_offset") is not None:
        try:
            return round(float(props["s2:boa_add_offset"]))
        except (TypeError, ValueError):
            raise InputError(
                f"STAC item {item.id!r} has s2:boa_add_offset "
                f"{props['s2:boa_add_offset']!r}, expected a number such as -1000 or 0"
            ) from None
    baseline = props.get("s2:processing_baseline")
    if baseline is None:
        return 0
    return DEFAULT_OFFSET if _baseline(baseline, item.id) >= BASELINE_WITH_OFFSET else 0
