"""DuckDB as rustac bundles it (1.5.1), kept offline with the packaged extensions.

DuckDB needs its ``spatial`` extension to apply bbox/intersects filters; without it, it
tries to download it and, offline, every query hangs. ``rustac-duckdb-extensions`` ships
the extensions built for rustac's DuckDB: in-process they are passed as the extension
directory; for a ``rustac serve`` child process they are linked into a HOME of tiandi's
own (``$HOME/.duckdb/extensions/<version>/<platform>``), never the user's.
"""

from __future__ import annotations

import os
from pathlib import Path

import rustac_duckdb_extensions
from rustac.rustac import DuckdbClient  # the Rust class; rustac.duckdb.DuckdbClient is broken

from tiandi.errors import CatalogError


def extension_directory() -> Path:
    """The folder of DuckDB extensions shipped by ``rustac-duckdb-extensions``."""
    return Path(rustac_duckdb_extensions.extension_directory())


def client() -> DuckdbClient:
    """An in-process DuckDB client that never downloads anything."""
    return DuckdbClient(extension_directory=extension_directory(), install_extensions=False)


def prepare_home(home: Path) -> Path:
    """Create ``home`` with ``.duckdb/extensions/<version>/<platform>`` linked to the package.

    Returns ``home``. Links that already point at the package are kept; anything else in
    their place is replaced, so a stale link from an older environment cannot break it.
    """
    source = extension_directory()
    leaves = sorted(p for p in source.glob("v*/*") if p.is_dir())
    if not any(p.glob("spatial.duckdb_extension") for p in leaves):
        raise CatalogError(
            f"no DuckDB spatial extension under {source}; reinstall the pinned "
            "rustac-duckdb-extensions package (`pip install -c requirements.lock -e .`)"
        )
    for leaf in leaves:
        link = home / ".duckdb" / "extensions" / leaf.parent.name / leaf.name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() and Path(os.readlink(link)) == leaf:
            continue
        if link.is_dir() and not link.is_symlink():
            raise CatalogError(
                f"{link} is a folder, not a link to {leaf}; remove it so tiandi can link the "
                "bundled DuckDB extensions there"
            )
        tmp = link.with_name(f"{link.name}.tmp-{os.getpid()}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(leaf, target_is_directory=True)
        os.replace(tmp, link)
    return home
