"""``make up`` / ``make status`` (infra/local) on bad input, without starting the stack: a
port that is taken stops ``make up`` before anything starts, with one message naming the
port, the service and what to do. (Bringing the whole stack up takes minutes: it is
measured by hand, see docs/operations.md.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.fixtures.stac_api import REPO, stac_venv
from tiandi._children import free_port

PORT_VARS = [
    "TIANDI_INFRA_PG_PORT",
    "TIANDI_INFRA_STAC_PORT",
    "TIANDI_INFRA_PREFECT_PORT",
    "TIANDI_INFRA_DASK_PORT",
    "TIANDI_INFRA_DASK_DASHBOARD_PORT",
    "TIANDI_INFRA_SERVE_PORT",
]


def _env(state: Path, **ports: int) -> dict[str, str]:
    env = {**os.environ, "TIANDI_INFRA_STATE": str(state)}
    env["TIANDI_VENV"] = str(Path(sys.executable).parent.parent)
    env["TIANDI_STAC_VENV"] = str(stac_venv())
    for var in PORT_VARS:
        env[var] = str(ports.get(var, free_port()))
    return env


def _script(name: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = REPO / "infra" / "local" / name
    return subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_make_up_with_a_taken_port_names_it_and_starts_nothing(tmp_path: Path) -> None:
    state = tmp_path / "infra"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _script("up.sh", _env(state, TIANDI_INFRA_STAC_PORT=port))
    assert result.returncode == 1
    assert f"port {port} (127.0.0.1) for stac-api is taken" in result.stderr
    assert "TIANDI_INFRA_STAC_PORT=<free port> make up" in result.stderr
    assert not state.exists()  # nothing was started or written


def test_make_status_of_a_stack_that_is_not_up_says_down(tmp_path: Path) -> None:
    result = _script("status.sh", _env(tmp_path / "infra"))
    assert result.returncode == 1
    assert "postgres        down" in result.stdout and "stac-api        down" in result.stdout
