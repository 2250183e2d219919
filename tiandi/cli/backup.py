"""``tiandi backup``, ``tiandi restore`` and ``tiandi store upgrade``: the patch store
with its audit chain, and its schema version.

Registered in :mod:`tiandi.cli.app`. The store is chosen as for ``tiandi audit``:
``--store FILE`` (GeoPackage), ``--dsn DSN`` (PostGIS), else ``TIANDI_PATCH_DSN``, else
``<TIANDI_HOME>/patches.gpkg``. What is written and checked:
:mod:`tiandi.redline.store.backup`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tiandi.cli.common import friendly_errors, make_console
from tiandi.cli.patches import DsnOpt, SchemaOpt, StoreOpt, _open

_console = make_console(highlight=False, soft_wrap=True, markup=False)
store_app = typer.Typer(help="The patch store itself: schema upgrade.", no_args_is_help=True)


@friendly_errors
def backup(
    out: Annotated[Path, typer.Option("--out", help="Backup file to write (must not exist).")],
    store: StoreOpt = None,
    dsn: DsnOpt = None,
    schema: SchemaOpt = "tiandi",
) -> None:
    """Back up the patch store and its audit chain to OUT, with OUT.manifest.json beside it.

    GeoPackage: a consistent SQLite copy; PostGIS: pg_dump -Fc of the store's schema. The
    chain is verified before (a broken chain is not backed up) and, for GeoPackage, after.
    """
    from tiandi.redline.store.backup import backup_store, manifest_path

    manifest = backup_store(_open(store, dsn, schema), out)
    _console.print(
        f"backed up {manifest.backend} patch store to {out} ({manifest.size} bytes, "
        f"{manifest.records} audit records, head {manifest.head_seq} {manifest.head_hash}); "
        f"manifest {manifest_path(out)}"
    )


@friendly_errors
def restore(
    backup_file: Annotated[
        Path, typer.Argument(metavar="FILE", help="File `tiandi backup` wrote.")
    ],
    store: StoreOpt = None,
    dsn: DsnOpt = None,
    schema: SchemaOpt = "tiandi",
    force: Annotated[
        bool, typer.Option("--force", help="Replace a store that holds patches or records.")
    ] = False,
) -> None:
    """Restore a backup into the patch store and verify its audit chain.

    The file must match its manifest (sha256); a store that is not empty is replaced only
    with --force.
    """
    from tiandi.redline.store.backup import restore_store

    target = _open(store, dsn, schema)
    report = restore_store(target, backup_file, force=force)
    _console.print(f"restored {backup_file} into {target.location}: OK {report.summary()}")


@store_app.command("upgrade")
@friendly_errors
def store_upgrade(
    store: StoreOpt = None,
    dsn: DsnOpt = None,
    schema: SchemaOpt = "tiandi",
) -> None:
    """Check the patch store's schema version and upgrade an older store.

    Adds the columns of ``patches`` that a store written by an older tiandi lacks and
    records the new version; the audit chain is left as it is and verified afterwards. A
    store of a newer version than this tiandi knows is refused. Opening the store does the
    same upgrade; this command does it explicitly (after `tiandi backup`) and says what it
    did. Exit 1 when the chain does not verify.
    """
    opened = _open(store, dsn, schema)
    report = opened.upgrade_schema()
    _console.print(report.describe())
    verified = opened.verify_audit()
    if verified.ok:
        _console.print(f"audit chain: OK {verified.summary()}")
        return
    _console.print(f"audit chain: {verified.summary()}")
    raise typer.Exit(1)
