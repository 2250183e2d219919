"""Signing Planetary Computer asset hrefs with SAS tokens from its token endpoint.

Planetary Computer serves its data from Azure Blob Storage; a request needs a
shared-access-signature token appended as the URL's query. Tokens come from
``GET {sas_url}/token/{collection}`` (default ``sas_url``:
``https://planetarycomputer.microsoft.com/api/sas/v1``, ``TIANDI_PC_SAS_URL``), which
answers ``{"msft:expiry": "...Z", "token": "st=...&se=...&sig=..."}``; one token per
collection is kept until a minute before it expires. This is what the
``planetary-computer`` package does, without adding it as a dependency.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import pystac
import requests

from tiandi.errors import CatalogError

__all__ = ["DEFAULT_SAS_URL", "sign_items"]

DEFAULT_SAS_URL = "https://planetarycomputer.microsoft.com/api/sas/v1"
_MARGIN = timedelta(minutes=1)
_tokens: dict[tuple[str, str], tuple[str, datetime]] = {}
_lock = threading.Lock()


def _fetch_token(sas_url: str, collection: str, timeout: float) -> tuple[str, datetime]:
    url = f"{sas_url.rstrip('/')}/token/{collection}"
    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException as exc:
        raise CatalogError(
            f"cannot reach the Planetary Computer token endpoint {url} "
            f"({type(exc).__name__}); check the network connection (and HTTPS_PROXY), or set "
            "TIANDI_PC_SAS_URL to the SAS API to use"
        ) from exc
    if response.status_code != 200:
        raise CatalogError(
            f"the Planetary Computer token endpoint {url} answered HTTP "
            f"{response.status_code} ({response.text[:200]!r}); check that collection "
            f"{collection!r} exists there and that TIANDI_PC_SAS_URL is right"
        )
    try:
        body = response.json()
        token = str(body["token"])
        expiry = datetime.fromisoformat(str(body["msft:expiry"]).replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError) as exc:
        raise CatalogError(
            f"the Planetary Computer token endpoint {url} answered without a token and "
            f"msft:expiry ({response.text[:200]!r}); check TIANDI_PC_SAS_URL"
        ) from exc
    return token, expiry


def _token(sas_url: str, collection: str, timeout: float) -> str:
    key = (sas_url, collection)
    with _lock:
        cached = _tokens.get(key)
        if cached is not None and cached[1] - _MARGIN > datetime.now(UTC):
            return cached[0]
        token, expiry = _fetch_token(sas_url, collection, timeout)
        _tokens[key] = (token, expiry)
        return token


def _signed(href: str, token: str) -> str:
    if not href.startswith(("http://", "https://")) or "sig=" in href:
        return href
    return f"{href}{'&' if '?' in href else '?'}{token}"


def sign_items(
    items: Iterable[pystac.Item],
    keys: Sequence[str],
    *,
    sas_url: str = DEFAULT_SAS_URL,
    timeout: float = 30.0,
) -> list[pystac.Item]:
    """Copies of ``items`` whose assets ``keys`` have signed hrefs (http(s) only; hrefs
    already signed are kept). ``CatalogError`` naming the token URL when no token comes."""
    out: list[pystac.Item] = []
    for item in items:
        signed = item.clone()
        token = _token(sas_url, signed.collection_id or "", timeout)
        for key in keys:
            if key in signed.assets:
                signed.assets[key].href = _signed(signed.assets[key].href, token)
        out.append(signed)
    return out
