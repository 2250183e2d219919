"""The embedded STAC API (``rustac serve`` on the stac-geoparquet catalog) searched over HTTP."""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.catalog import make_item, utc
from tiandi.catalog.register import EmbeddedRegistrar, Registrar
from tiandi.catalog.search import search_items
from tiandi.catalog.server import EmbeddedStacServer
from tiandi.catalog.store import GeoParquetCatalog
from tiandi.errors import CatalogError, InputError, NoDataError

S2 = "sentinel-2-l2a"
AREA = (116.02, 40.02, 116.05, 40.05)
H1 = "2025-01-01/2025-06-30"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStacServer]:
    root = tmp_path_factory.mktemp("served")
    catalog = GeoParquetCatalog(root / "catalog" / "items.parquet")
    catalog.add(
        [
            make_item("jan-clear", when=utc(2025, 1, 10), cloud=2.0),
            make_item("mar-cloudy", when=utc(2025, 3, 10), cloud=80.0),
            make_item("jun-last-day", when=utc(2025, 6, 30, 23), cloud=5.0),
            make_item("jul-first-day", when=utc(2025, 7, 1, 0), cloud=1.0),
            make_item("mar-south", when=utc(2025, 3, 12), bbox=(116.0, 39.0, 116.1, 39.1)),
            make_item("mar-landsat", when=utc(2025, 3, 11), collection="landsat-c2-l2"),
        ]
    )
    with EmbeddedStacServer(catalog.path, home=root / "home") as server:
        yield server


def _get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as response:
        data: dict[str, object] = json.load(response)
        return data


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_server_binds_loopback_and_lists_collections(served: EmbeddedStacServer) -> None:
    assert served.url.startswith("http://127.0.0.1:")
    root = _get(served.url + "/")
    assert root["type"] == "Catalog"
    collections = _get(served.url + "/collections")["collections"]
    assert sorted(c["id"] for c in collections) == ["landsat-c2-l2", S2]  # type: ignore[attr-defined, union-attr]


def test_server_home_links_the_bundled_duckdb_extensions(served: EmbeddedStacServer) -> None:
    link = served.home / "rustac-home" / ".duckdb" / "extensions" / "v1.5.1" / "linux_amd64"
    assert link.is_symlink()
    assert (link / "spatial.duckdb_extension").is_file()
    assert served.log_path.is_file()
    assert served.log_path.is_relative_to(served.home)


def test_search_items_over_http_applies_bbox_period_and_collection(
    served: EmbeddedStacServer,
) -> None:
    items = search_items(served.url, collections=[S2], bbox=AREA, datetime=H1)
    assert [i.id for i in items] == ["jan-clear", "mar-cloudy", "jun-last-day"]
    assert all(i.collection_id == S2 for i in items)


def test_search_items_over_http_drops_cloudy_scenes(served: EmbeddedStacServer) -> None:
    items = search_items(served.url, collections=[S2], bbox=AREA, datetime=H1, max_cloud_cover=10)
    assert [i.id for i in items] == ["jan-clear", "jun-last-day"]


def test_nothing_found_is_a_no_data_error_naming_the_query(served: EmbeddedStacServer) -> None:
    with pytest.raises(NoDataError) as info:
        search_items(served.url, collections=[S2], bbox=AREA, datetime="2024-01-01/2024-06-30")
    message = str(info.value)
    assert S2 in message
    assert "2024-01-01/2024-06-30" in message
    assert "116.02" in message


def test_unreachable_api_is_a_catalog_error_naming_url_and_fix() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(CatalogError, match="TIANDI_STAC_API_URL") as info:
        search_items(url, collections=[S2], bbox=AREA, datetime=H1, timeout=2)
    assert url in str(info.value)


def test_bad_search_arguments_are_input_errors(served: EmbeddedStacServer) -> None:
    with pytest.raises(InputError, match="collection"):
        search_items(served.url, collections=[], bbox=AREA, datetime=H1)
    with pytest.raises(InputError, match="not a period"):
        search_items(served.url, collections=[S2], bbox=AREA, datetime="H1 2025")


def test_restart_after_register_serves_new_items_and_leaves_no_process(tmp_path: Path) -> None:
    catalog = GeoParquetCatalog(tmp_path / "items.parquet")
    catalog.add([make_item("first", when=utc(2025, 2, 1))])
    with EmbeddedStacServer(catalog.path, home=tmp_path / "home") as server:
        first_pid = server.pid
        registrar: Registrar = EmbeddedRegistrar(catalog, server)
        registrar.register([make_item("second", when=utc(2025, 2, 2))])
        assert server.pid != first_pid
        assert first_pid is not None and not _process_exists(first_pid)
        items = search_items(server.url, collections=[S2], bbox=AREA, datetime=H1)
        assert [i.id for i in items] == ["first", "second"]
        last_pid = server.pid
    assert last_pid is not None and not _process_exists(last_pid)
    assert not server.running
    with pytest.raises(CatalogError, match="not running"):
        _ = server.url


def test_server_without_catalog_says_to_register_first(tmp_path: Path) -> None:
    server = EmbeddedStacServer(tmp_path / "none.parquet", home=tmp_path / "home")
    with pytest.raises(CatalogError, match="register items first"):
        server.start()
    assert not server.running


def test_server_on_a_damaged_catalog_fails_fast_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "items.parquet"
    path.write_bytes(b"not parquet at all")
    server = EmbeddedStacServer(path, home=tmp_path / "home", startup_timeout=10)
    with pytest.raises(CatalogError, match=r"(?s)HTTP 500.*delete it and register"):
        server.start()
    assert not server.running


def test_registrar_without_server_only_writes_the_catalog(tmp_path: Path) -> None:
    catalog = GeoParquetCatalog(tmp_path / "items.parquet")
    EmbeddedRegistrar(catalog).register([make_item("a", when=utc(2025, 1, 1))])
    assert [i.id for i in catalog.items()] == ["a"]


def test_a_taken_port_is_one_error_naming_the_service_and_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = GeoParquetCatalog(tmp_path / "items.parquet")
    catalog.add([make_item("a", when=utc(2025, 1, 1))])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr("tiandi.catalog.server.free_port", lambda: port)
        server = EmbeddedStacServer(catalog.path, home=tmp_path / "home")
        with pytest.raises(CatalogError) as info:
            server.start()
    message = str(info.value)
    for words in ("STAC API (`rustac serve`)", f"127.0.0.1:{port}", "ss -ltnp", "rustac-serve.log"):
        assert words in message, message
    assert not server.running
    assert not list((tmp_path / "home" / "run").glob("*.json")), "a record was left behind"
