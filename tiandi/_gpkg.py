"""GeoPackage helpers shared by the writers and readers of ``.gpkg`` files.

- :func:`finish_gpkg` — the last step of every GeoPackage tiandi writes: fixed
  ``gpkg_contents.last_change`` stamps and a fresh copy, so the same content gives the
  same bytes.
- :func:`gpkg_blob`, :func:`gpkg_header`, :func:`gpkg_geometry` — GeoPackage geometry
  binary (``GP`` header, optional envelope, WKB): one encoder, one parser.
- :func:`register_gpkg_functions` — the ``ST_*`` SQL functions that the R-tree triggers
  GDAL writes into a GeoPackage call, for plain ``sqlite3`` connections that write
  geometries.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import struct
from dataclasses import dataclass
from pathlib import Path

import shapely
from shapely.geometry.base import BaseGeometry

from tiandi.errors import InputError

__all__ = [
    "FIXED_LAST_CHANGE",
    "GpkgHeader",
    "finish_gpkg",
    "gpkg_blob",
    "gpkg_geometry",
    "gpkg_header",
    "register_gpkg_functions",
]

#: The ``gpkg_contents.last_change`` of every GeoPackage tiandi writes (GDAL would write
#: the time of writing, so the bytes would change on every run).
FIXED_LAST_CHANGE = "2000-01-01T00:00:00.000Z"


def finish_gpkg(source: Path, target: Path | None = None) -> Path:
    """Finish a GeoPackage so that the same content gives the same bytes.

    Sets every ``gpkg_contents.last_change`` to :data:`FIXED_LAST_CHANGE`, then writes a
    fresh copy with ``VACUUM INTO``: its header (file change counter) does not depend on
    how many transactions GDAL happened to make while writing ``source``.

    With ``target`` the copy is written there (a path that does not exist yet, beside
    ``source``); ``source`` is left in place, stamped, for the caller to remove. Without
    it the copy replaces ``source`` with ``os.replace`` (a failure leaves no copy behind).
    Returns the finished file.
    """
    source = Path(source)
    fresh = (
        Path(target)
        if target is not None
        else source.with_name(f".{source.name}.vacuum-{os.getpid()}")
    )
    try:
        con = sqlite3.connect(source)
        try:
            con.execute("UPDATE gpkg_contents SET last_change = ?", (FIXED_LAST_CHANGE,))
            con.commit()
            con.execute("VACUUM INTO ?", (str(fresh),))
        finally:
            con.close()
        if target is None:
            os.replace(fresh, source)
            return source
    except BaseException:
        if target is None:
            fresh.unlink(missing_ok=True)
        raise
    return fresh


# -- geometry binary ------------------------------------------------------------------------

_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}
_EMPTY = 0x10


@dataclass(frozen=True)
class GpkgHeader:
    """The header of a GeoPackage geometry blob.

    ``envelope`` is ``(minx, maxx, miny, maxy)`` (the GeoPackage order) when the blob has
    one; ``wkb`` is the geometry that follows the header.
    """

    srid: int
    empty: bool
    envelope: tuple[float, float, float, float] | None
    wkb: bytes


def gpkg_blob(geom: BaseGeometry, srid: int) -> bytes:
    """GeoPackage binary of ``geom``: little-endian header with an XY envelope, ISO WKB.

    An empty geometry gets the empty flag and no envelope.
    """
    wkb = bytes(shapely.to_wkb(geom, byte_order=1, output_dimension=2, flavor="iso"))
    if geom.is_empty:
        return b"GP\x00" + bytes([0x01 | _EMPTY]) + struct.pack("<i", srid) + wkb
    minx, miny, maxx, maxy = geom.bounds
    header = b"GP\x00\x03" + struct.pack("<i", srid) + struct.pack("<4d", minx, maxx, miny, maxy)
    return header + wkb


def gpkg_header(blob: object) -> GpkgHeader | None:
    """The header of a GeoPackage geometry blob; None for NULL or any value that is not one
    (a column a field app or a person edited may hold anything)."""
    if not isinstance(blob, bytes | bytearray | memoryview):
        return None
    data = bytes(blob)
    if len(data) < 8 or data[:2] != b"GP":
        return None
    flags = data[3]
    order = "<" if flags & 1 else ">"
    size = _ENVELOPE_BYTES.get((flags >> 1) & 7, 0)
    if len(data) < 8 + size:
        return None
    envelope = None
    if size:
        minx, maxx, miny, maxy = struct.unpack(f"{order}4d", data[8:40])
        envelope = (float(minx), float(maxx), float(miny), float(maxy))
    (srid,) = struct.unpack(f"{order}i", data[4:8])
    return GpkgHeader(int(srid), bool(flags & _EMPTY), envelope, data[8 + size :])


def gpkg_geometry(blob: object, *, keep_empty: bool = False) -> BaseGeometry | None:
    """The shapely geometry of a GeoPackage geometry blob.

    None for NULL, for a value that is not GeoPackage binary and for WKB that does not
    decode; None for an empty geometry too, unless ``keep_empty`` (then the empty
    geometry the WKB holds, e.g. ``MULTIPOLYGON EMPTY``).
    """
    header = gpkg_header(blob)
    if header is None or (header.empty and not keep_empty):
        return None
    try:
        geom: BaseGeometry = shapely.from_wkb(header.wkb)
    except shapely.errors.GEOSException:
        return None
    return geom


def register_gpkg_functions(con: sqlite3.Connection, what: str) -> None:
    """Register ``ST_IsEmpty`` and ``ST_MinX/MaxX/MinY/MaxY`` on ``con``.

    GDAL's R-tree triggers call them on every INSERT/UPDATE of a geometry; GDAL registers
    them on its own connections, plain ``sqlite3`` has none. They read the blob's header
    (the geometry only when there is no envelope). NULL gives NULL; a value that is not
    GeoPackage binary makes the statement fail (the function raises an
    :class:`InputError` naming ``what``, e.g. "the patch store") rather than leaving the
    row out of the spatial index.
    """

    con.create_function(
        "ST_IsEmpty", 1, functools.partial(_st_is_empty, what=what), deterministic=True
    )
    for i, name in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        fn = functools.partial(_st_bound, index=i, what=what)
        con.create_function(name, 1, fn, deterministic=True)


def _header_of(blob: object, what: str) -> GpkgHeader:
    """The blob's header; InputError naming ``what`` when it is not GeoPackage binary."""
    found = gpkg_header(blob)
    if found is None:
        raise InputError(
            f"a geometry in {what} is not GeoPackage binary; the file is damaged: restore "
            "it from a backup"
        )
    return found


def _st_is_empty(blob: object, *, what: str) -> int | None:
    """``ST_IsEmpty``: NULL for NULL, else 1 for an empty geometry, 0 otherwise."""
    return None if blob is None else int(_header_of(blob, what).empty)


def _st_bound(blob: object, *, index: int, what: str) -> float | None:
    """``ST_MinX``, ``ST_MaxX``, ``ST_MinY``, ``ST_MaxY`` for ``index`` 0..3: from the
    header's envelope, else from the geometry; NULL for NULL or an empty geometry."""
    if blob is None:
        return None
    found = _header_of(blob, what)
    if found.empty:
        return None
    if found.envelope is not None:
        return found.envelope[index]
    geom = gpkg_geometry(blob)
    if geom is None:
        return None
    minx, miny, maxx, maxy = geom.bounds
    return float((minx, maxx, miny, maxy)[index])
