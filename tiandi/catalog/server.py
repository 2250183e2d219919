"""The embedded STAC API: ``rustac serve catalog.parquet`` on 127.0.0.1, owned by tiandi.

The server is read-only and reads the catalog through DuckDB (bbox, datetime, collections
and CQL2 filters are applied by the server). It runs in its own process group with a HOME
of its own under ``home`` (holding links to the bundled DuckDB extensions, so it never
tries to download them), logs to ``home/logs/rustac-serve.log``, and is stopped by
signalling the whole group and waiting for it, so no process outlives the context.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from tiandi.catalog import _duckdb
from tiandi.errors import CatalogError

_POLL_S = 0.05
_PORT_ATTEMPTS = 3


class _PortTaken(Exception):
    """The free port found was taken by someone else before rustac bound it."""


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
        self._process: subprocess.Popen[bytes] | None = None
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
        if self._process is None or self._port is None:
            raise CatalogError(
                f"the STAC server for {self.catalog_path} is not running; use it as a context "
                "manager (`with EmbeddedStacServer(...) as server:`) or call start()"
            )
        return f"http://127.0.0.1:{self._port}"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id of the server (also its process group id), None when stopped."""
        return None if self._process is None else self._process.pid

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
            except _PortTaken:
                if attempt == _PORT_ATTEMPTS - 1:
                    raise CatalogError(
                        f"`rustac serve` found no free port on 127.0.0.1 after "
                        f"{_PORT_ATTEMPTS} attempts; see {self.log_path}"
                    ) from None
            except BaseException:  # Ctrl-C while waiting must not leave the server behind
                self.stop()
                raise

    def _launch(self, server_home: Path) -> None:
        self._port = _free_port()
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
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=server_home,
                start_new_session=True,
            )

    def stop(self) -> None:
        """Stop the server's process group and wait for it; a no-op when not running."""
        process, self._process, self._port = self._process, None, None
        if process is None:
            return
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout=5)

    def restart(self) -> None:
        """Stop and start again, e.g. after items were added to the catalog."""
        self.stop()
        self.start()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        url = self.url + "/"
        last = "no answer"
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                code = self._process.returncode
                self.stop()
                tail = self._log_tail()
                if "Address already in use" in tail or "os error 98" in tail:
                    raise _PortTaken
                raise CatalogError(
                    f"`rustac serve {self.catalog_path}` exited with code {code} before "
                    f"answering; its log {self.log_path} ends with:\n{tail}"
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
            f"`rustac serve {self.catalog_path}` did not answer {url} within "
            f"{self.startup_timeout:g} s ({last}); its log {self.log_path} ends with:\n"
            f"{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return text[-_LOG_TAIL:]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
