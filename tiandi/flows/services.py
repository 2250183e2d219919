"""Run a flow with the services it needs, embedded or configured.

Embedded default: the stac-geoparquet catalog served by ``rustac serve``, a local Prefect
server and a local Dask cluster, all started here and stopped when the run ends.
Production: ``TIANDI_STAC_API_URL``, ``PREFECT_API_URL`` and ``TIANDI_DASK_SCHEDULER``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from prefect.settings import PREFECT_API_URL, temporary_settings

from tiandi.catalog.register import EmbeddedRegistrar, Registrar
from tiandi.catalog.server import EmbeddedStacServer
from tiandi.catalog.store import GeoParquetCatalog
from tiandi.errors import CatalogError, InputError
from tiandi.flows.detect_changes import DetectChangesRequest, DetectChangesResult, detect_changes
from tiandi.flows.runtime import dask_client, prefect_api
from tiandi.redline.reports.run_summary import print_summary
from tiandi.redline.zones.read import read_zones
from tiandi.settings import Settings


def check_inputs(request: DetectChangesRequest) -> None:
    """Fail fast on unusable input files, before any service is started."""
    read_zones(request.zones)
    for option, path in (("--stations", request.stations), ("--truth", request.truth)):
        if path is not None and not path.is_file():
            raise InputError(f"{option} {path} does not exist; give the path of a vector file")


@contextmanager
def running_services(settings: Settings, console: Any) -> Iterator[tuple[str, Registrar | None]]:
    """Start (or connect to) the STAC API, Prefect and Dask for the duration of a block.

    Yields the STAC API URL and the registrar for outputs (None with a configured API).
    """
    with ExitStack() as stack:
        registrar: Registrar | None = None
        if settings.stac_api_url:
            api_url = settings.stac_api_url
            console.print(
                f"STAC API {api_url}; outputs are not registered (no transaction API yet)"
            )
        else:
            if not settings.catalog_path.exists():
                raise CatalogError(
                    f"no embedded catalog at {settings.catalog_path}; register imagery first "
                    "(`tiandi catalog register ...` or `make demo`), or set "
                    "TIANDI_STAC_API_URL to a STAC API"
                )
            catalog = GeoParquetCatalog(settings.catalog_path)
            server = stack.enter_context(
                EmbeddedStacServer(settings.catalog_path, home=settings.home)
            )
            api_url = server.url
            registrar = EmbeddedRegistrar(catalog, server)
            console.print(f"embedded STAC API at {api_url} ({settings.catalog_path})")
        prefect_url = stack.enter_context(prefect_api(settings))
        stack.enter_context(temporary_settings(updates={PREFECT_API_URL: prefect_url}))
        client = stack.enter_context(dask_client(settings))
        console.print(
            f"Prefect API {prefect_url}; Dask scheduler {client.scheduler_info()['address']}"
        )
        yield api_url, registrar


def run_with_services(
    request: DetectChangesRequest, settings: Settings, console: Any
) -> DetectChangesResult:
    """Start (or connect to) the STAC API, Prefect and Dask; run detect_changes; summarise."""
    check_inputs(request)
    with running_services(settings, console) as (api_url, registrar):
        result = detect_changes(request, api_url, registrar)
    print_summary(result.summary, result.patches, result.out, console)
    return result
