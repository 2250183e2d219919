"""Copernicus Data Space Ecosystem through ``sentinelhub``: credentials (``credentials``),
the Catalog and Process API calls (``api``) and ``tiandi fetch cdse`` (``fetch``:
:func:`~tiandi.eo.cdse.fetch.fetch_cdse`)."""
