"""The one way to open the patch store: from the settings.

GeoPackage at ``settings.patch_store_path`` (``<home>/patches.gpkg`` unless
``TIANDI_PATCH_STORE`` names another file) by default; the PostgreSQL/PostGIS store of
``settings.patch_dsn`` (``TIANDI_PATCH_DSN``, schema ``TIANDI_PATCH_SCHEMA``) when that is
set.
"""

from __future__ import annotations

from tiandi.redline.store.gpkg import GpkgPatchStore, PatchStore
from tiandi.settings import Settings


def open_store(settings: Settings) -> PatchStore:
    """The patch store the settings name (nothing is created until the store is written):
    PostGIS at ``patch_dsn`` in schema ``patch_schema`` when a DSN is set, else the
    GeoPackage ``patch_store_path``."""
    if settings.patch_dsn:
        from tiandi.redline.store.postgis import PostgisPatchStore

        return PostgisPatchStore(
            settings.patch_dsn.get_secret_value(), schema=settings.patch_schema
        )
    return GpkgPatchStore(settings.patch_store_path)
