"""The columns every patch row starts with: identity, zone, area and classes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tiandi.redline.vocabulary import M2_PER_HA, MU_M2, ChangeType, HJ1156Class

HEAD_COLUMNS: tuple[str, ...] = (
    "patch_id",
    "zone_id",
    "zone_name",
    "zone_type",
    "functional_zone",
    "area_m2",
    "area_ha",
    "area_mu",
    "change_type",
    "change_type_zh",
    "hj1156_class",
    "hj1156_zh",
)
"""The columns :func:`patch_head` fills, in order: every kind of patch starts with them."""


def patch_head(
    patch_id: str,
    zone_id: str,
    zone: Mapping[str, Any],
    zone_name: Any,
    area_m2: float,
    change_type: ChangeType,
    hj1156: HJ1156Class,
) -> dict[str, Any]:
    """``patch_id`` … ``hj1156_zh`` of a patch of ``area_m2`` in ``zone`` (a zones row;
    its ``zone_type`` and ``functional_zone``), area in m² (0.1), ha and 亩."""
    return {
        "patch_id": patch_id,
        "zone_id": zone_id,
        "zone_name": zone_name,
        "zone_type": zone.get("zone_type"),
        "functional_zone": zone.get("functional_zone"),
        "area_m2": round(area_m2, 1),
        "area_ha": round(area_m2 / M2_PER_HA, 4),
        "area_mu": round(area_m2 / MU_M2, 2),
        "change_type": change_type.value,
        "change_type_zh": change_type.zh,
        "hj1156_class": hj1156.value,
        "hj1156_zh": hj1156.zh,
    }
