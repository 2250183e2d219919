"""CLI command ``tiandi ingest s2``: Sentinel-2 products (SAFE folders or zips) into the catalog.

Registered on the ``ingest`` group in :mod:`tiandi.cli.app`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tiandi.cli.common import friendly_errors, load_settings


@friendly_errors
def ingest_s2(
    paths: Annotated[
        list[Path],
        typer.Argument(help="SAFE folders, their .zip files, or folders holding them."),
    ],
    collection: Annotated[
        str | None,
        typer.Option(help="Collection id (default: sentinel-2-l2a or sentinel-2-l1c)."),
    ] = None,
    cog: Annotated[
        Path | None,
        typer.Option(help="Convert the bands to COGs in this folder (default: use the JP2s)."),
    ] = None,
) -> None:
    """Register Sentinel-2 L1C/L2A products, one item each, with bands B01..B12, B8A, SCL.

    Every product is checked (metadata, baseline, every band) before any is registered.
    """
    settings = load_settings()
    from tiandi.catalog.register import EmbeddedRegistrar
    from tiandi.catalog.safe import ingest_safe
    from tiandi.catalog.store import GeoParquetCatalog

    console = Console(soft_wrap=True)
    items = ingest_safe(
        paths,
        EmbeddedRegistrar(GeoParquetCatalog(settings.catalog_path)),
        collection=collection,
        cog_dir=cog,
        progress=lambda line: console.print(line, highlight=False),
    )
    for item in items:
        cloud = item.properties.get("eo:cloud_cover")
        console.print(
            f"registered {item.collection_id}  {item.id}  {item.datetime:%Y-%m-%d %H:%M}  "
            f"baseline {item.properties['s2:processing_baseline']}  cloud "
            f"{'unknown' if cloud is None else f'{cloud:g} %'}",
            highlight=False,
        )
    console.print(f"{len(items)} products registered in {settings.catalog_path}")
