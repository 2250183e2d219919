"""STAC: items for imagery and outputs, the embedded stac-geoparquet catalog, its server,
and search against any STAC API.

Modules: ``items`` (build items), ``store`` (``GeoParquetCatalog``), ``server``
(``EmbeddedStacServer``), ``search`` (``search_items``), ``register`` (``Registrar``).
Import from the modules; this package imports nothing at import time.
"""
