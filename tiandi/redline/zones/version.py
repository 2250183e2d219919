"""The version of a zone set: what a run records to say which zones it watched."""

from __future__ import annotations

import hashlib

import geopandas as gpd
import pandas as pd
import shapely

from tiandi.errors import InputError
from tiandi.redline.vocabulary import STORE_CRS


def zone_set_version(zones: gpd.GeoDataFrame) -> str:
    """The version of a zone set: ``zones.attrs["zone_set_version"]`` when the importer
    set one, else ``sha256:`` + 16 hex over the sorted zone ids and their geometries
    (EPSG:4490 WKB, 7 decimals), so the same zones read from any format give the same
    version."""
    given = zones.attrs.get("zone_set_version")
    if given:
        return str(given)
    if zones.crs is None:
        raise InputError("zones have no CRS; a zone set version needs georeferenced zones")
    geo = zones.to_crs(STORE_CRS)
    digest = hashlib.sha256()
    ids = geo["zone_id"].astype(str) if "zone_id" in geo.columns else pd.Series(geo.index)
    for zid, geom in sorted(zip(ids.astype(str), geo.geometry, strict=True), key=lambda p: p[0]):
        rounded = shapely.set_precision(geom, 1e-7)
        digest.update(zid.encode() + b"\x1f" + bytes(shapely.to_wkb(rounded, byte_order=1)))
    return f"sha256:{digest.hexdigest()[:16]}"
