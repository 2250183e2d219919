"""detect_changes on a Dask distributed cluster (``dask scheduler`` + 2 ``dask worker``
processes on loopback) gives byte-identical outputs to the local cluster; an unreachable
scheduler is one clear error."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest

from tests.fixtures.dask_cluster import dask_cluster
from tests.fixtures.flow import Services
from tiandi._children import free_port, run_folder
from tiandi.errors import ServiceError
from tiandi.flows.detect_changes import detect_changes
from tiandi.flows.runtime import dask_client
from tiandi.settings import Settings

pytestmark = pytest.mark.slow


def test_detect_changes_on_a_distributed_cluster_matches_the_local_run(
    services: Services, demo_run: Path, tmp_path: Path
) -> None:
    local = demo_run  # the same request on the session's LocalCluster (tests/conftest.py)
    home = tmp_path / "cluster"
    with dask_cluster(home, workers=2) as address:
        remote = services.configured.model_copy(update={"dask_scheduler": address})
        with dask_client(remote) as client:
            workers = client.scheduler_info()["workers"]
            assert len(workers) == 2, workers
        result = detect_changes(services.request(tmp_path / "remote"), remote)
        with dask_client(remote) as client:  # the cluster's workers did the chunks
            done = client.run_on_scheduler(
                lambda dask_scheduler: sum(len(ts) for ts in dask_scheduler.task_prefixes)
            )
            assert done > 0
    assert not list(run_folder(home).glob("*.json")), "a cluster process was left running"
    assert len(result.patches) > 0
    for rel in ("change/change_mask.tif", "change/change_prob.tif", "patches.gpkg"):
        ours, theirs = (local / rel), (tmp_path / "remote" / rel)
        assert ours.read_bytes() == theirs.read_bytes(), rel
    a = gpd.read_file(local / "patches.gpkg", layer="patches")
    b = gpd.read_file(tmp_path / "remote" / "patches.gpkg", layer="patches")
    assert a.drop(columns="geometry").equals(b.drop(columns="geometry"))
    assert a.geometry.to_wkb().equals(b.geometry.to_wkb())


def test_the_embedded_default_on_dask_threads_matches_the_cluster_run(
    services: Services, demo_run: Path, tmp_path: Path
) -> None:
    """No TIANDI_DASK_SCHEDULER: the chunks compute on threads of this process (pieces of
    one chunk, docs/decisions.md), and every output is the cluster run's, byte for byte."""
    embedded = services.configured.model_copy(update={"dask_scheduler": None})
    result = detect_changes(services.request(tmp_path / "threads"), embedded)
    assert len(result.patches) > 0
    for rel in (
        "composites/before.tif",
        "composites/after.tif",
        "change/change_mask.tif",
        "change/change_prob.tif",
        "patches.gpkg",
    ):
        assert (demo_run / rel).read_bytes() == (tmp_path / "threads" / rel).read_bytes(), rel


def test_an_unreachable_scheduler_is_one_error_naming_the_address(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    settings = Settings(home=tmp_path, dask_scheduler=address, dask_connect_timeout=1.0)
    with pytest.raises(ServiceError) as info, dask_client(settings):
        pass
    message = str(info.value)
    for words in (address, "TIANDI_DASK_SCHEDULER", "dask scheduler", "within 1 s"):
        assert words in message, message
