"""Searching a STAC API (the embedded ``rustac serve`` or a production one) with pystac-client.

No ``limit`` is sent: a paging API (stac-fastapi) pages and pystac-client follows its
``next`` links; ``rustac serve`` on a stac-geoparquet file answers all matches at once
(with a ``limit`` it truncates without a ``next`` link, so sending one would lose items).
The cloud-cover maximum is sent as a CQL2 filter (at most the maximum, or null) when the
API declares the filter conformance class, and always applied again on the client, so an
API that ignores filters cannot let cloudy scenes through. Items without
``eo:cloud_cover`` are kept with one ``UnknownCloudCoverWarning`` naming them (the rule
of :mod:`tiandi.catalog._query`).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence

import pystac
import requests
from pystac_client import Client
from pystac_client.conformance import ConformanceClasses
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO
from urllib3.util.retry import Retry

from tiandi.catalog._query import (
    check_bbox,
    check_cloud_cover,
    check_period,
    cloud_filter,
    cloud_ok,
    sorted_unique,
    warn_unknown_cloud,
)
from tiandi.errors import CatalogError, InputError, NoDataError

_UNREACHABLE = (APIError, requests.RequestException, OSError, ValueError)
_MALFORMED = (KeyError, TypeError, AttributeError, pystac.STACError, pystac.STACTypeError)
#: Connection failures and 502/503/504 answers are retried (0.25, 0.5, 1 s apart).
RETRIES = 3
_BACKOFF_S = 0.25


def _stac_io(timeout: float) -> StacApiIO:
    retry = Retry(
        total=RETRIES,
        backoff_factor=_BACKOFF_S,
        status_forcelist=(502, 503, 504),
        allowed_methods=None,  # POST searches are reads: retry them too
        raise_on_status=False,  # the last 5xx answer reaches pystac-client as an APIError
    )
    return StacApiIO(timeout=timeout, max_retries=retry)


def search_items(
    api_url: str,
    *,
    collections: Sequence[str],
    bbox: tuple[float, float, float, float],
    datetime: str,
    max_cloud_cover: float | None = None,
    timeout: float = 30.0,
) -> list[pystac.Item]:
    """Items of ``collections`` intersecting ``bbox`` (degrees) within period ``datetime``.

    ``datetime`` is "START/END" in ISO 8601 (inclusive; dates cover the whole day).
    Items are returned once each, oldest first; with ``max_cloud_cover``, items without a
    cloud cover are kept and named in one ``UnknownCloudCoverWarning``. Raises
    ``NoDataError`` naming the collections, period and bbox when nothing matches,
    ``CatalogError`` when the API cannot be reached, and ``InputError`` for malformed
    criteria.
    """
    names = _check_collections(collections)
    box = check_bbox(bbox)
    period = check_period(datetime)
    cloud = check_cloud_cover(max_cloud_cover)
    try:
        client = Client.open(api_url, stac_io=_stac_io(timeout))
        found, elsewhere = _query(client, names, box, period, cloud)
    except _MALFORMED as exc:
        raise CatalogError(
            f"STAC API {api_url} answered the search with an item that is not valid STAC "
            f"({type(exc).__name__}: {exc}); check the server's log and the items loaded "
            "into it (`tiandi catalog load` writes valid ones), or set TIANDI_STAC_API_URL "
            "to another STAC API"
        ) from exc
    except _UNREACHABLE as exc:
        raise CatalogError(_unreachable(api_url, exc)) from exc
    items = sorted_unique(i for i in found if cloud_ok(i, cloud))
    if elsewhere:
        raise NoDataError(
            f"the area {list(box)} lies outside the imagery: collection(s) {', '.join(names)} "
            f"have items for period {period} at {api_url}, but none intersects it; check the "
            "CRS and coordinates of the area, or register imagery that covers it"
        )
    if not items:
        clouds = "" if cloud is None else f" with eo:cloud_cover <= {cloud:g} %"
        raise NoDataError(
            f"no items in collection(s) {', '.join(names)} for period {period} within bbox "
            f"{list(box)}{clouds} at {api_url}; widen the period or the area, allow more "
            "cloud, or register imagery for it (`tiandi catalog register`)"
        )
    warn_unknown_cloud(items, cloud)
    return items


def _unreachable(api_url: str, exc: BaseException) -> str:
    """What to say when ``api_url`` cannot be searched: local service or remote API."""
    host = urllib.parse.urlparse(api_url).hostname or ""
    if host in ("127.0.0.1", "localhost", "::1"):
        what = (
            "start it (leave TIANDI_STAC_API_URL unset to use the embedded catalog, which "
            "tiandi serves itself; `make status` for the local production stack) or set "
            "TIANDI_STAC_API_URL to a STAC API that is running"
        )
    else:
        what = (
            f"check the network connection to {host} (and HTTPS_PROXY if you need one), "
            "that the URL is the API's root (e.g. https://earth-search.aws.element84.com/v1), "
            "or set TIANDI_STAC_API_URL to another STAC API"
        )
    status = getattr(exc, "status_code", None)
    kind = f"HTTP {status}" if status else type(exc).__name__
    return f"STAC API {api_url} cannot be searched after {RETRIES} retries ({kind}: {exc}); {what}"


def _query(
    client: Client,
    names: list[str],
    box: tuple[float, float, float, float],
    period: str,
    cloud: float | None,
) -> tuple[list[pystac.Item], bool]:
    """The items found, and whether the collections have items in the period elsewhere."""
    use_filter = cloud is not None and client.conforms_to(ConformanceClasses.FILTER)
    search = client.search(
        collections=names,
        bbox=list(box),
        datetime=period,
        filter=cloud_filter(cloud) if use_filter and cloud is not None else None,
        filter_lang="cql2-json" if use_filter else None,
    )
    found = list(search.items())
    elsewhere = not found and next(
        iter(client.search(collections=names, datetime=period, max_items=1).items()), None
    )
    return found, bool(elsewhere)


def _check_collections(collections: Sequence[str]) -> list[str]:
    if isinstance(collections, str):
        collections = [collections]
    names = [c for c in collections if isinstance(c, str) and c.strip()]
    if not names or len(names) != len(collections):
        raise InputError(
            f"collections {collections!r} must be one or more collection ids, "
            "e.g. ['sentinel-2-l2a']"
        )
    return names
