"""Test-wide rules: no network except loopback; real data from ../shared/data."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.pg import postgres_dsn  # noqa: F401  (session fixture: throwaway PostGIS)
from tests.fixtures.stac_api import pgstac_api  # noqa: F401  (session: stac-fastapi-pgstac)

# session fixture ``prefect_server``: the one Prefect server the flow tests share
pytest_plugins = ["tests.fixtures.prefect_server"]

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
_LOOPBACK = {"127.0.0.1", "::1", "localhost", "0.0.0.0", ""}
_real_connect = socket.socket.connect


def _host_of(address: Any) -> str:
    if isinstance(address, tuple) and address:
        return str(address[0])
    return ""  # AF_UNIX paths


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6) and _host_of(address) not in _LOOPBACK:
        raise OSError(f"tests may not use the network (tried to connect to {address!r})")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    yield


def shared_data(name: str) -> Path:
    """Path of a folder of ../shared/data; skip when absent, fail in CI."""
    path = SHARED_DATA / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(
                f"real data {path} is missing in CI; ../shared/data must be beside the repo"
            )
        pytest.skip(f"real data {path} not present")
    return path


@pytest.fixture(scope="session")
def demo_scene(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The 512 px demo scene (seed 1) of ``services``, generated once (a ``SceneManifest``);
    read it, never write into it."""
    from tests.fixtures.flow import SCENE_SIZE
    from tiandi.demo.scene import generate_scene

    return generate_scene(tmp_path_factory.mktemp("demo-scene") / "scene", size=SCENE_SIZE, seed=1)


@pytest.fixture(scope="session")
def services(
    tmp_path_factory: pytest.TempPathFactory, prefect_server: str, demo_scene: Any
) -> Iterator[Any]:
    """The small demo scene (``demo_scene``), its embedded catalog, rustac serve, the
    session's Prefect server (``prefect_server``), Dask."""
    from tests.fixtures.flow import start_services

    root = tmp_path_factory.mktemp("services")
    yield from start_services(root, prefect_server, scene=demo_scene.root)


@pytest.fixture(scope="session")
def demo_run(services: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder (``.../run1``) of one ``detect_changes`` run on the ``services``
    scene with ``services.settings`` (baseline detector, outputs registered). Read it, never
    write into it: tests that change a run folder copy it first (``shutil.copytree``)."""
    from tiandi.flows.detect_changes import detect_changes

    out = tmp_path_factory.mktemp("runs") / "run1"
    detect_changes(services.request(out), services.settings)
    return out
