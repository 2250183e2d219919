"""The services of the scale series, started once by the benchmark and measured apart.

A user running a batch of zones (or a scheduled deployment) pays for a Prefect server and
a Dask cluster once, not per run: ``tiandi run detect-changes`` uses the Prefect API in
``PREFECT_API_URL`` and the Dask scheduler in ``TIANDI_DASK_SCHEDULER`` when they are
set (:mod:`tiandi.flows.runtime`). The benchmark starts them here, records how long they
took to answer, and points the flow's CLI runs at them; their processes are sampled with
the run's own tree, so the peak RSS and CPU figures stay those of everything involved.

The Dask cluster is a ``dask scheduler`` and ``dask worker`` processes on loopback only
(``--host 127.0.0.1``), started with the repository on ``PYTHONPATH`` so that the workers
import this checkout's tiandi.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tiandi._children import free_port


@dataclass
class Services:
    """What the flow runs against: environment to add, processes to sample, start-up s."""

    env: dict[str, str] = field(default_factory=dict)
    processes: list[psutil.Process] = field(default_factory=list)
    startup: dict[str, float] = field(default_factory=dict)

    def tree_cpu_seconds(self) -> float:
        """User + system CPU seconds so far of every service process and its children."""
        total = 0.0
        for proc in self.processes:
            for p in [proc, *_children(proc)]:
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()
                    total += t.user + t.system + t.children_user + t.children_system
        return total


def _children(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return proc.children(recursive=True)
    except psutil.Error:
        return []


def _stop(popen: subprocess.Popen[bytes]) -> None:
    proc = psutil.Process(popen.pid)
    for p in [*_children(proc), proc]:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    try:
        popen.wait(15)
    except subprocess.TimeoutExpired:
        for p in [*_children(proc), proc]:
            with contextlib.suppress(psutil.Error):
                p.kill()
        popen.wait()


@contextlib.contextmanager
def prefect(home: Path) -> Iterator[Services]:
    """A Prefect API for the runs: ``PREFECT_API_URL`` if set (nothing started, start-up
    0), else a local server started once (tiandi's own, as a CLI run would start it)."""
    from tiandi.flows.runtime import prefect_api
    from tiandi.settings import Settings

    t0 = time.perf_counter()
    with prefect_api(Settings(home=home)) as url:
        secs = time.perf_counter() - t0
        server = [p for p in _children(psutil.Process()) if "prefect" in " ".join(p.cmdline())]
        yield Services({"PREFECT_API_URL": url}, server, {"prefect_server_s": secs})


@contextlib.contextmanager
def dask_cluster(env: dict[str, str], workers: int, threads: int) -> Iterator[Services]:
    """A scheduler and ``workers`` worker processes of ``threads`` threads on loopback."""
    from distributed import Client

    dask = str(Path(sys.executable).with_name("dask"))
    address = f"tcp://127.0.0.1:{free_port()}"
    t0 = time.perf_counter()
    popens: list[subprocess.Popen[bytes]] = []
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    try:
        port = address.rsplit(":", 1)[1]
        popens.append(subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port",
                                        port, "--no-dashboard"], **quiet))  # type: ignore[call-overload]  # fmt: skip
        popens.append(subprocess.Popen([dask, "worker", address, "--nworkers", str(workers),
                                        "--nthreads", str(threads), "--host", "127.0.0.1",
                                        "--no-dashboard", "--memory-limit", "4GiB"], **quiet))  # type: ignore[call-overload]  # fmt: skip
        with Client(address, timeout="60s") as client:  # type: ignore[no-untyped-call]
            client.wait_for_workers(workers, timeout=120)
        secs = time.perf_counter() - t0
        yield Services(
            {"TIANDI_DASK_SCHEDULER": address},
            [psutil.Process(p.pid) for p in popens],
            {"dask_cluster_s": secs, "dask_workers": workers, "dask_threads": threads},
        )
    finally:
        for popen in reversed(popens):
            _stop(popen)
