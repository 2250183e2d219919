"""Red-line zones, reserves and verification stations: reading any vector file (GBK
shapefiles included) into the zones and stations contracts, validating a zone set before
a run, and the zone-set version a run records.

Public API below; import it from here. Names resolve lazily (see
:mod:`tiandi._exports`), so importing one module of this package imports no other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tiandi._exports import lazy_exports

if TYPE_CHECKING:
    from tiandi.redline.zones.read import content_hash as content_hash
    from tiandi.redline.zones.read import read_stations as read_stations
    from tiandi.redline.zones.read import read_zones as read_zones
    from tiandi.redline.zones.validation import ZoneIssue as ZoneIssue
    from tiandi.redline.zones.validation import ZoneReport as ZoneReport
    from tiandi.redline.zones.validation import validate_zones as validate_zones
    from tiandi.redline.zones.validation import write_zone_report as write_zone_report
    from tiandi.redline.zones.vector import read_vector as read_vector
    from tiandi.redline.zones.version import zone_set_version as zone_set_version

_EXPORTS = {
    "read_zones": "read",
    "read_stations": "read",
    "content_hash": "read",
    "read_vector": "vector",
    "validate_zones": "validation",
    "write_zone_report": "validation",
    "ZoneReport": "validation",
    "ZoneIssue": "validation",
    "zone_set_version": "version",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
