"""Validation report of a zone set, before it is used in a run (`tiandi zones validate`).

What an operator needs to know about a zones file from a GIS office: which features
had invalid or self-intersecting geometry (repaired, with shapely's explanation), which
were empty (dropped), which are duplicates (same geometry, or the same zone code twice),
which lie outside the imagery (when a footprint is given), the encoding used, and the
zone-set version a run will record.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from tiandi._io import atomic_path
from tiandi.redline.zones.read import read_zones
from tiandi.redline.zones.vector import read_vector
from tiandi.redline.zones.version import zone_set_version


@dataclass(frozen=True)
class ZoneIssue:
    """One finding about one source feature (``feature``: its 0-based index in the file;
    None for findings about a zone as read, named in ``detail``)."""

    feature: int | None
    kind: str  # repaired | empty | duplicate_geometry | duplicate_code | outside_imagery
    detail: str


@dataclass(frozen=True)
class ZoneReport:
    """The validation of one zones file."""

    path: str
    n_features: int
    n_zones: int
    encoding: str
    crs: str
    zone_set_version: str
    issues: list[ZoneIssue] = field(default_factory=list)

    def count(self, kind: str) -> int:
        """How many issues of ``kind``."""
        return sum(1 for i in self.issues if i.kind == kind)

    def to_json(self) -> str:
        """The report as JSON (UTF-8 text, stable key order)."""
        return json.dumps(asdict(self), ensure_ascii=False, indent=2, sort_keys=True)


def _geometry_key(geom: BaseGeometry) -> str:
    normalised = shapely.normalize(shapely.set_precision(geom, 1e-7))
    return hashlib.sha256(shapely.to_wkb(normalised, byte_order=1)).hexdigest()


def validate_zones(
    path: Path,
    *,
    layer: str | None = None,
    encoding: str | None = None,
    imagery_footprint: BaseGeometry | None = None,
) -> ZoneReport:
    """Check a zones file feature by feature and report what reading it will change.

    ``imagery_footprint`` (EPSG:4326) flags zones that do not intersect the imagery.
    Errors that make the file unusable (missing, unreadable, no CRS, no polygon) are
    raised by :func:`tiandi.redline.zones.read.read_zones` as ``InputError``.
    """
    zones = read_zones(path, layer=layer, encoding=encoding)
    raw, used = read_vector(Path(path), layer=layer, encoding=encoding, what="zones")
    issues: list[ZoneIssue] = []
    seen_geometry: dict[str, int] = {}
    seen_code: dict[str, int] = {}
    code_column = next((c for c in ("zone_id", "code", "CODE", "bh", "BH") if c in raw), None)
    for i, geom in enumerate(raw.geometry.values):
        if geom is None or geom.is_empty:
            issues.append(ZoneIssue(i, "empty", "no geometry; the feature is dropped"))
            continue
        if not geom.is_valid:
            issues.append(ZoneIssue(i, "repaired", f"{explain_validity(geom)}; made valid"))
            geom = shapely.make_valid(geom)
        key = _geometry_key(geom)
        if key in seen_geometry:
            first = seen_geometry[key]
            issues.append(ZoneIssue(i, "duplicate_geometry", f"same geometry as feature {first}"))
        else:
            seen_geometry[key] = i
        if code_column is not None and raw[code_column].iloc[i] not in (None, ""):
            code = str(raw[code_column].iloc[i])
            if code in seen_code:
                detail = f"{code_column}={code} also on feature {seen_code[code]}"
                issues.append(ZoneIssue(i, "duplicate_code", detail))
            else:
                seen_code[code] = i
    if imagery_footprint is not None:
        geo = zones.to_crs("EPSG:4326")
        for zid, name, geom in zip(geo["zone_id"], geo["name"], geo.geometry.values, strict=True):
            if not geom.intersects(imagery_footprint):
                detail = f"zone {zid} ({name}) is outside the imagery"
                issues.append(ZoneIssue(None, "outside_imagery", detail))
    return ZoneReport(
        path=str(path),
        n_features=len(raw),
        n_zones=len(zones),
        encoding=used,
        crs=str(zones.crs.to_string()),
        zone_set_version=zone_set_version(zones),
        issues=issues,
    )


def write_zone_report(report: ZoneReport, path: Path) -> Path:
    """Write the report as JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(report.to_json(), encoding="utf-8")
    return path


def footprint_of_items(items: list[Any]) -> BaseGeometry | None:
    """Union of the items' geometries (EPSG:4326), or None without items."""
    shapes = [shapely.geometry.shape(i.geometry) for i in items if i.geometry]
    return shapely.union_all(shapes) if shapes else None
