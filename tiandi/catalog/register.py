"""Registering new items (pipeline outputs, ingested imagery) where searches will find them.

The ``Registrar`` protocol is the one seam between the pipeline and the catalog: the
embedded registrar writes into the stac-geoparquet catalog and restarts the read-only
server; the production one (:class:`tiandi.catalog.transactions.StacApiRegistrar`) writes
through a STAC API's Transactions extension (stac-fastapi-pgstac).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import pystac

from tiandi.catalog.server import EmbeddedStacServer
from tiandi.catalog.store import GeoParquetCatalog


@runtime_checkable
class Registrar(Protocol):
    """Something that makes STAC items searchable."""

    def register(self, items: Sequence[pystac.Item]) -> None:
        """Insert or replace ``items`` (by collection and id)."""
        ...


class EmbeddedRegistrar:
    """Registers into the embedded catalog and restarts its server, if one is running."""

    def __init__(
        self, catalog: GeoParquetCatalog, server: EmbeddedStacServer | None = None
    ) -> None:
        self.catalog = catalog
        self.server = server

    def register(self, items: Sequence[pystac.Item]) -> None:
        """Upsert ``items`` into the catalog; restart the server so it serves them."""
        items = list(items)
        if not items:
            return
        self.catalog.add(items)
        if self.server is not None and self.server.running:
            self.server.restart()
