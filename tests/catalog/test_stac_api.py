"""The same search code against the embedded catalog and stac-fastapi-pgstac; loading the
embedded catalog into pgstac (``tiandi catalog load``) and registering outputs through
the Transactions extension."""

from __future__ import annotations

import json
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.fixtures.catalog import make_item, utc
from tiandi.catalog.search import search_items
from tiandi.catalog.server import EmbeddedStacServer
from tiandi.catalog.store import GeoParquetCatalog
from tiandi.catalog.transactions import StacApiRegistrar, load_items
from tiandi.cli.app import app
from tiandi.errors import OutputsNotRegisteredWarning

S2 = "sentinel-2-l2a"
LS = "landsat-c2-l2"
ITEMS = [
    make_item("jan-clear", when=utc(2025, 1, 10), cloud=2.0),
    make_item("mar-cloudy", when=utc(2025, 3, 10), cloud=80.0),
    make_item("jun-last-day", when=utc(2025, 6, 30, 23), cloud=5.0),
    make_item("jul-first-day", when=utc(2025, 7, 1, 0), cloud=1.0),
    make_item("mar-south", when=utc(2025, 3, 12), bbox=(116.0, 39.0, 116.1, 39.1)),
    make_item("mar-landsat", when=utc(2025, 3, 11), collection=LS, cloud=30.0),
]


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, pgstac_api: str) -> Iterator[dict[str, str]]:
    """The same items in the embedded catalog (served by rustac) and in pgstac."""
    root = tmp_path_factory.mktemp("both")
    catalog = GeoParquetCatalog(root / "catalog" / "items.parquet")
    catalog.add(ITEMS)
    load_items(pgstac_api, catalog.items())
    with EmbeddedStacServer(catalog.path, home=root / "home") as server:
        yield {"embedded": server.url, "pgstac": pgstac_api}


QUERIES = {
    "collection and half year": dict(collections=[S2], datetime="2025-01-01/2025-06-30"),
    "whole year, south box": dict(collections=[S2], datetime="2025", bbox=(116, 38.9, 116.2, 39.2)),
    "cloud at most 10": dict(collections=[S2], datetime="2025-01-01/2025-12-31", cloud=10.0),
    "second half from midnight": dict(collections=[S2], datetime="2025-07-01/2025-12-31"),
    "other collection": dict(collections=[LS], datetime="2025-03-01/2025-03-31"),
    "two collections": dict(collections=[S2, LS], datetime="2025-03-01/2025-03-31"),
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_same_search_finds_the_same_ids_in_the_embedded_catalog_and_pgstac(
    both: dict[str, str], name: str
) -> None:
    query = dict(QUERIES[name])
    bbox = query.pop("bbox", (116.0, 39.0, 116.1, 40.1))
    cloud = query.pop("cloud", None)
    found = {
        where: [
            i.id
            for i in search_items(url, bbox=bbox, max_cloud_cover=cloud, **query)  # type: ignore[arg-type]
        ]
        for where, url in both.items()
    }
    assert found["embedded"] == found["pgstac"]
    assert found["pgstac"]  # every query finds something


def _count(api: str, collection: str) -> int:
    url = f"{api}/search?collections={collection}&limit=1000"
    with urllib.request.urlopen(url, timeout=10) as response:
        return len(json.load(response)["features"])


def test_catalog_load_twice_changes_nothing(pgstac_api: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    GeoParquetCatalog(home / "catalog" / "items.parquet").add(
        [make_item(f"load-{n}", when=utc(2024, 5, n + 1), collection="load-test") for n in range(5)]
        + [make_item("other", when=utc(2024, 5, 1), collection="load-other")]
    )
    env = {"TIANDI_HOME": str(home), "TIANDI_STAC_API_URL": pgstac_api}
    args = ["catalog", "load", "--collection", "load-test"]
    first = CliRunner().invoke(app, args, env=env)
    assert first.exit_code == 0, first.output
    assert "load-test: 5 items upserted (collection created)" in first.output
    second = CliRunner().invoke(app, args, env=env)
    assert second.exit_code == 0, second.output
    assert "load-test: 5 items upserted\n" in second.output
    assert _count(pgstac_api, "load-test") == 5
    assert _count(pgstac_api, "load-other") == 0  # only the collection asked for


def test_catalog_load_without_an_api_says_what_to_set(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["catalog", "load"], env={"TIANDI_HOME": str(tmp_path)})
    assert result.exit_code != 0
    assert "TIANDI_STAC_API_URL" in result.output and "Traceback" not in result.output


def test_outputs_are_registered_and_replaced_through_transactions(pgstac_api: str) -> None:
    registrar = StacApiRegistrar(pgstac_api)
    item = make_item("run-1-changes", when=utc(2025, 8, 1), collection="tiandi-outputs")
    registrar.register([item])  # creates the collection, POSTs the item
    item.properties["tiandi:patches"] = 7
    registrar.register([item])  # the item exists: PUT replaces it
    found = search_items(
        pgstac_api, collections=["tiandi-outputs"], bbox=(116, 40, 116.1, 40.1), datetime="2025"
    )
    assert [i.id for i in found] == ["run-1-changes"]
    assert found[0].properties["tiandi:patches"] == 7


def test_a_read_only_api_gets_a_warning_and_nothing_is_sent(tmp_path: Path) -> None:
    catalog = GeoParquetCatalog(tmp_path / "items.parquet")
    catalog.add([make_item("a", when=utc(2025, 1, 1))])
    with EmbeddedStacServer(catalog.path, home=tmp_path / "home") as server:
        url = server.url
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            StacApiRegistrar(url).register([make_item("b", when=utc(2025, 1, 2))])
    assert [w.category for w in caught] == [OutputsNotRegisteredWarning]
    assert url in str(caught[0].message) and "b are not registered" in str(caught[0].message)
