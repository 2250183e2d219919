"""Patches as GeoJSON (RFC 7946: longitude/latitude; EPSG:4490 is within a metre of WGS 84)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from tiandi.redline.store.queries import PatchRow


def clean(value: Any) -> Any:
    """``value`` ready for strict JSON (NaN and infinities as null, tuples as lists)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def clean_dict(value: Mapping[str, Any]) -> dict[str, Any]:
    """A mapping ready for strict JSON (see :func:`clean`)."""
    return {str(k): clean(v) for k, v in value.items()}


def feature(
    uid: str, attributes: Mapping[str, Any], geometry: BaseGeometry, version: int
) -> dict[str, Any]:
    """One patch as a GeoJSON Feature (id = patch_uid; ``version`` among the properties)."""
    props = clean_dict({**attributes, "version": version})
    return {"type": "Feature", "id": uid, "geometry": clean(mapping(geometry)), "properties": props}


def features_of(rows: Sequence[PatchRow]) -> list[dict[str, Any]]:
    """Queried patches as Features; the geometries are encoded in one vectorised call
    (4x faster than :func:`feature` row by row on a page of 1000)."""
    geoms = np.array([r.geometry for r in rows], dtype=object)
    encoded = shapely.to_geojson(geoms) if len(rows) else []
    return [
        {
            "type": "Feature",
            "id": r.patch_uid,
            "geometry": json.loads(str(text)),
            "properties": clean_dict({**r.attributes, "version": r.version}),
        }
        for r, text in zip(rows, encoded, strict=True)
    ]
