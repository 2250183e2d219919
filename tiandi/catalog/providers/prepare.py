"""A search's results made ready for the composite: canonical keys, mask kind, checked
bands, signed hrefs (one call per run, before anything is read)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pystac

from tiandi.catalog.providers.normalise import (
    MASK_ASSETS,
    MaskKind,
    mask_kind,
    normalise_items,
    require_assets,
)
from tiandi.catalog.providers.profiles import ProviderProfile
from tiandi.catalog.providers.signing import DEFAULT_SAS_URL, sign_items

__all__ = ["prepare_items"]


def prepare_items(
    periods: Mapping[str, Sequence[pystac.Item]],
    profile: ProviderProfile,
    *,
    bands: Sequence[str],
    what: str,
    source: str,
    sas_url: str = DEFAULT_SAS_URL,
) -> tuple[dict[str, list[pystac.Item]], MaskKind]:
    """The items of each period normalised by ``profile``, and their cloud-mask kind.

    ``InputError`` when the items mix mask kinds, or one lacks a band of ``bands`` or of
    its mask (naming the item and the band; ``what`` needs them, ``source`` is the API);
    ``CatalogError`` when a signing profile gets no token. Only tokens are fetched."""
    normalised = {label: normalise_items(items, profile) for label, items in periods.items()}
    every = [i for items in normalised.values() for i in items]
    kind = mask_kind(every)
    keys = list(dict.fromkeys([*bands, *MASK_ASSETS[kind]]))
    require_assets(every, keys, profile, what=what, source=source)
    if profile.signs_hrefs:
        normalised = {
            label: sign_items(items, keys, sas_url=sas_url) for label, items in normalised.items()
        }
    return normalised, kind
