"""A throwaway PostgreSQL/PostGIS cluster for the tests (Debian packages, no service).

``postgres_dsn`` (session scope) runs ``initdb`` into a fresh folder under /tmp owned by
the ``postgres`` user (initdb refuses root, so it runs through ``runuser -u postgres``
when the tests run as root), starts the server with ``pg_ctl`` listening on a unix
socket in that folder and on 127.0.0.1 at a free port (fsync off: the data is thrown
away), creates the PostGIS extension in database ``postgres``, yields a DSN over the
socket, then stops the server and deletes the folder. Without the PostgreSQL binaries
or the PostGIS extension the tests that use it are skipped locally and FAIL in CI (the
``CI`` environment variable), like ``shared_data``. Binaries come from
``scripts/install-system-deps.sh`` (postgresql-15-postgis-3).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SETUP_SECONDS: dict[str, float] = {}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL for the tests is missing in CI: {reason}")
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


def _bindir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("pg_ctl")
    return Path(found).resolve().parent if found else None


def _postgis_installed(bindir: Path) -> bool:
    try:
        share = subprocess.run(
            [str(bindir / "pg_config"), "--sharedir"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return False
    return (Path(share) / "extension" / "postgis.control").exists()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def start_postgres() -> Iterator[str]:
    """Start the cluster, yield its DSN, stop and remove it (see the module docstring)."""
    bindir = _bindir()
    if bindir is None:
        _unavailable("no initdb/pg_ctl (install postgresql-15-postgis-3)")
        return
    if not _postgis_installed(bindir):
        _unavailable(f"no PostGIS extension for {bindir} (install postgresql-15-postgis-3)")
        return
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root but there is no 'postgres' user for initdb")
            return
    started = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix="tiandi-pg-"))
    data, sock, log = base / "data", base / "sock", base / "server.log"
    sock.mkdir()
    if os.geteuid() == 0:
        for path in (base, sock):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    port = _free_port()
    options = (
        f"-k {sock} -c listen_addresses=127.0.0.1 -p {port} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off"
    )
    pg_ctl = str(bindir / "pg_ctl")
    try:
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
        _run(_as_postgres([*initdb, "-E", "UTF8", "--locale=C", "--no-sync"]), log)
        _run(
            _as_postgres([pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "start"]),
            log,
        )
        dsn = f"host={sock} port={port} user=postgres dbname=postgres"
        import psycopg

        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        SETUP_SECONDS["postgres"] = time.perf_counter() - started
        yield dsn
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                _as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
                capture_output=True,
                check=False,
            )
        shutil.rmtree(base, ignore_errors=True)


def _run(cmd: list[str], log: Path) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        server = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n{server}"
        )


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """DSN of the session's throwaway PostgreSQL/PostGIS cluster."""
    yield from start_postgres()
