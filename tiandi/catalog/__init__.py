"""STAC: items for imagery and outputs, the embedded stac-geoparquet catalog, its server,
and search against any STAC API.

Modules: ``items`` (build items), ``store`` (``GeoParquetCatalog``), ``server``
(``EmbeddedStacServer``), ``search`` (``search_items``), ``register`` (``Registrar``),
``uav`` (UAV orthophotos as items of collection ``uav``); private: ``_files`` (raster
headers, vector extents and checksums read from files), ``_bands`` (Sentinel-2 band and
L2A scene-class metadata), ``_query`` (checks shared by the in-process and HTTP search),
``_duckdb`` (DuckDB as rustac bundles it, offline).
Import from the modules; this package imports nothing at import time.
"""
