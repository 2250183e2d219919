"""A production STAC API that is down, answers 5xx or returns malformed items, and a
database with a wrong password: retried where transient, then one clear error naming
the service, the address and what to check (never the password)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.fixtures.catalog import make_item, utc
from tests.fixtures.stac_api import tcp_port
from tiandi._children import free_port
from tiandi.catalog.search import search_items
from tiandi.catalog.transactions import HttpPolicy, StacApiRegistrar
from tiandi.errors import CatalogError, InputError
from tiandi.redline.store.postgis import PostgisPatchStore

FAST = HttpPolicy(attempts=3, backoff_s=0.01, timeout_s=5.0)
AREA = (116.0, 40.0, 116.1, 40.1)
Answer = Callable[[str, str, int], tuple[int, Any]]  # (method, path, request number) -> reply


class FakeApi:
    """A tiny STAC API on 127.0.0.1 whose answers a test scripts; counts requests."""

    def __init__(self, answer: Answer) -> None:
        self.requests: list[tuple[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                fake.requests.append((self.command, self.path))
                status, body = answer(self.command, self.path.split("?")[0], len(fake.requests))
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _reply

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def landing(url: str) -> dict[str, Any]:
    return {
        "type": "Catalog",
        "id": "fake",
        "description": "fake STAC API",
        "stac_version": "1.0.0",
        "conformsTo": [
            "https://api.stacspec.org/v1.0.0/core",
            "https://api.stacspec.org/v1.0.0/item-search",
        ],
        "links": [
            {"rel": "self", "href": url, "type": "application/json"},
            {"rel": "root", "href": url, "type": "application/json"},
            {"rel": "search", "href": f"{url}/search", "type": "application/geo+json"},
            {
                "rel": "search",
                "href": f"{url}/search",
                "type": "application/geo+json",
                "method": "POST",
            },
        ],
    }


def stac_api(url: str, features: list[dict[str, Any]]) -> Answer:
    def answer(method: str, path: str, n: int) -> tuple[int, Any]:
        if path == "/search":
            return 200, {"type": "FeatureCollection", "features": features, "links": []}
        return 200, landing(url)

    return answer


@pytest.fixture
def port_down() -> Iterator[str]:
    yield f"http://127.0.0.1:{free_port()}"  # nothing listens there


def test_search_of_an_api_that_is_down_is_retried_then_names_it(port_down: str) -> None:
    with pytest.raises(CatalogError) as info:
        search_items(port_down, collections=["s2"], bbox=AREA, datetime="2025", timeout=2)
    message = str(info.value)
    assert port_down in message and "after 3 retries" in message
    assert "TIANDI_STAC_API_URL" in message and "make status" in message


def test_search_answered_503_is_retried_then_one_error_names_the_api() -> None:
    down = FakeApi(lambda method, path, n: (503, {"detail": "database is starting"}))
    with down as fake, pytest.raises(CatalogError) as info:
        search_items(fake.url, collections=["s2"], bbox=AREA, datetime="2025", timeout=2)
    assert len(fake.requests) == 4  # the first try and three retries
    assert fake.url in str(info.value) and "503" in str(info.value)


def test_search_answered_503_once_succeeds_on_the_retry() -> None:
    item = make_item("ok", when=utc(2025, 3, 1)).to_dict()
    healthy: list[Answer] = []

    def answer(method: str, path: str, n: int) -> tuple[int, Any]:
        return (503, "busy") if n == 1 else healthy[0](method, path, n)

    with FakeApi(answer) as fake:
        healthy.append(stac_api(fake.url, [item]))
        found = search_items(fake.url, collections=["sentinel-2-l2a"], bbox=AREA, datetime="2025")
    assert [i.id for i in found] == ["ok"]


@pytest.mark.parametrize(
    "broken",
    [
        {"type": "Feature", "id": "no-geometry-no-properties"},
        {"type": "Feature", "id": "x", "geometry": None, "properties": "not an object"},
    ],
)
def test_malformed_items_are_one_error_naming_the_api(broken: dict[str, Any]) -> None:
    answers: list[Answer] = []
    with FakeApi(lambda method, path, n: answers[0](method, path, n)) as fake:
        answers.append(stac_api(fake.url, [broken]))
        with pytest.raises(CatalogError) as info:
            search_items(fake.url, collections=["s2"], bbox=AREA, datetime="2025")
    message = str(info.value)
    assert fake.url in message and "not valid STAC" in message


def test_registering_into_an_api_that_is_down_names_it_and_what_to_check(
    port_down: str,
) -> None:
    item = make_item("out", when=utc(2025, 3, 1), collection="tiandi-outputs")
    with pytest.raises(CatalogError) as info:
        StacApiRegistrar(port_down, FAST).register([item])
    message = str(info.value)
    assert port_down in message and "after 3 attempts" in message and "ConnectionError" in message
    assert "stac-api.log" in message and "TIANDI_STAC_API_URL" in message


def test_registering_retries_502_then_gives_one_error() -> None:
    with (
        FakeApi(lambda method, path, n: (502, "Bad Gateway")) as fake,
        pytest.raises(CatalogError) as info,
    ):
        StacApiRegistrar(fake.url, FAST).register([make_item("o", when=utc(2025, 3, 1))])
    assert len(fake.requests) == 3
    assert fake.url in str(info.value) and "HTTP 502" in str(info.value)


def test_a_refused_item_is_not_retried_and_the_answer_is_shown() -> None:
    def answer(method: str, path: str, n: int) -> tuple[int, Any]:
        if path == "/conformance":
            return 200, {
                "conformsTo": [
                    "https://api.stacspec.org/v1.0.0/ogcapi-features/extensions/transaction"
                ]
            }
        if method == "GET":
            return 200, {"id": "sentinel-2-l2a"}  # the collection exists
        return 400, {"detail": "assets: field required"}

    with FakeApi(answer) as fake, pytest.raises(CatalogError) as info:
        StacApiRegistrar(fake.url, FAST).register([make_item("o", when=utc(2025, 3, 1))])
    assert [m for m, _ in fake.requests].count("POST") == 1
    message = str(info.value)
    assert "HTTP 400" in message and "field required" in message
    assert "ENABLE_TRANSACTIONS_EXTENSIONS" in message


@pytest.fixture
def password_role(postgres_dsn: str) -> Iterator[str]:
    """A role that must log in with a password over TCP (the rest of the session's cluster
    stays on trust); yields its name."""
    role = "tiandi_pw_test"
    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        hba = str(con.execute("SHOW hba_file").fetchone()[0])  # type: ignore[index]
        original = Path(hba).read_text(encoding="utf-8")
        Path(hba).write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n{original}")
        con.execute(f"DROP ROLE IF EXISTS {role}")
        con.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'the-Right-one'")
        con.execute("SELECT pg_reload_conf()")
        try:
            yield role
        finally:
            Path(hba).write_text(original, encoding="utf-8")
            con.execute("SELECT pg_reload_conf()")
            con.execute(f"DROP ROLE IF EXISTS {role}")


def test_a_wrong_database_password_is_named_without_the_password(
    postgres_dsn: str, password_role: str
) -> None:
    port = tcp_port(postgres_dsn)
    dsn = f"postgresql://{password_role}:S3cret-Wrong@127.0.0.1:{port}/postgres"
    with pytest.raises(InputError) as info:
        PostgisPatchStore(dsn).ensure()
    message = str(info.value)
    assert "S3cret-Wrong" not in message and "the-Right-one" not in message
    assert "password authentication failed" in message and f"127.0.0.1:{port}" in message
    assert "TIANDI_PATCH_DSN" in message
