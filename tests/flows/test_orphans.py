"""Whatever a run starts for itself does not outlive it, even when the run is SIGKILLed.

The run is a real process (``python -m tests.fixtures.orphans``) that opens the services
of a flow run; the test walks /proc for what it started, kills it and looks again.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.catalog import make_item, utc
from tiandi._children import Child, reap, run_folder, spawn
from tiandi.catalog.server import EmbeddedStacServer
from tiandi.catalog.store import GeoParquetCatalog

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")

REPO = Path(__file__).resolve().parents[2]
#: The local Prefect server took over a minute to come up on a loaded 2-core machine.
STARTUP_S = 180.0
#: How long the services of a killed run may take to go.
GONE_S = 15.0


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(parent, process group, start time) of a live, non-zombie ``pid``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return None if fields[0] == "Z" else (int(fields[1]), int(fields[2]), int(fields[19]))


def _live() -> dict[int, tuple[int, int, int]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            found[int(entry.name)] = stat
    return found


def _descendants(root: int) -> dict[int, int]:
    """Descendants of ``root``: pid → start time."""
    live = _live()
    found: dict[int, int] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _, start) in live.items():
            if ppid == parent and pid not in found:
                found[pid] = start
                frontier.append(pid)
    return found


def _group(pgid: int) -> list[int]:
    return [pid for pid, (_, group, _) in _live().items() if group == pgid]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _still_running(started: dict[int, int]) -> dict[int, str]:
    return {
        pid: _cmdline(pid)
        for pid, start in started.items()
        if (stat := _stat(pid)) is not None and stat[2] == start
    }


def _start(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIANDI_", "PREFECT_"))}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fixtures.orphans", *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _ready(process: subprocess.Popen[str], timeout_s: float) -> str:
    """The ``READY`` line of ``process``; fails with its output if it does not come."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        readable, _, _ = select.select([process.stdout], [], [], 1.0)
        if not readable:
            continue
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith("READY"):
            return line.strip()
        seen.append(line)
    process.kill()
    pytest.fail(f"{process.args} did not get ready:\n{''.join(seen)[-3000:]}")


def _eventually(condition: Callable[[], bool], timeout_s: float = GONE_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.slow
def test_a_run_killed_with_sigkill_leaves_none_of_its_services(tmp_path: Path) -> None:
    run = _start("run", str(tmp_path))
    try:
        _ready(run, STARTUP_S)
        started = _descendants(run.pid)
        commands = " ".join(_cmdline(pid) for pid in started)
    finally:
        run.kill()
        run.wait()
    services = {"prefect server start", "rustac serve"}
    assert {s for s in services if s in commands} == services, commands
    # the local Dask cluster's worker is a thread of the run, not a process of its own
    assert "multiprocessing.spawn" not in commands, commands
    gone = _eventually(lambda: not _still_running(started))
    assert gone, f"still running after the run was killed: {_still_running(started)}"
    records = run_folder(tmp_path / "home")
    assert {p.name.split("-")[0] for p in records.glob("*.json")} == {"prefect", "rustac"}
    assert reap(records) == []  # nothing left for the next start to kill
    assert not list(records.glob("*.json"))


def test_a_dead_runs_leftovers_are_reaped_at_the_next_start_and_a_live_runs_are_not(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    stale = _start("spawn", str(home), "stale", "sh", "-c", "sleep 300 & wait")
    live = _start("spawn", str(home), "live", "sleep", "300")
    try:
        stale_pid = int(_ready(stale, 60).split()[1])
        live_pid = int(_ready(live, 60).split()[1])
        assert _eventually(lambda: len(_group(stale_pid)) == 2)  # sh and its sleep
        stale.kill()
        stale.wait()
        # the parent-death signal ends sh; the sleep it started slips through
        assert _eventually(lambda: len(_group(stale_pid)) == 1), _group(stale_pid)
        catalog = GeoParquetCatalog(tmp_path / "items.parquet")
        catalog.add([make_item("a", when=utc(2025, 1, 10))])
        with EmbeddedStacServer(catalog.path, home=home):  # the next start
            assert _group(stale_pid) == []
            assert not (run_folder(home) / f"stale-{stale_pid}.json").exists()
            assert _stat(live_pid) is not None
            assert (run_folder(home) / f"live-{live_pid}.json").exists()
    finally:
        for process in (stale, live):
            process.kill()
            process.wait()
    assert _eventually(lambda: _stat(live_pid) is None)  # the live run's child went with it


def test_a_recorded_pid_now_used_by_another_process_is_left_alone(tmp_path: Path) -> None:
    other = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        folder = run_folder(tmp_path)
        folder.mkdir(parents=True)
        record = folder / f"old-{other.pid}.json"
        fields = {"service": "old", "pid": other.pid, "start": 1, "command": "old"}
        record.write_text(json.dumps({**fields, "parent": other.pid, "parent_start": 1}))
        assert reap(folder) == []
        assert other.poll() is None
        assert not record.exists()
    finally:
        other.send_signal(signal.SIGKILL)
        other.wait()


def test_a_service_started_from_a_short_lived_thread_outlives_that_thread(
    tmp_path: Path,
) -> None:
    """The parent-death signal fires when the forking *thread* exits: a server restarted
    from a task's worker thread must not die with that thread."""
    started: list[Child] = []
    with (tmp_path / "sleep.log").open("wb") as log:
        thread = threading.Thread(
            target=lambda: started.append(spawn("sleep", ["sleep", "300"], home=tmp_path, log=log))
        )
        thread.start()
        thread.join()
    (child,) = started
    try:
        time.sleep(0.5)
        assert child.process.poll() is None, "the child died with the thread that started it"
    finally:
        child.stop()
    assert child.process.poll() is not None
    assert not list(run_folder(tmp_path).glob("*.json"))
