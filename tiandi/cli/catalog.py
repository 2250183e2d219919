"""``tiandi catalog load``: the embedded catalog's items into a production STAC API."""

from __future__ import annotations

from typing import Annotated

import typer

from tiandi.cli.common import friendly_errors, load_settings, make_console
from tiandi.errors import InputError, NoDataError


@friendly_errors
def catalog_load(
    collection: Annotated[
        list[str] | None, typer.Option(help="Only this collection (repeatable).")
    ] = None,
    api: Annotated[
        str | None, typer.Option(help="STAC API with transactions (default TIANDI_STAC_API_URL).")
    ] = None,
) -> None:
    """Bulk-load the embedded catalog's items into a STAC API (stac-fastapi-pgstac).

    Items are upserted (loading twice changes nothing); missing collections are created.
    """
    settings = load_settings()
    from tiandi.catalog.store import GeoParquetCatalog
    from tiandi.catalog.transactions import load_items

    url = api or settings.stac_api_url
    if not url:
        raise InputError(
            "no STAC API to load into: set TIANDI_STAC_API_URL (printed by `make up`) or pass "
            "--api http://HOST:PORT"
        )
    items = GeoParquetCatalog(settings.catalog_path).items()
    if collection:
        items = [i for i in items if i.collection_id in set(collection)]
    if not items:
        wanted = f" of collection(s) {', '.join(collection)}" if collection else ""
        raise NoDataError(
            f"no items{wanted} in the embedded catalog {settings.catalog_path}; register "
            "imagery first (`tiandi catalog register`, `tiandi ingest s2` or `make demo`)"
        )
    report = load_items(url, items)
    console = make_console()
    for name, count in report.items.items():
        created = " (collection created)" if name in report.created_collections else ""
        console.print(f"{name}: {count} items upserted{created}", highlight=False)
    console.print(f"{sum(report.items.values())} items loaded into {url}", highlight=False)
