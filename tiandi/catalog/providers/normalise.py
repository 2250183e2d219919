"""Provider items → tiandi's canonical items, before any composite sees them.

:func:`normalise_items` renames a provider's band assets to the canonical keys of its
profile (:mod:`tiandi.catalog.providers.profiles`) and states the item's DN offset as
``s2:boa_add_offset``, which the composite applies (reflectance = (DN + offset) / 10000):

1. ``raster:bands`` ``scale``/``offset`` of the band assets (or asset-level
   ``raster:scale``/``raster:offset``), when given: the STAC raster extension's contract
   (value = DN x scale + offset), so offset -0.1 at scale 0.0001 is a DN offset of -1000.
   All reflectance bands of one item must agree.
2. else ``earthsearch:boa_offset_applied: true`` (Earth Search): the DNs are already
   harmonised, offset 0;
3. else the item keeps what it has (``s2:boa_add_offset``, or the processing-baseline
   rule of :func:`tiandi.eo._harmonise.boa_offset`).

Landsat Collection 2 items keep their ``raster:bands`` scale and offset (0.0000275, -0.2);
the Landsat path rescales them (:mod:`tiandi.eo.masks`). :func:`mask_kind` tells which
cloud mask the items need and :func:`require_assets` refuses items without a band the run
needs, naming the item, the band and the keys looked for.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import pystac

from tiandi.catalog.providers.profiles import ProviderProfile
from tiandi.errors import InputError

__all__ = [
    "MASK_ASSETS",
    "MaskKind",
    "is_landsat",
    "mask_kind",
    "normalise_item",
    "normalise_items",
    "require_assets",
    "scale_offset",
]

MaskKind = Literal["scl", "s2cloudless", "qa_pixel"]
#: The assets each cloud mask is computed from (s2cloudless: its ten L1C bands).
MASK_ASSETS: dict[str, tuple[str, ...]] = {
    "scl": ("SCL",),
    "s2cloudless": ("B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12"),
    "qa_pixel": ("QA_PIXEL",),
}
_CANONICAL = (
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12",
    "SCL", "QA_PIXEL",
)  # fmt: skip
_S2_SCALE = 1e-4


def is_landsat(item: pystac.Item) -> bool:
    """Whether ``item`` is a Landsat scene (by collection or platform)."""
    collection = (item.collection_id or "").lower()
    platform = str(item.properties.get("platform", "")).lower()
    return collection.startswith("landsat") or platform.startswith("landsat")


def _item_kind(item: pystac.Item) -> MaskKind:
    """QA_PIXEL for Landsat; s2cloudless for L1C (by collection or product type) without
    an SCL asset; SCL otherwise."""
    if is_landsat(item) or "QA_PIXEL" in item.assets:
        return "qa_pixel"
    collection = (item.collection_id or "").lower()
    level = str(item.properties.get("s2:product_type", "")).upper()
    if ("l1c" in collection or level == "S2MSI1C") and "SCL" not in item.assets:
        return "s2cloudless"
    return "scl"


def mask_kind(items: Sequence[pystac.Item]) -> MaskKind:
    """The cloud mask of ``items``: ``scl`` (Sentinel-2 L2A), ``s2cloudless`` (L1C) or
    ``qa_pixel`` (Landsat Collection 2). ``InputError`` when the items need different
    masks (mixed collections), naming one item of each kind."""
    kinds: dict[MaskKind, str] = {}
    for item in items:
        kinds.setdefault(_item_kind(item), f"{item.id} ({item.collection_id})")
    if len(kinds) > 1:
        shown = "; ".join(f"{kind}: {example}" for kind, example in sorted(kinds.items()))
        raise InputError(
            f"the items mix imagery that needs different cloud masks ({shown}); run "
            "detect_changes on one collection at a time (Sentinel-2 L2A, L1C or Landsat)"
        )
    return next(iter(kinds), "scl")


def scale_offset(asset: pystac.Asset) -> tuple[float | None, float | None]:
    """The asset's ``raster:bands`` (or asset-level ``raster:``) scale and offset."""
    bands = asset.extra_fields.get("raster:bands") or [{}]
    first: dict[str, Any] = bands[0] if isinstance(bands[0], dict) else {}
    scale = first.get("scale", asset.extra_fields.get("raster:scale"))
    offset = first.get("offset", asset.extra_fields.get("raster:offset"))
    return (
        None if scale is None else float(scale),
        None if offset is None else float(offset),
    )


def _dn_offset(item: pystac.Item, assets: dict[str, pystac.Asset]) -> int | None:
    """The DN offset stated by the reflectance bands' scale/offset, or None."""
    found: dict[str, int] = {}
    for key, asset in assets.items():
        if not key.startswith("B"):
            continue
        scale, offset = scale_offset(asset)
        if offset is None:
            continue
        if scale is None or not math.isclose(scale, _S2_SCALE, rel_tol=1e-6):
            raise InputError(
                f"STAC item {item.id!r}: asset {key} has raster scale {scale} and offset "
                f"{offset}; tiandi reads Sentinel-2 DNs at scale 0.0001 (reflectance = DN x "
                "0.0001 + offset); fix the item's raster:bands or choose another provider"
            )
        found[key] = round(offset / scale)
    if len(set(found.values())) > 1:
        raise InputError(
            f"STAC item {item.id!r}: its bands state different offsets {found}; tiandi "
            "applies one offset per item; fix the item's raster:bands"
        )
    return next(iter(found.values()), None)


def _renamed(item: pystac.Item, profile: ProviderProfile) -> dict[str, pystac.Asset]:
    landsat = is_landsat(item)
    assets: dict[str, pystac.Asset] = {}
    used: set[str] = set()
    for canonical in _CANONICAL:
        for key in profile.keys_for(canonical, landsat):
            if key in item.assets and key not in used:
                assets[canonical] = item.assets[key]
                used.add(key)
                break
    for key, asset in item.assets.items():
        if key not in used and key not in assets:
            assets[key] = asset
    return assets


def normalise_item(item: pystac.Item, profile: ProviderProfile) -> pystac.Item:
    """A copy of ``item`` with canonical asset keys and its DN offset stated."""
    out = item.clone()
    assets = _renamed(out, profile)
    out.assets = {}
    for key, asset in assets.items():
        out.add_asset(key, asset)
    if not is_landsat(out):
        offset = _dn_offset(out, assets)
        if offset is None and out.properties.get("earthsearch:boa_offset_applied") is True:
            offset = 0
        if offset is not None:
            out.properties["s2:boa_add_offset"] = offset
    out.properties["tiandi:provider"] = profile.name
    return out


def normalise_items(items: Iterable[pystac.Item], profile: ProviderProfile) -> list[pystac.Item]:
    """:func:`normalise_item` of each item (the ``tiandi`` profile returns Sentinel-2 items
    as they are, and maps only the band names of Landsat items)."""
    if profile.name == "tiandi":
        return [normalise_item(i, profile) if is_landsat(i) else i for i in items]
    return [normalise_item(i, profile) for i in items]


def require_assets(
    items: Sequence[pystac.Item],
    keys: Sequence[str],
    profile: ProviderProfile,
    *,
    what: str,
    source: str,
) -> None:
    """``InputError`` naming the first item without one of ``keys`` (canonical), the band,
    the provider keys looked for, and ``what`` needs it; nothing is read."""
    for item in items:
        missing = [k for k in keys if k not in item.assets]
        if not missing:
            continue
        band = missing[0]
        looked = ", ".join(profile.keys_for(band, is_landsat(item)))
        raise InputError(
            f"STAC item {item.id!r} ({item.collection_id}) from {source} has no {band} band "
            f"(asset keys looked for with the {profile.name} profile: {looked}; missing "
            f"in all: {missing}; it has {sorted(item.assets)}); {what} needs "
            f"{list(keys)}. Choose a collection with these bands, or set "
            "TIANDI_STAC_PROVIDER to the profile of this API"
        )
