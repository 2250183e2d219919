"""Provider profiles: recorded item shapes of Earth Search, Planetary Computer and CDSE
normalised to canonical keys and offsets; mask kinds; missing bands; signing; errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pystac
import pytest

from tests.fixtures.fake_stac import RECORDED, TOKEN
from tiandi._children import free_port
from tiandi.catalog.providers.normalise import mask_kind, normalise_item
from tiandi.catalog.providers.prepare import prepare_items
from tiandi.catalog.providers.profiles import PROFILES, choose_profile
from tiandi.catalog.providers.signing import sign_items
from tiandi.catalog.search import search_items
from tiandi.eo._harmonise import boa_offset
from tiandi.eo.composite import DEFAULT_BANDS
from tiandi.errors import CatalogError, InputError

BBOX = (115.8, 40.2, 115.9, 40.3)


def recorded(provider: str) -> dict[str, Any]:
    doc = json.loads((RECORDED / f"{provider}_sentinel-2-l2a.json").read_text())
    return dict(doc["features"][0])


def item(provider: str, **changes: Any) -> pystac.Item:
    doc = copy.deepcopy(recorded(provider))
    doc["properties"].update(changes)
    return pystac.Item.from_dict(doc)


@pytest.mark.parametrize(
    ("url", "setting", "name"),
    [
        ("https://earth-search.aws.element84.com/v1", None, "earth-search"),
        ("https://planetarycomputer.microsoft.com/api/stac/v1", None, "planetary-computer"),
        ("https://stac.dataspace.copernicus.eu/v1", None, "cdse"),
        ("http://127.0.0.1:8080", None, "tiandi"),
        ("http://127.0.0.1:8080", "Earth-Search", "earth-search"),
    ],
)
def test_profile_from_url_or_setting(url: str, setting: str | None, name: str) -> None:
    assert choose_profile(url, setting).name == name


def test_unknown_provider_setting_names_the_choices() -> None:
    with pytest.raises(InputError, match=r"TIANDI_STAC_PROVIDER='sentinelhub'.*cdse, earth-search"):
        choose_profile(None, "sentinelhub")


@pytest.mark.parametrize(
    ("provider", "profile", "keys"),
    [
        ("earth_search", "earth-search", {"B04": "red", "B11": "swir16", "SCL": "scl"}),
        ("planetary_computer", "planetary-computer", {"B04": "B04", "B8A": "B8A", "SCL": "SCL"}),
        ("cdse", "cdse", {"B04": "B04_10m", "B11": "B11_20m", "B01": "B01_60m", "SCL": "SCL_20m"}),
    ],
)  # fmt: skip
def test_recorded_items_get_canonical_keys_and_offset(
    provider: str, profile: str, keys: dict[str, str]
) -> None:
    raw = item(provider)
    out = normalise_item(raw, PROFILES[profile])
    for canonical in (*DEFAULT_BANDS, "SCL"):
        assert canonical in out.assets, (provider, canonical, sorted(out.assets))
    for canonical, key in keys.items():
        assert out.assets[canonical].href == raw.assets[key].href
    assert boa_offset(out) == -1000  # baseline 05.11: every provider's DNs carry +1000
    assert out.properties["tiandi:provider"] == profile
    assert set(keys.values()) - set(keys) <= set(raw.assets) - set(out.assets)  # renamed


def test_earth_search_offset_comes_from_raster_bands_not_the_baseline() -> None:
    doc = copy.deepcopy(recorded("earth_search"))
    for asset in doc["assets"].values():
        for rb in asset.get("raster:bands", []):
            rb["offset"] = 0.0
    out = normalise_item(pystac.Item.from_dict(doc), PROFILES["earth-search"])
    assert boa_offset(out) == 0  # stated 0 despite baseline 05.11
    applied = item("earth_search")
    for asset in applied.assets.values():
        asset.extra_fields.pop("raster:bands", None)
    assert boa_offset(normalise_item(applied, PROFILES["earth-search"])) == 0  # applied: true


def test_bands_stating_different_offsets_are_refused() -> None:
    raw = item("earth_search")
    raw.assets["red"].extra_fields["raster:bands"][0]["offset"] = 0.0
    with pytest.raises(InputError, match="different offsets"):
        normalise_item(raw, PROFILES["earth-search"])


def test_item_without_a_needed_band_is_named_before_anything_runs() -> None:
    raw = item("earth_search")
    del raw.assets["swir16"]
    with pytest.raises(InputError) as info:
        prepare_items(
            {"before": [raw]}, PROFILES["earth-search"], bands=DEFAULT_BANDS,
            what="the baseline detector's composite", source="Earth Search at https://x",
        )  # fmt: skip
    text = str(info.value)
    assert raw.id in text and "no B11 band" in text and "swir16" in text
    assert "baseline detector" in text


def test_mask_kind_by_collection_and_mixed_collections_refused() -> None:
    l2a = item("earth_search")
    l1c = item("earth_search")
    l1c.collection_id = "sentinel-2-l1c"
    landsat = item("planetary_computer", platform="landsat-9")
    landsat.collection_id = "landsat-c2-l2"
    assert mask_kind([l2a]) == "scl"
    assert mask_kind([l1c]) == "s2cloudless"
    assert mask_kind([landsat]) == "qa_pixel"
    with pytest.raises(InputError, match=r"different cloud masks.*s2cloudless.*scl"):
        mask_kind([l2a, l1c])


def test_planetary_computer_hrefs_signed_with_a_token(tmp_path: Path) -> None:
    from tests.fixtures.fake_stac import fake_stac

    with fake_stac("planetary_computer", tmp_path, []) as fake:
        raw = normalise_item(item("planetary_computer"), PROFILES["planetary-computer"])
        signed = sign_items([raw, raw], ["B04", "SCL"], sas_url=fake.sas_url)
    assert signed[0].assets["B04"].href == raw.assets["B04"].href + "?" + TOKEN
    assert signed[1].assets["SCL"].href.endswith(TOKEN)
    assert "?" not in signed[0].assets["B02"].href  # only the keys asked for
    assert fake.token_requests == ["sentinel-2-l2a"]  # one token for both items


def test_token_endpoint_down_is_one_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/api/sas/v1"
    raw = item("planetary_computer")
    raw.collection_id = "sentinel-2-l2a-down"  # not cached by another test
    with pytest.raises(CatalogError, match=f"token endpoint {url}/token/sentinel-2-l2a-down"):
        sign_items([raw], ["B04"], sas_url=url)


def test_network_down_names_the_api_and_what_to_check() -> None:
    url = "https://earth-search.aws.element84.com/v1"  # the test guard refuses the network
    with pytest.raises(CatalogError) as info:
        search_items(
            url,
            collections=["sentinel-2-l2a"],
            bbox=BBOX,
            datetime="2025-04-01/2025-04-30",
            timeout=5,
        )
    text = str(info.value)
    assert url in text and "network connection" in text and "TIANDI_STAC_API_URL" in text
