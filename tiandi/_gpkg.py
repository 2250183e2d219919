"""GeoPackage helpers shared by the writers and readers of ``.gpkg`` files.

- :func:`finish_gpkg` — the last step of every GeoPackage tiandi writes: fixed
  ``gpkg_contents.last_change`` stamps and a fresh copy, so the same content gives the
  same bytes.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

__all__ = ["FIXED_LAST_CHANGE", "finish_gpkg"]

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
