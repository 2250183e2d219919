"""The services a flow runs against: a Prefect API and a Dask scheduler.

Embedded default: a local ``prefect server start`` on 127.0.0.1 with ``PREFECT_HOME``
under tiandi's working folder, and Dask's threaded scheduler in the flow's process.
Production: an existing Prefect API (``PREFECT_API_URL``) and Dask scheduler
(``TIANDI_DASK_SCHEDULER``). The local Prefect server does not outlive the process that
started it, even when that is killed (see :mod:`tiandi._children`).
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dask
from distributed import Client

from tiandi._children import Child, free_port, spawn
from tiandi.eo import release_pass
from tiandi.errors import PortTakenError, ServiceError
from tiandi.flows.run_log import flow_log
from tiandi.settings import Settings

PREFECT_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_UI_ENABLED": "false",
}
_PORT_ATTEMPTS = 3


def prefect_environment(settings: Settings) -> dict[str, str]:
    """Environment variables that keep Prefect's state inside tiandi's working folder."""
    home = settings.prefect_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    return {**PREFECT_ENV, "PREFECT_HOME": str(home)}


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def prefect_api(settings: Settings, *, timeout_s: float | None = None) -> Iterator[str]:
    """Yield a Prefect API URL: ``PREFECT_API_URL`` if set, else a local server started here.

    The local server is a child service of this process (:func:`tiandi._children.spawn`:
    its own process group, a parent-death signal, a record under ``<home>/run``), stopped
    on exit; its log is ``<home>/prefect/server.log``. It must answer within ``timeout_s``
    (default ``settings.prefect_startup_timeout``, ``TIANDI_PREFECT_STARTUP_TIMEOUT``).
    """
    existing = os.environ.get("PREFECT_API_URL")
    if existing:
        yield existing
        return
    timeout = settings.prefect_startup_timeout if timeout_s is None else timeout_s
    child, url = _start_prefect_server(settings, timeout)
    try:
        yield url
    finally:
        _drain_prefect_workers()
        child.stop()


def _start_prefect_server(settings: Settings, timeout_s: float) -> tuple[Child, str]:
    env = {**os.environ, **prefect_environment(settings)}
    log_path = settings.prefect_home.resolve() / "server.log"
    prefect_bin = str(Path(sys.executable).with_name("prefect"))
    for attempt in range(_PORT_ATTEMPTS):
        port = free_port()
        url = f"http://127.0.0.1:{port}/api"
        command = [prefect_bin, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
        with log_path.open("wb") as log:
            child = spawn("prefect-server", command, home=settings.home, log=log, env=env)
        try:
            _wait_healthy(child, url, log_path, timeout_s)
            return child, url
        except PortTakenError:
            child.stop()
            if attempt == _PORT_ATTEMPTS - 1:
                raise ServiceError(
                    f"the local Prefect server could not listen on {url}: each of the "
                    f"{_PORT_ATTEMPTS} free loopback ports it was given was taken by another "
                    "process first; check what keeps opening ports on 127.0.0.1 "
                    f"(`ss -ltnp`) and run again; server log: {log_path}"
                ) from None
        except BaseException:  # a failed start or Ctrl-C must not leave the server behind
            child.stop()
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _wait_healthy(child: Child, url: str, log_path: Path, timeout_s: float) -> None:
    """Wait until ``url`` answers ``/health``; ``ServiceError`` naming what to check."""
    deadline = time.monotonic() + timeout_s
    while not _healthy(url):
        code = child.process.poll()
        if code is None and time.monotonic() < deadline:
            time.sleep(0.3)
            continue
        tail = log_path.read_text(errors="replace")[-2000:].strip() or "(nothing)"
        if code is not None and "already in use" in tail:
            raise PortTakenError(url)
        what = (
            f"it exited with code {code}"
            if code is not None
            else f"no answer to GET /health within {timeout_s:g} s"
        )
        raise ServiceError(
            f"the local Prefect server at {url} did not come up ({what}); check that "
            f"PREFECT_HOME ({log_path.parent}) is writable and the machine's load (raise "
            "TIANDI_PREFECT_STARTUP_TIMEOUT on a busy machine), or set PREFECT_API_URL "
            f"to a running Prefect server; its log {log_path} ends with:\n{tail}"
        )


@contextmanager
def prefect_session(settings: Settings) -> Iterator[str]:
    """Make sure a Prefect API exists (:func:`prefect_api`) and point this process at it.

    Flow runs inside log to ``settings.flow_log_path`` and keep Prefect's tracebacks off
    the terminal (:func:`tiandi.flows.run_log.flow_log`); a ``TiandiError`` leaving the
    block carries a note naming that file."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with (
        flow_log(settings),
        prefect_api(settings) as url,
        temporary_settings(updates={PREFECT_API_URL: url}),
    ):
        yield url


def _drain_prefect_workers(timeout_s: float = 10.0) -> None:
    """Send the logs and events still queued in this process before the server stops."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=timeout_s)


@contextmanager
def dask_client(settings: Settings) -> Iterator[Client | None]:
    """The Dask scheduler of the flows inside the block: a distributed client of the
    configured scheduler, or Dask's threaded scheduler in this process (yields None).

    With ``dask_scheduler`` (``TIANDI_DASK_SCHEDULER``) the client connects to that
    scheduler, retrying for ``dask_connect_timeout`` seconds, and becomes the default
    scheduler of every Dask computation inside the block: the flows' tasks stay Prefect
    tasks in the flow's process and their chunked arrays compute on the cluster's workers
    (see docs/decisions.md, "Dask distributed"). Otherwise the chunks compute on
    ``dask_workers`` threads of this process (the kernels and GDAL release the GIL): no
    chunk is pickled, sent and copied to reach the writer, no second Python process holds
    its own copies of the libraries, and no scheduler of ``distributed`` spends the GIL on
    a round trip per piece of the one pass (docs/decisions.md, "The embedded default
    computes on Dask's threaded scheduler").
    """
    if settings.dask_scheduler:
        client = _connect_scheduler(settings.dask_scheduler, settings.dask_connect_timeout)
        with client:
            try:
                yield client
            finally:
                release_pass()  # what the flow's reads kept open, on the workers too
        return
    with dask.config.set(scheduler="threads", num_workers=settings.dask_workers):
        try:
            yield None
        finally:
            release_pass()


@contextmanager
def local_threads() -> Iterator[None]:
    """Dask's threaded scheduler in this process for the computations inside the block,
    whatever client is the default.

    For small reads of files this process wrote itself (a run's COGs, read box by box
    around its patches): handing each box's graph to a scheduler and the pixels back costs
    more than the reads. At 8192² (``bench.bench_patch_step``, bench/README.md) the patch
    step took 29–30 s through one worker process, 18.5–19 s through the in-process worker
    of :func:`dask_client` and 10.6–11 s on threads; on these threads 8.4–9.7 s under all.
    Dask's configuration is process-wide: one flow runs per process (the CLI, the process
    work pool of prefect.yaml), so no other computation sees the setting meanwhile."""
    with dask.config.set(scheduler="threads"):
        yield


def _connect_scheduler(address: str, timeout_s: float) -> Client:
    """A client of the scheduler at ``address``; ``ServiceError`` naming what to check."""
    try:
        return Client(address, timeout=f"{timeout_s:g}s")  # type: ignore[no-untyped-call]
    except (OSError, ValueError) as exc:  # refused, timed out, or not a Dask address
        raise ServiceError(
            f"cannot reach the Dask scheduler at {address} (TIANDI_DASK_SCHEDULER) within "
            f"{timeout_s:g} s: {exc}. Check that `dask scheduler` runs there and listens on "
            "that host and port (tcp://HOST:8786 by default), that a firewall lets this "
            "machine in, and that scheduler, workers and tiandi run the same pinned "
            "environment (requirements.lock); raise TIANDI_DASK_CONNECT_TIMEOUT for a slow "
            "network, or unset TIANDI_DASK_SCHEDULER to compute on threads of this process"
        ) from exc


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
