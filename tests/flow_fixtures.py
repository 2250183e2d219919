"""Shared set-up for flow tests: a small demo scene, its catalog and real services."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from prefect.settings import PREFECT_API_URL, temporary_settings

from tiandi.catalog.register import EmbeddedRegistrar
from tiandi.catalog.server import EmbeddedStacServer
from tiandi.catalog.store import GeoParquetCatalog
from tiandi.demo.scene import generate_scene
from tiandi.flows.demo import AFTER, BEFORE, DEMO_COLLECTION, scene_items
from tiandi.flows.detect_changes import DetectChangesRequest
from tiandi.flows.runtime import dask_client, prefect_api
from tiandi.settings import Settings

SCENE_SIZE = 512


@dataclass
class Services:
    settings: Settings
    scene: Path
    catalog: GeoParquetCatalog
    server: EmbeddedStacServer
    registrar: EmbeddedRegistrar

    @property
    def url(self) -> str:
        return self.server.url

    def request(self, out: Path, **changes: object) -> DetectChangesRequest:
        base: dict[str, object] = {
            "zones": self.scene / "zones.gpkg",
            "before": BEFORE,
            "after": AFTER,
            "out": out,
            "stations": self.scene / "stations.gpkg",
            "truth": self.scene / "truth.gpkg",
            "collection": DEMO_COLLECTION,
            "chunk": 256,
        }
        base.update(changes)
        return DetectChangesRequest(**base)  # type: ignore[arg-type]


def start_services(root: Path) -> Iterator[Services]:
    """Generate a small scene, catalogue it, start rustac serve, Prefect and Dask."""
    scene = root / "scene"
    generate_scene(scene, size=SCENE_SIZE, seed=1)
    settings = Settings(home=root / "home", dask_workers=2, chunk_size=256)
    catalog = GeoParquetCatalog(settings.catalog_path)
    catalog.add(scene_items(scene))
    with ExitStack() as stack:
        server = stack.enter_context(EmbeddedStacServer(settings.catalog_path, home=settings.home))
        url = stack.enter_context(prefect_api(settings))
        stack.enter_context(temporary_settings(updates={PREFECT_API_URL: url}))
        stack.enter_context(dask_client(settings))
        yield Services(settings, scene, catalog, server, EmbeddedRegistrar(catalog, server))
