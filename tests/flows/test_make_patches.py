"""The patch step reads the run's own COGs on threads of the flow's process: nothing of it
goes through the Dask cluster (whose workers may not even see the run folder)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
from distributed import Client, LocalCluster, get_task_stream
from prefect.logging import disable_run_logger

from tests.fixtures.flow import Services
from tiandi.flows.detect_tasks import make_patches
from tiandi.models.landcover import load_landcover
from tiandi.redline.patches.extract import PatchParams
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.zones.read import read_zones


def test_patches_are_read_in_this_process_not_through_the_cluster(
    services: Services, demo_run: Path, tmp_path: Path
) -> None:
    layout = RunLayout(demo_run)
    change = {"change_mask": layout.change_mask, "change_prob": layout.change_prob}
    composites = [layout.composite(p) for p in ("before", "after")]
    zones = read_zones(services.scene / "zones.gpkg")
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
        get_task_stream(client) as stream,
        disable_run_logger(),
    ):
        patches, _ = make_patches.fn(
            change, *composites, zones, PatchParams(), tmp_path / "p.gpkg", 256, load_landcover()
        )
        assert client.submit(sum, [1, 2]).result() == 3  # the cluster works and is watched
    assert len(patches) > 0
    assert [t["key"] for t in stream.data if "sum" not in str(t["key"])] == []
    ours = gpd.read_file(tmp_path / "p.gpkg", layer="patches")
    flows = gpd.read_file(layout.patches, layer="patches")
    assert ours.drop(columns="geometry").equals(flows.drop(columns="geometry"))
