"""Child services that do not outlive the process that started them.

A run starts servers for itself (``rustac serve``, ``prefect server start``). Each is
started by :func:`spawn`:

- in a session and process group of its own, so stopping it signals the whole group;
- on Linux with a parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGTERM)``), so it gets
  SIGTERM when the run dies, even by SIGKILL. The kernel sends that signal when the
  *thread* that forked exits, so every child is forked from one long-lived thread of
  this module, never from a short-lived worker thread;
- with a record ``<home>/run/<service>-<pid>.json`` (the child's pid and start time, its
  parent's pid and start time), removed when the child is stopped. Each :func:`spawn`
  first calls :func:`reap`: a record whose parent is dead has its child's process group
  killed (after checking, by start time, that the pid is still that child) and is
  removed; the records of live runs are left alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, NamedTuple

_PROC = Path("/proc")
_PR_SET_PDEATHSIG = 1
_REAP_GRACE_S = 5.0

_spawner: tuple[int, ThreadPoolExecutor] | None = None  # (owning pid, its one thread)
_spawner_lock = threading.Lock()


def run_folder(home: Path) -> Path:
    """The folder of the child records of runs working in ``home``."""
    return Path(home).resolve() / "run"


class _Stat(NamedTuple):
    state: str
    pgrp: int
    session: int
    start: int  # clock ticks after boot


def _stat(pid: int) -> _Stat | None:
    """State, process group, session and start time of ``pid``; None when it is gone."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return _Stat(fields[0], int(fields[2]), int(fields[3]), int(fields[19]))


def _alive(pid: int, start: int) -> bool:
    """Whether ``pid`` is still the process that started at ``start`` (not a zombie)."""
    stat = _stat(pid)
    return stat is not None and stat.start == start and stat.state != "Z"


@dataclass(frozen=True)
class ChildRecord:
    """What ``<home>/run/<service>-<pid>.json`` holds about one child service."""

    service: str
    pid: int
    start: int
    parent: int
    parent_start: int
    command: str

    def group(self) -> list[int]:
        """Live processes of the child's process group (none when the pid was reused)."""
        leader = _stat(self.pid)
        if leader is not None and leader.start != self.start:
            return []  # the pid is another process now: that group is not ours
        return _members(self.pid)


def _members(pgid: int) -> list[int]:
    """Live processes (not zombies) in the session and process group ``pgid`` (a child's,
    see :func:`spawn`)."""
    members = []
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat and stat.pgrp == pgid and stat.session == pgid and stat.state != "Z":
                members.append(int(entry.name))
    return members


def _read(path: Path) -> ChildRecord | None:
    try:
        return ChildRecord(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def reap(folder: Path) -> list[ChildRecord]:
    """Kill the children recorded in ``folder`` whose parent is dead; return their records.

    A recorded child's process group gets SIGTERM, then SIGKILL after a grace period; its
    record is removed. Records of live parents are left alone. Linux only (a no-op
    elsewhere: there is no /proc to check a pid against).
    """
    if not _PROC.is_dir() or not folder.is_dir():
        return []
    reaped = []
    for path in sorted(folder.glob("*.json")):
        record = _read(path)
        if record is not None and _alive(record.parent, record.parent_start):
            continue
        if record is not None and record.group():
            _kill_group(record.pid, record.group, _REAP_GRACE_S)
            reaped.append(record)
        path.unlink(missing_ok=True)
    return reaped


def _kill_group(pgid: int, members: Callable[[], list[int]], grace_s: float) -> None:
    """SIGTERM the group, then SIGKILL what is left after ``grace_s``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + grace_s
        while members() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not members():
            return


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A ``preexec_fn`` asking for SIGTERM when the forking thread dies (Linux)."""
    prctl = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: go now
            os._exit(1)

    return preexec


def _on_spawner_thread(start: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """Run ``start`` on this module's one thread that lives as long as the process."""
    global _spawner
    with _spawner_lock:
        if _spawner is None or _spawner[0] != os.getpid():  # none yet, or a forked copy's
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tiandi-spawner")
            _spawner = (os.getpid(), pool)
        pool = _spawner[1]
    return pool.submit(start).result()


@dataclass
class Child:
    """A running child service and its record (None where nothing could be recorded)."""

    service: str
    process: subprocess.Popen[bytes]
    record: Path | None

    @property
    def pid(self) -> int:
        """Process id of the child, also its process group and session id."""
        return self.process.pid

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM the child's process group, SIGKILL it after ``grace_s``; drop the record."""
        pid = self.process.pid
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                self.process.wait()
        if _PROC.is_dir() and _members(pid):  # what the leader left behind in its group
            _kill_group(pid, lambda: _members(pid), grace_s)
        if self.record is not None:
            self.record.unlink(missing_ok=True)


def spawn(
    service: str,
    command: Sequence[str],
    *,
    home: Path,
    log: IO[bytes],
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Child:
    """Start ``command`` as the child service ``service`` of this process (see the module).

    Stale children of dead runs recorded under ``home`` are reaped first. Output and
    errors go to ``log``; stdin is /dev/null.
    """
    folder = run_folder(home)
    reap(folder)
    linux = sys.platform.startswith("linux")
    preexec = _die_with_parent(os.getpid()) if linux else None

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=preexec,  # only prctl and getppid: safe in a threaded parent
        )

    process = _on_spawner_thread(start) if linux else start()
    return Child(service, process, _record(folder, service, process, command))


def _record(
    folder: Path, service: str, process: subprocess.Popen[bytes], command: Sequence[str]
) -> Path | None:
    child, parent = _stat(process.pid), _stat(os.getpid())
    if child is None or parent is None:
        return None  # no /proc, or the child is already gone
    record = ChildRecord(
        service, process.pid, child.start, os.getpid(), parent.start, " ".join(command)
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{service}-{process.pid}.json"
    partial = path.with_suffix(".part")
    partial.write_text(json.dumps(asdict(record)), encoding="utf-8")
    partial.replace(path)
    return path


def free_port() -> int:
    """A free TCP port on the loopback interface (a server may still lose it to another
    process before binding: starters retry on :class:`tiandi.errors.PortTakenError`)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
