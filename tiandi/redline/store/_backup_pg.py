"""``pg_dump`` / ``pg_restore`` of a PostGIS patch store's schema (see :mod:`.backup`).

The password of the DSN goes to the tools through ``PGPASSWORD``, never on their command
line (where ``ps`` would show it), and messages show the DSN redacted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tiandi.errors import InputError
from tiandi.redline.store.audit_chain import TABLE
from tiandi.redline.store.postgis import PostgisPatchStore


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise InputError(
            f"{name} is not installed; install the PostgreSQL client (Debian: "
            "postgresql-client-15, same major version as the server) and run again"
        )
    return found


def _split_dsn(dsn: str) -> tuple[str, dict[str, str]]:
    """The DSN without its password and the environment that carries the password."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error as exc:
        raise InputError(f"the patch store DSN cannot be parsed ({exc}); check it") from exc
    password = params.pop("password", None)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**{k: str(v) for k, v in params.items() if v is not None}), env


def _run(command: list[str], env: dict[str, str], what: str, store: PostgisPatchStore) -> None:
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise InputError(
            f"{what} of patch store {store.location} failed (exit {proc.returncode}): "
            f"{proc.stderr.strip()[-1500:]}. Check that the server runs, the user may read "
            "(dump) or create (restore) the schema, and that the client tools' major version "
            "is not older than the server's"
        )


def dump(store: PostgisPatchStore, out: Path) -> None:
    """``pg_dump -Fc`` of the store's schema to ``out`` (written then moved into place)."""
    dsn, env = _split_dsn(store.dsn)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    command = [_tool("pg_dump"), "--format=custom", f"--schema={store.schema}"]
    command += ["--no-owner", "--no-privileges", f"--file={tmp}", f"--dbname={dsn}"]
    try:
        _run(command, env, "pg_dump", store)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def is_empty(store: PostgisPatchStore) -> bool:
    """Whether the store's schema is absent or holds no patches and no audit records."""
    with store._connect() as con:
        tables = {
            str(row[0])
            for row in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (store.schema,),
            )
        }
        for table in ("patches", TABLE):
            if table in tables:
                row = con.execute(f"SELECT EXISTS (SELECT 1 FROM {store.schema}.{table})")
                if row.fetchone() == (True,):
                    return False
    return True


def restore(store: PostgisPatchStore, backup: Path, schema: str) -> None:
    """``pg_restore`` of ``backup`` into the store's database, in one transaction.

    PostGIS is created first if absent (it is not part of a schema dump); objects of the
    dump that exist already are dropped and recreated (``--clean --if-exists``).
    """
    if schema != store.schema:
        raise InputError(
            f"the backup holds schema {schema!r} but the target store uses "
            f"{store.schema!r}; set TIANDI_PATCH_SCHEMA (or --schema) to {schema}"
        )
    with store._connect() as con:
        try:
            con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            con.commit()
        except psycopg.Error as exc:
            raise InputError(
                f"patch store {store.location}: PostGIS cannot be created ({exc}); run "
                "CREATE EXTENSION postgis as the database owner, then restore again"
            ) from exc
    dsn, env = _split_dsn(store.dsn)
    command = [_tool("pg_restore"), "--single-transaction", "--exit-on-error", "--clean"]
    command += ["--if-exists", "--no-owner", "--no-privileges", f"--dbname={dsn}", str(backup)]
    _run(command, env, "pg_restore", store)


def drop_schema(store: PostgisPatchStore) -> None:
    """Drop the store's schema (a restore whose chain did not verify)."""
    with store._connect() as con:
        con.execute(f"DROP SCHEMA IF EXISTS {store.schema} CASCADE")
        con.commit()
