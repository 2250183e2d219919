"""``tiandi fetch cdse``: Sentinel-2 L2A from the Copernicus Data Space into the catalog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from tiandi.cli.common import friendly_errors, load_settings, make_console
from tiandi.errors import InputError

fetch_app = typer.Typer(help="Fetch imagery from remote archives into the embedded catalog.")


@fetch_app.command("cdse")
@friendly_errors
def fetch_cdse_command(
    zones: Annotated[Path, typer.Option(help="Zones file (GeoPackage, Shapefile, GeoJSON).")],
    period: Annotated[str, typer.Option(help="Period START/END, e.g. 2025-04-01/2025-09-30.")],
    collection: Annotated[
        str, typer.Option(help="Collection id of the registered items.")
    ] = "sentinel-2-l2a",
    max_cloud_cover: Annotated[
        float | None, typer.Option(help="Skip scenes cloudier than this (%, the tiles' cover).")
    ] = None,
    tile_px: Annotated[
        int, typer.Option(help="Process API tile side in pixels (at most 2500).")
    ] = 2500,
) -> None:
    """Fetch Sentinel-2 L2A (B02 B03 B04 B08 B11 B12, SCL) over ZONES for PERIOD from the
    Copernicus Data Space (Catalog + Process API), write COGs and register one item per
    acquisition. Credentials: TIANDI_CDSE_CLIENT_ID / TIANDI_CDSE_CLIENT_SECRET (or
    SH_CLIENT_ID / SH_CLIENT_SECRET), or TIANDI_CDSE_SECRETS_FILE (mode 0600)."""
    settings = load_settings()
    from tiandi._time import parse_period
    from tiandi.catalog.register import EmbeddedRegistrar
    from tiandi.catalog.store import GeoParquetCatalog
    from tiandi.eo.cdse.credentials import load_credentials
    from tiandi.eo.cdse.fetch import fetch_cdse
    from tiandi.redline.zones.read import read_zones

    if collection != "sentinel-2-l2a":
        raise InputError(
            f"--collection {collection!r}: only sentinel-2-l2a can be fetched from the "
            "Copernicus Data Space so far"
        )
    load_credentials(settings)  # missing credentials fail before the zones are read
    start, end = _period(parse_period(period, "--period"))
    console = make_console(soft_wrap=True)
    items = fetch_cdse(
        read_zones(zones),
        (start, end),
        settings,
        EmbeddedRegistrar(GeoParquetCatalog(settings.catalog_path)),
        collection=collection,
        max_cloud_cover=max_cloud_cover,
        max_tile_px=tile_px,
        progress=lambda line: console.print(line, highlight=False),
    )
    for item in items:
        cloud = item.properties.get("eo:cloud_cover")
        shown = "unknown" if cloud is None else f"{cloud:g} %"
        console.print(
            f"registered {item.collection_id}  {item.id}  {item.datetime:%Y-%m-%d %H:%M}  "
            f"cloud {shown}",
            highlight=False,
        )
    console.print(f"{len(items)} acquisitions registered in {settings.catalog_path}")


def _period(value: str) -> tuple[datetime, datetime]:
    """``START/END`` as aware datetimes (UTC when none); a date-only END is its whole day."""
    start_text, end_text = value.split("/")
    start, end = (
        _utc(datetime.fromisoformat(t.replace("Z", "+00:00"))) for t in (start_text, end_text)
    )
    if "T" not in end_text:
        end += timedelta(days=1, seconds=-1)
    return start, end


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
