"""Provider profiles: how a public STAC API names its assets, and how to pick the profile.

A profile maps tiandi's canonical asset keys (Sentinel-2 band names ``B01`` … ``B12``,
``B8A``, the L2A scene classification ``SCL``, the Landsat ``QA_PIXEL`` band) to the keys
one provider uses, in order of preference (the first present wins). Landsat bands map to
the Sentinel-2 key of the same spectral region (blue ``B02``, green ``B03``, red ``B04``,
NIR ``B08``, SWIR ``B11``/``B12``), so the composite and the detectors see one band set.

Profiles (asset names as each provider's public item JSON has them; see
``tests/fixtures/stac_recorded/README.md`` for where each shape comes from):

- ``tiandi``: the embedded catalog and ``tiandi catalog register``/``ingest s2`` items,
  already canonical; Landsat items registered with the USGS band names (``SR_B2`` ..
  ``SR_B7``, ``QA_PIXEL``) or common names are mapped like the providers' Landsat items.
- ``earth-search``: Element 84 Earth Search v1 (``https://earth-search.aws.element84.com/v1``):
  common names ``blue``, ``green``, ``red``, ``nir``, ``nir08``, ``rededge1``-``3``,
  ``swir16``, ``swir22``, ``coastal``, ``nir09``, ``cirrus``, ``scl``; Landsat
  ``qa_pixel``.
- ``planetary-computer``: Microsoft Planetary Computer
  (``https://planetarycomputer.microsoft.com/api/stac/v1``): ``B01`` … ``B12``, ``B8A``,
  ``SCL``; Landsat common names and ``qa_pixel``. Asset hrefs on Azure Blob Storage need
  a SAS token (:mod:`tiandi.catalog.providers.signing`).
- ``cdse``: Copernicus Data Space Ecosystem STAC (``https://stac.dataspace.copernicus.eu/v1``):
  band and resolution, ``B04_10m``, ``B11_20m``, ``SCL_20m``, ``B01_60m``; the finest
  resolution present wins.

The profile is ``TIANDI_STAC_PROVIDER`` when set, else guessed from the API URL's host,
else ``tiandi`` (canonical keys).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from tiandi.errors import InputError

__all__ = ["PROFILES", "ProviderProfile", "choose_profile"]

_S2_COMMON = {
    "B01": ("coastal",),
    "B02": ("blue",),
    "B03": ("green",),
    "B04": ("red",),
    "B05": ("rededge1",),
    "B06": ("rededge2",),
    "B07": ("rededge3",),
    "B08": ("nir",),
    "B8A": ("nir08",),
    "B09": ("nir09",),
    "B10": ("cirrus",),
    "B11": ("swir16",),
    "B12": ("swir22",),
    "SCL": ("scl",),
}
_LANDSAT_COMMON = {  # Landsat 8/9 OLI bands under the Sentinel-2 key of the same region:
    # STAC common names (Planetary Computer, Earth Search), then the USGS product's band
    # names (``*_SR_B2.TIF`` ... registered as they come)
    "B02": ("blue", "SR_B2"),
    "B03": ("green", "SR_B3"),
    "B04": ("red", "SR_B4"),
    "B08": ("nir08", "SR_B5"),
    "B11": ("swir16", "SR_B6"),
    "B12": ("swir22", "SR_B7"),
    "QA_PIXEL": ("qa_pixel",),
}
_S2_NAMES = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10")


def _cdse_keys() -> dict[str, tuple[str, ...]]:
    keys: dict[str, tuple[str, ...]] = {
        b: (f"{b}_10m", f"{b}_20m", f"{b}_60m", b) for b in (*_S2_NAMES, "B11", "B12")
    }
    keys["SCL"] = ("SCL_20m", "SCL_60m", "SCL")
    return keys


@dataclass(frozen=True)
class ProviderProfile:
    """One STAC API's conventions: asset keys per canonical key, hosts, signing."""

    name: str
    title: str
    hosts: tuple[str, ...] = ()
    s2_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    landsat_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    signs_hrefs: bool = False

    def keys_for(self, canonical: str, landsat: bool) -> tuple[str, ...]:
        """The provider keys that may hold ``canonical``, preferred first (itself last)."""
        table = self.landsat_keys if landsat else self.s2_keys
        found = table.get(canonical, ())
        return found if canonical in found else (*found, canonical)


PROFILES: dict[str, ProviderProfile] = {
    p.name: p
    for p in (
        ProviderProfile(
            "tiandi",
            "tiandi's own catalog (canonical keys)",
            landsat_keys=_LANDSAT_COMMON,  # Landsat files registered under their band names
        ),
        ProviderProfile(
            "earth-search",
            "Element 84 Earth Search",
            hosts=("earth-search.aws.element84.com",),
            s2_keys=_S2_COMMON,
            landsat_keys=_LANDSAT_COMMON,
        ),
        ProviderProfile(
            "planetary-computer",
            "Microsoft Planetary Computer",
            hosts=("planetarycomputer.microsoft.com",),
            landsat_keys=_LANDSAT_COMMON,
            signs_hrefs=True,
        ),
        ProviderProfile(
            "cdse",
            "Copernicus Data Space Ecosystem STAC",
            hosts=("dataspace.copernicus.eu",),
            s2_keys=_cdse_keys(),
            landsat_keys=_LANDSAT_COMMON,
        ),
    )
}


def choose_profile(api_url: str | None, setting: str | None = None) -> ProviderProfile:
    """The profile named by ``setting`` (``TIANDI_STAC_PROVIDER``), else the one whose host
    the API URL is on, else ``tiandi``. ``InputError`` for an unknown name."""
    if setting:
        try:
            return PROFILES[setting.strip().lower()]
        except KeyError:
            raise InputError(
                f"TIANDI_STAC_PROVIDER={setting!r} is not a known STAC provider; use one of "
                f"{', '.join(sorted(PROFILES))} (or leave it unset to choose by the API URL)"
            ) from None
    host = urllib.parse.urlparse(api_url or "").hostname or ""
    for profile in PROFILES.values():
        if any(host == h or host.endswith("." + h) for h in profile.hosts):
            return profile
    return PROFILES["tiandi"]
