"""detect_changes against public STAC APIs, faked on loopback (recorded item shapes of
Earth Search and Planetary Computer over the session's demo scene, COGs served over HTTP,
Planetary Computer's blobs refused without a SAS token)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from tests.fixtures.fake_stac import fake_stac
from tiandi.catalog.providers.prepare import prepare_items
from tiandi.catalog.providers.profiles import PROFILES
from tiandi.catalog.search import search_items
from tiandi.demo.scene_catalog import BEFORE, scene_items
from tiandi.eo._harmonise import boa_offset
from tiandi.eo.composite import DEFAULT_BANDS, composite_period
from tiandi.eo.grid import grid_for_zones
from tiandi.errors import InputError
from tiandi.flows.detect_changes import check_inputs, detect_changes
from tiandi.flows.detect_tasks import bbox_4326
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.zones.read import read_zones

PROVIDERS = {"earth_search": "earth-search", "planetary_computer": "planetary-computer"}


def _mask(out: Path) -> np.ndarray:  # type: ignore[type-arg]
    with rasterio.open(RunLayout(out).change_mask) as src:
        return src.read(1)


@pytest.fixture(scope="module")
def runs(services: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One detect_changes run per provider, on the fake of that provider."""
    natives = scene_items(services.scene)
    results: dict[str, Any] = {}
    for provider in PROVIDERS:
        out = tmp_path_factory.mktemp(provider) / "out"
        pc = provider == "planetary_computer"
        with fake_stac(provider, services.scene, natives, require_token=pc) as fake:
            settings = services.settings.model_copy(
                update={"stac_api_url": fake.url, "pc_sas_url": fake.sas_url}
            )  # the profile is chosen by a setting here: the fake's URL is on loopback
            settings = settings.model_copy(update={"stac_provider": PROVIDERS[provider]})
            result = detect_changes(services.request(out, stations=None), settings)
            results[provider] = (result, fake)
    return results


def test_detect_changes_runs_on_each_provider(runs: dict[str, Any]) -> None:
    for provider, (result, fake) in runs.items():
        assert RunLayout(result.out).change_mask.exists(), provider
        assert RunLayout(result.out).patches.exists(), provider
        assert len(result.patches) > 0, provider
        assert fake.refused == [], provider  # every blob read was signed (PC) or open (ES)
    assert runs["planetary_computer"][1].token_requests  # PC hrefs were signed


def test_providers_give_the_same_change_mask(runs: dict[str, Any]) -> None:
    es, pc = (runs[p][0] for p in PROVIDERS)
    assert np.array_equal(_mask(es.out), _mask(pc.out))
    assert len(es.patches) == len(pc.patches)


@pytest.mark.parametrize("provider", ["earth_search", "planetary_computer", "cdse"])
def test_provider_items_composite_like_the_native_items(services: Any, provider: str) -> None:
    """Searched over HTTP, renamed, offset stated, signed, read over HTTP: the composite is
    the native items' composite, value for value (baselines 03.01 and 04.00 mixed)."""
    natives = scene_items(services.scene)
    zones = read_zones(services.scene / "zones.gpkg")
    grid = grid_for_zones(zones, natives)
    profile = {**PROVIDERS, "cdse": "cdse"}[provider]
    pc = provider == "planetary_computer"
    with fake_stac(provider, services.scene, natives, require_token=pc) as fake:
        found = search_items(
            fake.url, collections=["sentinel-2-l2a"], bbox=bbox_4326(zones),
            datetime=BEFORE, max_cloud_cover=80.0,
        )  # fmt: skip
        items, kind = prepare_items(
            {"before": found}, PROFILES[profile], bands=DEFAULT_BANDS, what="the test",
            source=fake.url, sas_url=fake.sas_url,
        )  # fmt: skip
        got = composite_period(items["before"], grid, chunk=256).compute()
        assert fake.refused == []
    ids = {i.id for i in items["before"]}
    want = composite_period([n for n in natives if n.id in ids], grid, chunk=256).compute()
    assert kind == "scl"
    assert {boa_offset(i) for i in items["before"]} == {0, -1000}
    for name in want.data_vars:
        np.testing.assert_array_equal(got[name].values, want[name].values, err_msg=name)


def test_item_without_a_needed_band_stops_the_flow_before_any_output(
    services: Any, tmp_path: Path
) -> None:
    natives = scene_items(services.scene)
    out = tmp_path / "out"
    victims: list[dict[str, Any]] = []

    def drop_swir22(features: list[dict[str, Any]]) -> None:
        victims.append(next(f for f in features if f["properties"]["eo:cloud_cover"] <= 80))
        del victims[0]["assets"]["swir22"]

    with fake_stac("earth_search", services.scene, natives, edit=drop_swir22) as fake:
        victim = victims[0]
        settings = services.settings.model_copy(
            update={"stac_api_url": fake.url, "stac_provider": "earth-search"}
        )
        with pytest.raises(InputError) as info:
            detect_changes(services.request(out, stations=None), settings)
    text = str(info.value)
    assert victim["id"] in text and "no B12 band" in text and "swir22" in text
    assert not out.exists()


def test_unknown_provider_is_refused_before_any_service(services: Any, tmp_path: Path) -> None:
    settings = services.settings.model_copy(update={"stac_provider": "sentinel-hub"})
    with pytest.raises(InputError, match="TIANDI_STAC_PROVIDER='sentinel-hub'"):
        check_inputs(services.request(tmp_path / "out"), settings)
