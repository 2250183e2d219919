"""The embedded STAC API: ``rustac serve catalog.parquet`` on 127.0.0.1, owned by tiandi.

The server is read-only and reads the catalog through DuckDB (bbox, datetime, collections
and CQL2 filters are applied by the server). It runs with a HOME of its own under ``home``
(holding links to the bundled DuckDB extensions, so it never tries to download them) and
logs to ``home/logs/rustac-serve.log``. It is a child service of this process
(:func:`tiandi._children.spawn`): its own process group, stopped by signalling the whole
group; a parent-death signal and a record under ``home/run`` so that it does not outlive
this process even when that is killed.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from tiandi._children import Child, free_port, spawn
from tiandi.catalog import _duckdb
from tiandi.errors import CatalogError, PortTakenError

_POLL_S = 0.05
_PORT_ATTEMPTS = 3


_LOG_TAIL = 2000


class EmbeddedStacServer:
    """``rustac serve`` for one stac-geoparquet catalog, as a context manager.

    ``with EmbeddedStacServer(path, home) as server: server.url`` gives
    "http://127.0.0.1:<free port>". Call ``restart()`` after the catalog changed.
    """

    def __init__(self, catalog_path: Path, home: Path, *, startup_timeout: float = 15.0) -> None:
        self.catalog_path = Path(catalog_path).resolve()
        self.home = Path(home).resolve()
        self.startup_timeout = startup_timeout
        self.log_path = self.home / "logs" / "rustac-serve.log"
        self._child: Child | None = None
        self._port: int | None = None

    def __enter__(self) -> EmbeddedStacServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Root URL of the running API; ``CatalogError`` when it is not running."""
        if self._child is None or self._port is None:
            raise CatalogError(
                f"the STAC server for {self.catalog_path} is not running; use it as a context "
                "manager (`with EmbeddedStacServer(...) as server:`) or call start()"
            )
        return f"http://127.0.0.1:{self._port}"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._child is not None and self._child.process.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id of the server (also its process group id), None when stopped."""
        return None if self._child is None else self._child.pid

    def start(self) -> None:
        """Start the server on a free loopback port and wait until it answers GET /."""
        if self.running:
            return
        if not self.catalog_path.is_file():
            raise CatalogError(
                f"no catalog at {self.catalog_path} to serve; register items first "
                "(`tiandi catalog register` or `make demo`)"
            )
        server_home = _duckdb.prepare_home(self.home / "rustac-home")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(_PORT_ATTEMPTS):
            self._launch(server_home)
            try:
                self._wait_ready()
                return
            except PortTakenError as taken:
                if attempt == _PORT_ATTEMPTS - 1:
                    raise CatalogError(
                        f"the embedded STAC API (`rustac serve`) could not listen on "
                        f"{taken.address}: each of the {_PORT_ATTEMPTS} free loopback ports it "
                        "was given was taken by another process before it bound it; check "
                        "what keeps opening ports on 127.0.0.1 (`ss -ltnp`) and run again; "
                        f"server log: {self.log_path}"
                    ) from None
            except BaseException:  # Ctrl-C while waiting must not leave the server behind
                self.stop()
                raise

    def _launch(self, server_home: Path) -> None:
        self._port = free_port()
        env = {**os.environ, "HOME": str(server_home)}
        command = [
            _rustac_executable(),
            "serve",
            "--addr",
            f"127.0.0.1:{self._port}",
            "--use-duckdb",
            "true",
            str(self.catalog_path),
        ]
        with self.log_path.open("wb") as log:
            log.write(f"$ {' '.join(command)}\n".encode())
            log.flush()
            self._child = spawn(
                "rustac-serve", command, home=self.home, log=log, env=env, cwd=server_home
            )

    def stop(self) -> None:
        """Stop the server's process group and wait for it; a no-op when not running."""
        child, self._child, self._port = self._child, None, None
        if child is not None:
            child.stop(grace_s=5.0)

    def restart(self) -> None:
        """Stop and start again, e.g. after items were added to the catalog."""
        self.stop()
        self.start()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        url = self.url + "/"
        last = "no answer"
        while time.monotonic() < deadline:
            if self._child is not None and self._child.process.poll() is not None:
                code = self._child.process.returncode
                self.stop()
                tail = self._log_tail()
                if "Address already in use" in tail or "os error 98" in tail:
                    raise PortTakenError(url)
                raise CatalogError(
                    f"the embedded STAC API (`rustac serve {self.catalog_path}`) exited with "
                    f"code {code} before answering at {url}; check that the catalog is "
                    f"readable and `rustac --version` runs; its log {self.log_path} ends "
                    f"with:\n{tail}"
                )
            try:
                with urllib.request.urlopen(url, timeout=1.0) as response:
                    if response.status == 200:
                        return
                    last = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:  # up, but cannot serve the catalog
                body = exc.read().decode("utf-8", errors="replace")[:_LOG_TAIL]
                self.stop()
                raise CatalogError(
                    f"`rustac serve {self.catalog_path}` answered HTTP {exc.code} at {url}: "
                    f"{body.strip()}\nIf the catalog file is damaged, delete it and register "
                    f"the items again; server log: {self.log_path}"
                ) from exc
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(_POLL_S)
        self.stop()
        raise CatalogError(
            f"the embedded STAC API (`rustac serve {self.catalog_path}`) did not answer at "
            f"{url} within {self.startup_timeout:g} s ({last}); check the machine's load and "
            f"its log {self.log_path}, which ends with:\n{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return text[-_LOG_TAIL:]


def _rustac_executable() -> str:
    beside = Path(sys.executable).parent / "rustac"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("rustac")
    if found is None:
        raise CatalogError(
            "the `rustac` command was not found next to this Python or on PATH; install the "
            "pinned rustac package (`pip install -c requirements.lock -e .`)"
        )
    return found
