"""Retries only on I/O errors; the local Prefect server's start-up errors."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tiandi._children import run_folder
from tiandi.errors import CatalogError, InputError, ServiceError
from tiandi.flows.runtime import prefect_api, retry_on
from tiandi.settings import Settings


class _State:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error

    def result(self) -> None:
        if self.error is not None:
            raise self.error


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (OSError("disk"), True),
        (CatalogError("api down"), True),
        (InputError("bad zones"), False),
        (ValueError("bug"), False),
        (None, False),
    ],
)
def test_retry_only_on_the_given_errors(error: BaseException | None, retried: bool) -> None:
    condition = retry_on(CatalogError, OSError)
    assert condition(None, None, _State(error)) is retried


def test_periods_may_mix_dates_and_times_with_zones() -> None:
    from tiandi._time import parse_period, period_end

    assert parse_period("2025-05-17/2025-05-17T23:59:59Z", "p").endswith("Z")
    assert period_end("2025-01-01/2025-06-30").tzinfo is not None
    with pytest.raises(InputError, match="ends before it starts"):
        parse_period("2025-07-01T00:00:00Z/2025-06-30", "p")


def _no_prefect_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)


def test_a_prefect_server_that_is_not_up_in_time_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_prefect_api(monkeypatch)
    monkeypatch.setenv("TIANDI_PREFECT_STARTUP_TIMEOUT", "0.5")
    settings = Settings(home=tmp_path)
    assert settings.prefect_startup_timeout == 0.5
    with pytest.raises(ServiceError) as info, prefect_api(settings):
        pass
    message = str(info.value)
    for words in ("Prefect server at http://127.0.0.1:", "within 0.5 s", "server.log"):
        assert words in message, message
    assert "TIANDI_PREFECT_STARTUP_TIMEOUT" in message and "PREFECT_API_URL" in message
    assert not list(run_folder(tmp_path).glob("*.json")), "the server was not stopped"


def test_the_prefect_start_up_timeout_defaults_to_two_minutes() -> None:
    assert Settings.model_fields["prefect_startup_timeout"].default == 120.0


@pytest.mark.slow
def test_a_taken_prefect_port_is_one_error_naming_the_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_prefect_api(monkeypatch)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr("tiandi.flows.runtime.free_port", lambda: port)
        with pytest.raises(ServiceError) as info, prefect_api(Settings(home=tmp_path)):
            pass
    message = str(info.value)
    for words in ("Prefect server", f"http://127.0.0.1:{port}/api", "ss -ltnp", "server.log"):
        assert words in message, message
    assert not list(run_folder(tmp_path).glob("*.json")), "the server was not stopped"


def test_the_embedded_default_computes_on_dask_threads_of_this_process(tmp_path: Path) -> None:
    import dask
    import dask.array as da
    import dask.threaded
    import psutil

    from tiandi.flows.runtime import dask_client

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with dask_client(Settings(home=tmp_path, dask_workers=3)) as client:
        assert client is None
        assert dask.base.get_scheduler() is dask.threaded.get
        assert dask.config.get("num_workers") == 3
        assert int(da.ones((64, 64), chunks=16).sum().compute()) == 64 * 64
        started = {p.pid for p in psutil.Process().children(recursive=True)} - before
    assert not started, "the embedded default started a process"
    assert dask.config.get("num_workers", None) != 3, "the setting outlived the block"


def test_leaving_the_flow_s_dask_block_closes_the_input_files_its_reads_kept_open(
    tmp_path: Path,
) -> None:
    import dask
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from tiandi.eo import _readers
    from tiandi.flows.runtime import dask_client

    path = str(tmp_path / "input.tif")
    profile = {"driver": "GTiff", "width": 4, "height": 4, "count": 1, "dtype": "uint8"}
    with rasterio.open(path, "w", **profile, transform=from_origin(0, 4, 1, 1)) as dst:
        dst.write(np.ones((1, 4, 4), dtype=np.uint8))

    def read(path: str) -> int:
        with _readers.opened(path) as src:
            return int(src.read(1).sum())

    _readers.close_all()
    with dask_client(Settings(home=tmp_path, dask_workers=2)):
        (total,) = dask.compute(dask.delayed(read)(path))
        assert total == 16 and _readers._total() == 1  # kept by the Dask thread
    assert _readers._total() == 0


def test_a_cluster_gone_at_the_end_of_a_pass_is_a_warning_not_a_new_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from tiandi.eo import _pipeline

    class GoneClient:
        def run(self, fn: object) -> None:
            raise OSError("Timed out trying to connect to tcp://127.0.0.1:8786")

    monkeypatch.setattr(_pipeline, "cluster_client", lambda: GoneClient())
    _pipeline.release_pass()
    assert "could not close the input files kept open on the Dask workers" in caplog.text


def test_the_embedded_default_uses_every_core_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dask.system

    monkeypatch.delenv("TIANDI_DASK_WORKERS", raising=False)
    # the cores this process may use: CPU affinity and a container's CPU quota counted
    assert Settings(home=tmp_path).dask_workers == dask.system.CPU_COUNT
    monkeypatch.setenv("TIANDI_DASK_WORKERS", "3")
    assert Settings(home=tmp_path).dask_workers == 3
