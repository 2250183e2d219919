"""STAC: items for imagery and outputs, the embedded stac-geoparquet catalog, its server,
and search against any STAC API.

Modules: ``items`` (build items from rasters, output items), ``cloud_cover`` (cloud cover
of registered rasters from SCL or QA_PIXEL), ``safe`` (Sentinel-2 SAFE products, metadata
in ``_safe_xml``), ``uav`` (UAV orthophotos as items of collection ``uav``), ``store``
(``GeoParquetCatalog``), ``server`` (``EmbeddedStacServer``), ``search``
(``search_items``), ``register`` (``Registrar``), ``transactions`` (``StacApiRegistrar``
and ``load_items``: writing to a production STAC API); private: ``_files`` (raster headers,
vector extents and checksums read from files), ``_bands`` (Sentinel-2 band and L2A
scene-class metadata), ``_query`` (checks shared by the in-process and HTTP search),
``_duckdb`` (DuckDB as rustac bundles it, offline).

Public API below; names resolve lazily (:mod:`tiandi._exports`), so importing one module
imports no other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tiandi._exports import lazy_exports

if TYPE_CHECKING:
    from tiandi.catalog.cloud_cover import resolve_cloud_cover as resolve_cloud_cover
    from tiandi.catalog.items import ProcessingInfo as ProcessingInfo
    from tiandi.catalog.items import item_from_rasters as item_from_rasters
    from tiandi.catalog.items import output_item as output_item
    from tiandi.catalog.register import EmbeddedRegistrar as EmbeddedRegistrar
    from tiandi.catalog.register import Registrar as Registrar
    from tiandi.catalog.safe import SafeProduct as SafeProduct
    from tiandi.catalog.safe import ingest_safe as ingest_safe
    from tiandi.catalog.search import search_items as search_items
    from tiandi.catalog.server import EmbeddedStacServer as EmbeddedStacServer
    from tiandi.catalog.store import GeoParquetCatalog as GeoParquetCatalog
    from tiandi.catalog.transactions import StacApiRegistrar as StacApiRegistrar
    from tiandi.catalog.transactions import load_items as load_items
    from tiandi.catalog.uav import uav_item as uav_item

_EXPORTS = {
    "item_from_rasters": "items",
    "output_item": "items",
    "ProcessingInfo": "items",
    "resolve_cloud_cover": "cloud_cover",
    "ingest_safe": "safe",
    "SafeProduct": "safe",
    "uav_item": "uav",
    "GeoParquetCatalog": "store",
    "EmbeddedStacServer": "server",
    "search_items": "search",
    "Registrar": "register",
    "EmbeddedRegistrar": "register",
    "StacApiRegistrar": "transactions",
    "load_items": "transactions",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
