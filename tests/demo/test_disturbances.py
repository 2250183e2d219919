"""The demo's disturbance runs on the scene with the planted disturbances (512 px,
``disturbed_scene``, catalogued as a collection of its own beside the session's scene):
every planted disturbance (burn scar, dieback stand, bloom on two dates, reclaimed strip)
is found by its flow, no patch of these types appears where nothing was planted, and the
patches are in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest

from tiandi.demo.disturbances import TYPES, DisturbanceRuns, run_disturbances, score_disturbances
from tiandi.demo.scene import SceneManifest
from tiandi.demo.scene_catalog import scene_items
from tiandi.redline.store.gpkg import GpkgPatchStore

pytestmark = pytest.mark.slow


COLLECTION = "demo-disturbances-test"


@pytest.fixture(scope="module")
def runs(
    services: Any, disturbed_scene: SceneManifest, tmp_path_factory: pytest.TempPathFactory
) -> DisturbanceRuns:
    services.registrar.register(scene_items(disturbed_scene.root, collection=COLLECTION))
    root = tmp_path_factory.mktemp("disturbances")
    settings = services.configured.model_copy(update={"patch_store": root / "patches.gpkg"})
    return run_disturbances(
        settings, disturbed_scene.root, root / "run", chunk=256, collection=COLLECTION
    )


def test_every_planted_disturbance_is_found_and_none_is_alerted_elsewhere(
    runs: DisturbanceRuns,
) -> None:
    scores = {s.change_type: s for s in runs.scores}
    planted = {t: scores[t].planted for t in TYPES}
    assert planted == {"burned": 1, "dieback": 1, "bloom": 2, "reclamation": 1}
    for change_type in TYPES:
        score = scores[change_type]
        assert score.recall == 1.0, score
        assert score.false_alerts == 0, score
    assert scores["reclamation"].on_other == 0  # the strip is mapped as reclamation only
    assert scores["water_loss"].patches == 0  # the coastal zone: no water loss
    assert scores["water_gain"].patches > 0  # the aquaculture ponds are new water


def test_disturbance_patches_are_recorded_in_the_one_patch_store(runs: DisturbanceRuns) -> None:
    store_path = runs.folders["burned"].parents[2] / "patches.gpkg"  # the fixture's store
    stored = GpkgPatchStore(store_path).list_patches()
    assert set(TYPES) <= set(stored["change_type"])
    mapped = set(runs.patches["change_type"])
    assert mapped <= set(stored["change_type"])


def test_scores_count_a_patch_on_an_event_apart_from_a_false_alert() -> None:
    square = gpd.GeoSeries.from_xy([0.0, 100.0, 300.0], [0.0, 0.0, 0.0]).buffer(10.0)
    planted = gpd.GeoDataFrame(
        {"change_type": ["burned"], "date": ["2025-07-01"]}, geometry=[square[0]], crs=32650
    )
    events = gpd.GeoDataFrame({"kind": ["quarry"]}, geometry=[square[1]], crs=32650)
    patches = gpd.GeoDataFrame(
        {"change_type": ["burned"] * 3}, geometry=list(square.buffer(1.0)), crs=32650
    )
    (burned, *_) = score_disturbances(patches, planted, events)
    assert (burned.planted, burned.found, burned.false_alerts, burned.on_other) == (1, 1, 1, 1)
    assert burned.recall == 1.0 and burned.patches == 3


def test_a_water_run_takes_the_smallest_sea_from_the_request(tmp_path: Path) -> None:
    from tiandi.flows.detect_changes import DetectChangesRequest
    from tiandi.models.registry import load_detector
    from tiandi.models.water import WaterChangeDetector

    def request(detector: str) -> DetectChangesRequest:
        return DetectChangesRequest(
            zones=tmp_path / "z.gpkg",
            before="2025-01-01/2025-06-30",
            after="2025-07-01/2025-12-31",
            out=tmp_path / "out",
            detector=detector,
            sea_min_px=1000,
        )

    assert "sea_min_px" not in request("baseline").detector_options()  # only water has a sea
    detector = load_detector("water", **request("water").detector_options())
    assert isinstance(detector, WaterChangeDetector) and detector.params.sea_min_px == 1000
    default = load_detector("water")
    assert isinstance(default, WaterChangeDetector) and default.params.sea_min_px == 10_000


def test_the_demo_end_names_what_to_open_in_each_run(tmp_path: Path) -> None:
    from rich.console import Console

    from tiandi.demo.disturbances import TypeScore, print_disturbances

    folders = {name: tmp_path / name for name in ("burned", "blooms", "dieback", "water")}
    for folder in folders.values():
        folder.mkdir()
    (folders["burned"] / "summary.html").write_text("<html></html>")
    (folders["blooms"] / "bloom_ledger.csv").write_text("date\n")
    (folders["dieback"] / "patches.gpkg").write_bytes(b"")
    empty = gpd.GeoDataFrame({"change_type": []}, geometry=[], crs="EPSG:4490")
    scores = (TypeScore("burned", 1, 1, 0, 2, 3),)
    console = Console(record=True, width=400)
    print_disturbances(DisturbanceRuns(folders, empty, scores), console)
    lines = console.export_text().splitlines()
    assert f"burned: {folders['burned'] / 'summary.html'}" in lines
    assert f"blooms: {folders['blooms'] / 'bloom_ledger.csv'}" in lines
    assert f"dieback: {folders['dieback'] / 'patches.gpkg'}" in lines
    assert f"water: {folders['water']}" in lines  # nothing to open: the folder


def test_the_main_summary_page_links_every_disturbance_run(tmp_path: Path) -> None:
    import json

    from tiandi.demo.run import link_disturbance_pages
    from tiandi.flows.detect_changes import DetectChangesResult
    from tiandi.redline.reports.run_summary import RunSummary

    out = tmp_path / "demo-out"
    folders = {name: out / "disturbances" / name for name in ("burned", "dieback")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    (folders["burned"] / "summary.html").write_text("<html></html>")
    (folders["dieback"] / "patches.gpkg").write_bytes(b"")
    patches = gpd.GeoDataFrame({"change_type": []}, geometry=[], crs="EPSG:4490")
    summary = RunSummary("z.gpkg", "b", "a", [], [], "integrated-high", "0.1.0", 0, 0.0,
                         {"patches": "patches.gpkg"})  # fmt: skip
    runs = DisturbanceRuns(folders, patches, ())
    link_disturbance_pages(DetectChangesResult(out, summary, patches, []), runs)
    page = (out / "summary.html").read_text(encoding="utf-8")
    assert 'href="disturbances/burned/summary.html"' in page
    assert 'href="disturbances/dieback/patches.gpkg"' in page
    assert 'href="patches.gpkg"' in page  # the run's own outputs stay listed
    outputs = json.loads((out / "summary.json").read_text(encoding="utf-8"))["outputs"]
    assert outputs["burned 生态扰动"] == "disturbances/burned/summary.html"
