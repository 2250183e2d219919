"""CLI commands ``tiandi ingest s2`` (Sentinel-2 SAFE folders or zips) and ``ingest gf`` (GF L1A).

Registered on the ``ingest`` group in :mod:`tiandi.cli.app`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tiandi.cli.common import friendly_errors, load_settings, make_console


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

    console = make_console(soft_wrap=True)
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


@friendly_errors
def ingest_gf(
    products: Annotated[
        list[Path],
        typer.Argument(help="GF-1/GF-2/GF-6 L1A products (.tar.gz as CRESDA delivers them)."),
    ],
    dem: Annotated[
        Path | None,
        typer.Option(help="DEM (GeoTIFF, heights in metres) for the RPC orthorectification."),
    ] = None,
    height: Annotated[
        float | None,
        typer.Option(
            help="Constant terrain height (m) when there is no DEM "
            "(default: the RPC's own mean scene height, HEIGHT_OFF)."
        ),
    ] = None,
    patches: Annotated[
        Path | None, typer.Option(help="patches.gpkg of a run: chips for the patches covered.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Output folder (default: <home>/gf); one folder per product."),
    ] = None,
) -> None:
    """Orthorectify GF products with their RPCs, pan-sharpen PMS, register items (collection gf).

    Every product is checked (archive, metadata, RPC files) before any is processed; the
    items are registered only when all were written.
    """
    if dem is not None and height is not None:
        from tiandi.errors import InputError

        raise InputError("give either --dem or --height, not both")
    settings = load_settings()
    from tiandi.catalog.register import EmbeddedRegistrar
    from tiandi.catalog.store import GeoParquetCatalog
    from tiandi.eo.gf_ingest import check_gf_products
    from tiandi.eo.gf_ingest import ingest_gf as run_ingest

    console = make_console(soft_wrap=True)
    folder = out or settings.gf_path
    results = [
        run_ingest(product, folder, dem=dem, height=height, patches=patches)
        for product in check_gf_products(products, dem)
    ]
    EmbeddedRegistrar(GeoParquetCatalog(settings.catalog_path)).register([r.item for r in results])
    for result in results:
        item = result.item
        rpc = item.properties.get("gf:rpc_dem") or f"{item.properties['gf:rpc_height']:g} m"
        cloud = item.properties.get("eo:cloud_cover")
        console.print(
            f"registered gf  {item.id}  {item.datetime:%Y-%m-%d %H:%M}  "
            f"{', '.join(sorted(k for k in item.assets if k in _IMAGES))}  heights {rpc}  cloud "
            f"{'unknown' if cloud is None else f'{cloud:g} %'}"
            + (f"  {len(result.chips)} patch chips" if patches is not None else ""),
            highlight=False,
        )
    console.print(f"{len(results)} products registered in {settings.catalog_path}")


_IMAGES = frozenset({"multispectral", "pan", "pansharpened"})
