"""The services a flow runs against: a Prefect API and a Dask cluster.

Embedded default: a local ``prefect server start`` on 127.0.0.1 with ``PREFECT_HOME``
under tiandi's working folder, and a ``distributed.LocalCluster``. Production: an
existing Prefect API (``PREFECT_API_URL``) and Dask scheduler (``TIANDI_DASK_SCHEDULER``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from distributed import Client, LocalCluster

from tiandi.errors import ServiceError
from tiandi.settings import Settings

PREFECT_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_UI_ENABLED": "false",
}


def prefect_environment(settings: Settings) -> dict[str, str]:
    """Environment variables that keep Prefect's state inside tiandi's working folder."""
    home = settings.prefect_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    return {**PREFECT_ENV, "PREFECT_HOME": str(home)}


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def prefect_api(settings: Settings, *, timeout_s: float = 60.0) -> Iterator[str]:
    """Yield a Prefect API URL: ``PREFECT_API_URL`` if set, else a local server started here.

    The local server runs in its own process group and is stopped on exit; its log is
    ``<home>/prefect/server.log``.
    """
    existing = os.environ.get("PREFECT_API_URL")
    if existing:
        yield existing
        return
    env = {**os.environ, **prefect_environment(settings)}
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    log_path = settings.prefect_home.resolve() / "server.log"
    prefect_bin = str(Path(sys.executable).with_name("prefect"))
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [prefect_bin, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise ServiceError(
                    f"the local Prefect server (port {port}) did not start within "
                    f"{timeout_s:.0f} s; its log {log_path} ends with:\n{tail}\n"
                    "Check that PREFECT_HOME is writable, or set PREFECT_API_URL to a "
                    "running Prefect server."
                )
            time.sleep(0.3)
        yield url
    finally:
        _drain_prefect_workers()
        _stop(process)


@contextmanager
def prefect_session(settings: Settings) -> Iterator[str]:
    """Make sure a Prefect API exists (:func:`prefect_api`) and point this process at it."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with prefect_api(settings) as url, temporary_settings(updates={PREFECT_API_URL: url}):
        yield url


def _drain_prefect_workers(timeout_s: float = 10.0) -> None:
    """Send the logs and events still queued in this process before the server stops."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=timeout_s)


def _stop(process: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


@contextmanager
def dask_client(settings: Settings) -> Iterator[Client]:
    """A Dask distributed client: the configured scheduler, or a local cluster.

    The local cluster is one worker process with ``dask_workers`` threads: the numpy
    kernels release the GIL, and one process avoids moving chunks between workers.
    """
    if settings.dask_scheduler:
        try:
            client = Client(settings.dask_scheduler, timeout="20s")  # type: ignore[no-untyped-call]
        except OSError as exc:
            raise ServiceError(
                f"cannot reach the Dask scheduler at {settings.dask_scheduler!r} ({exc}); "
                "check TIANDI_DASK_SCHEDULER or unset it to use a local cluster"
            ) from exc
        with client:
            yield client
        return
    cluster = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=1,
        threads_per_worker=settings.dask_workers,
        processes=True,
        memory_limit=settings.dask_memory_limit,
        dashboard_address=None,
        host="127.0.0.1",
    )
    with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        yield client


def retry_on(*errors: type[BaseException]) -> Callable[[Any, Any, Any], bool]:
    """A Prefect ``retry_condition_fn`` that retries only when the task failed with
    one of ``errors`` (I/O errors: network, file system, catalog)."""

    def condition(task: Any, task_run: Any, state: Any) -> bool:
        try:
            state.result()
        except errors:
            return True
        except Exception:
            return False
        return False

    return condition
