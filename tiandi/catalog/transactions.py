"""Writing items into a production STAC API through its Transactions extension.

stac-fastapi-pgstac (with ``ENABLE_TRANSACTIONS_EXTENSIONS=true``) is the production
catalog. :class:`StacApiRegistrar` is the production :class:`~tiandi.catalog.register.Registrar`:
it inserts each item with ``POST /collections/{c}/items`` and replaces an existing one with
``PUT /collections/{c}/items/{id}`` (the standard Transactions extension). :func:`load_items`
bulk-loads many items (``tiandi catalog load``): ``POST /collections/{c}/bulk_items`` with
``"method": "upsert"`` (stac-fastapi's bulk transactions, pgstac's ``upsert_items``) in
chunks, falling back to POST/PUT per item on an API without that endpoint. Both create a
missing collection first (a minimal one, with the items' extent) and leave an existing one
as it is, so loading twice changes nothing.

Connection failures, timeouts and 502/503/504 answers are retried with a short backoff;
then one :class:`~tiandi.errors.CatalogError` names the API, the request and what to check.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pystac
import requests

from tiandi.errors import CatalogError, OutputsNotRegisteredWarning

TRANSACTION_CONFORMANCE = "/extensions/transaction"
_TRANSIENT_STATUS = frozenset({502, 503, 504})
_DROP_LINKS = frozenset({"self", "root", "parent", "collection", "items"})
_BODY_TAIL = 300


@dataclass(frozen=True)
class HttpPolicy:
    """How requests to a STAC API are retried: ``attempts`` in all, waiting ``backoff_s``
    doubled after each failure; ``timeout_s`` per request."""

    attempts: int = 4
    backoff_s: float = 0.5
    timeout_s: float = 30.0


@dataclass
class LoadReport:
    """What :func:`load_items` sent: items per collection and the collections it created."""

    items: dict[str, int] = field(default_factory=dict)
    created_collections: list[str] = field(default_factory=list)


class StacApi:
    """A STAC API root URL with retried JSON requests and messages that name it."""

    def __init__(self, url: str, policy: HttpPolicy | None = None) -> None:
        self.url = url.rstrip("/")
        self.policy = policy or HttpPolicy()
        self.session = requests.Session()

    def request(
        self, method: str, path: str, body: Any = None, *, ok: Iterable[int] = ()
    ) -> requests.Response:
        """``method`` ``path`` (JSON ``body``), retried while transient. Answers 2xx and the
        statuses in ``ok`` are returned; anything else raises ``CatalogError``."""
        url = f"{self.url}{path}"
        allowed = set(ok)
        wait = self.policy.backoff_s
        last = ""
        for attempt in range(1, self.policy.attempts + 1):
            try:
                response = self.session.request(
                    method, url, json=body, timeout=self.policy.timeout_s
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"{type(exc).__name__}: {_short(str(exc))}"
            else:
                if response.ok or response.status_code in allowed:
                    return response
                if response.status_code not in _TRANSIENT_STATUS:
                    raise self._refused(method, url, response)
                last = f"HTTP {response.status_code}: {_short(response.text)}"
            if attempt < self.policy.attempts:
                time.sleep(wait)
                wait *= 2
        raise CatalogError(
            f"STAC API {self.url} did not answer {method} {url} after "
            f"{self.policy.attempts} attempts ({last}); check that the STAC API server is "
            "running there and reaches its database (`make status`, its log "
            "var/infra/logs/stac-api.log for the local stack) and that TIANDI_STAC_API_URL "
            "names it"
        )

    def _refused(self, method: str, url: str, response: requests.Response) -> CatalogError:
        return CatalogError(
            f"STAC API {self.url} refused {method} {url}: HTTP {response.status_code} "
            f"{_short(response.text)}; check that the server has the Transactions extension "
            "enabled (stac-fastapi-pgstac: ENABLE_TRANSACTIONS_EXTENSIONS=true) and that the "
            "item is valid STAC"
        )

    def json(self, path: str) -> Any:
        """GET ``path`` as JSON; ``CatalogError`` when the answer is not JSON."""
        response = self.request("GET", path)
        try:
            return response.json()
        except ValueError:
            raise CatalogError(
                f"STAC API {self.url} answered GET {self.url}{path} with something that is "
                f"not JSON ({_short(response.text)}); check that TIANDI_STAC_API_URL is the "
                "root of a STAC API"
            ) from None

    def supports_transactions(self) -> bool:
        """Whether the API declares the Transactions extension (``/conformance``)."""
        data = self.json("/conformance")
        classes = data.get("conformsTo", []) if isinstance(data, dict) else []
        return any(str(c).endswith(TRANSACTION_CONFORMANCE) for c in classes)


class StacApiRegistrar:
    """The production registrar: items upserted through the Transactions extension.

    Opening it contacts nothing. The first ``register`` reads the API's conformance: a
    read-only API (no Transactions extension, e.g. a public imagery catalog) gets one
    ``OutputsNotRegisteredWarning`` per call and nothing is sent.
    """

    def __init__(self, api_url: str, policy: HttpPolicy | None = None) -> None:
        self.api = StacApi(api_url, policy)
        self._writable: bool | None = None

    def register(self, items: Sequence[pystac.Item]) -> None:
        """Insert or replace ``items`` (POST, then PUT when the item exists); create missing
        collections. Raises ``CatalogError`` naming the API when it refuses or is down."""
        by_collection = _group(items)
        if not by_collection:
            return
        if self._writable is None:
            self._writable = self.api.supports_transactions()
        if not self._writable:
            warnings.warn(
                f"STAC API {self.api.url} declares no Transactions extension: items "
                f"{', '.join(i.id for i in items)} are not registered in a catalog (the "
                "files are written); point TIANDI_STAC_API_URL at stac-fastapi-pgstac with "
                "ENABLE_TRANSACTIONS_EXTENSIONS=true to register them",
                OutputsNotRegisteredWarning,
                stacklevel=2,
            )
            return
        for collection, group in by_collection.items():
            _ensure_collection(self.api, collection, group)
            for item in group:
                _upsert_one(self.api, collection, item)


def load_items(
    api_url: str,
    items: Sequence[pystac.Item],
    *,
    chunk: int = 500,
    policy: HttpPolicy | None = None,
) -> LoadReport:
    """Upsert ``items`` into the STAC API at ``api_url`` in bulk (see the module)."""
    api = StacApi(api_url, policy)
    report = LoadReport()
    for collection, group in _group(items).items():
        if _ensure_collection(api, collection, group):
            report.created_collections.append(collection)
        for start in range(0, len(group), chunk):
            _bulk_upsert(api, collection, group[start : start + chunk])
        report.items[collection] = len(group)
    return report


def _group(items: Iterable[pystac.Item]) -> dict[str, list[pystac.Item]]:
    groups: dict[str, list[pystac.Item]] = {}
    for item in items:
        if not item.collection_id:
            raise CatalogError(
                f"item {item.id} has no collection; a STAC API stores items in collections: "
                "register it with a collection id"
            )
        groups.setdefault(item.collection_id, []).append(item)
    return groups


def item_body(item: pystac.Item) -> dict[str, Any]:
    """The item as JSON for the API: without the local links (the API writes its own)."""
    data = item.to_dict(include_self_link=False, transform_hrefs=False)
    data["links"] = [link for link in data.get("links", []) if link.get("rel") not in _DROP_LINKS]
    return data


def _ensure_collection(api: StacApi, collection: str, items: Sequence[pystac.Item]) -> bool:
    """Create ``collection`` when the API lacks it; True when it was created."""
    if api.request("GET", f"/collections/{collection}", ok=(404,)).status_code != 404:
        return False
    api.request("POST", "/collections", collection_body(collection, items), ok=(409,))
    return True


def collection_body(collection: str, items: Sequence[pystac.Item]) -> dict[str, Any]:
    """A minimal STAC collection around ``items`` (their bbox and time span)."""
    boxes = [item.bbox for item in items if item.bbox]
    bbox = [-180.0, -90.0, 180.0, 90.0]
    if boxes:
        lows = [min(b[i] for b in boxes) for i in (0, 1)]
        bbox = [*lows, *(max(b[i] for b in boxes) for i in (2, 3))]
    times = sorted(item.datetime for item in items if item.datetime is not None)
    interval = [times[0].isoformat(), times[-1].isoformat()] if times else [None, None]
    return {
        "type": "Collection",
        "stac_version": pystac.get_stac_version(),
        "id": collection,
        "description": f"{collection}: created by tiandi when its first items were loaded",
        "license": "other",
        "extent": {"spatial": {"bbox": [bbox]}, "temporal": {"interval": [interval]}},
        "links": [],
    }


def _upsert_one(api: StacApi, collection: str, item: pystac.Item) -> None:
    body = item_body(item)
    created = api.request("POST", f"/collections/{collection}/items", body, ok=(409,))
    if created.status_code == 409:
        api.request("PUT", f"/collections/{collection}/items/{item.id}", body)


def _bulk_upsert(api: StacApi, collection: str, items: Sequence[pystac.Item]) -> None:
    body: Mapping[str, Any] = {
        "items": {item.id: item_body(item) for item in items},
        "method": "upsert",
    }
    answer = api.request("POST", f"/collections/{collection}/bulk_items", body, ok=(404, 405))
    if answer.status_code in (404, 405):  # no bulk transactions: one by one
        for item in items:
            _upsert_one(api, collection, item)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _BODY_TAIL else text[:_BODY_TAIL] + "…"
