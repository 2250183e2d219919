"""What a flow opens from the settings: the STAC API, the output registrar, the patch store
and the Dask scheduler.

Embedded default: the stac-geoparquet catalog served by ``rustac serve`` for the flow's
duration (outputs are registered into it) and Dask's threaded scheduler in the flow's
process. Production:
``TIANDI_STAC_API_URL`` (outputs are registered through its Transactions extension, see
:mod:`tiandi.catalog.transactions`; a read-only API gets a warning instead) and
``TIANDI_DASK_SCHEDULER``. The patch store is :func:`~tiandi.redline.store.open.open_store`.

A flow called inside another flow (the demo cycle's re-check run) uses the services the
outer flow opened when they come from the same settings, instead of starting a second
server or connecting a second client.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from distributed import Client

from tiandi.catalog.register import EmbeddedRegistrar, Registrar
from tiandi.catalog.server import EmbeddedStacServer
from tiandi.catalog.store import GeoParquetCatalog
from tiandi.catalog.transactions import StacApiRegistrar
from tiandi.errors import CatalogError
from tiandi.flows.runtime import dask_client
from tiandi.redline.store.gpkg import PatchStore
from tiandi.redline.store.open import open_store
from tiandi.settings import Settings


@dataclass(frozen=True)
class FlowServices:
    """The services one flow run talks to, opened from ``settings``."""

    settings: Settings
    #: the configured scheduler's client; None: Dask's threaded scheduler in this process
    client: Client | None
    server: EmbeddedStacServer | None = None
    registrar: Registrar | None = None

    @property
    def stac_api_url(self) -> str:
        """The STAC API to search now (the embedded server's port changes on restart)."""
        if self.server is not None:
            return self.server.url
        return str(self.settings.stac_api_url)

    @property
    def dask_scheduler(self) -> str:
        """Address of the Dask scheduler the flow computes on (or its threads)."""
        if self.client is None:
            return f"threads of this process ({self.settings.dask_workers})"
        return str(self.client.scheduler_info()["address"])

    def describe(self) -> str:
        """One line for the log: which STAC API and Dask scheduler."""
        if self.server is not None:
            where = f"embedded STAC API at {self.stac_api_url} ({self.settings.catalog_path})"
        else:
            where = (
                f"STAC API {self.stac_api_url}; outputs registered through its Transactions "
                "extension (a warning when it has none)"
            )
        return f"{where}; Dask scheduler {self.dask_scheduler}"

    def patch_store(self) -> PatchStore:
        """The patch store of the settings (:func:`open_store`)."""
        return open_store(self.settings)


_ACTIVE: ContextVar[FlowServices | None] = ContextVar("tiandi_flow_services", default=None)


def check_catalog(settings: Settings) -> None:
    """``CatalogError`` when neither a STAC API nor the embedded catalog is configured."""
    if not settings.stac_api_url and not settings.catalog_path.exists():
        raise CatalogError(
            f"no embedded catalog at {settings.catalog_path}; register imagery first "
            "(`tiandi catalog register ...` or `make demo`), or set "
            "TIANDI_STAC_API_URL to a STAC API"
        )


def _same_services(a: Settings, b: Settings) -> bool:
    return (a.stac_api_url, a.catalog_path, a.dask_scheduler) == (
        b.stac_api_url,
        b.catalog_path,
        b.dask_scheduler,
    )


def _open_stac(
    stack: ExitStack, settings: Settings
) -> tuple[EmbeddedStacServer | None, Registrar | None]:
    if settings.stac_api_url:
        return None, StacApiRegistrar(settings.stac_api_url)
    check_catalog(settings)
    server = stack.enter_context(EmbeddedStacServer(settings.catalog_path, home=settings.home))
    return server, EmbeddedRegistrar(GeoParquetCatalog(settings.catalog_path), server)


@contextmanager
def flow_services(settings: Settings) -> Iterator[FlowServices]:
    """Open the STAC API, registrar and Dask client of ``settings`` for a block.

    Inside a block already opened from the same STAC and Dask settings (a flow called by a
    flow), the open services are yielded again with ``settings`` (its patch store) in place.
    """
    active = _ACTIVE.get()
    if active is not None and _same_services(active.settings, settings):
        yield FlowServices(settings, active.client, active.server, active.registrar)
        return
    with ExitStack() as stack:
        server, registrar = _open_stac(stack, settings)
        client = stack.enter_context(dask_client(settings))
        services = FlowServices(settings, client, server, registrar)
        token = _ACTIVE.set(services)
        try:
            yield services
        finally:
            _ACTIVE.reset(token)
