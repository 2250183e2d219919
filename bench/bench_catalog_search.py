"""Benchmark: the embedded catalog with N Sentinel-2-like items (default 1000).

    .venv/bin/python -m bench.bench_catalog_search [--items 1000] [--repeat 20]

Builds N items by hand (25 tiles of 1° over North China, revisits spread over two years,
cloud cover 0-100 %, six assets each with ``raster:bands``, ``eo:bands``, ``proj:*`` and
``file:*`` fields as ``item_from_rasters`` writes them), then times:

- ``add``: writing them into a fresh stac-geoparquet catalog (one upsert, atomic rewrite)
  and re-adding 10 items to the full catalog (the cost of registering outputs);
- ``search``: in-process DuckDB searches (bbox + period + collection + cloud cover), the
  median and max of ``--repeat`` runs, and a search returning everything;
- ``server``: ``rustac serve`` start-up until it answers, and ``search_items`` over HTTP
  (pystac-client) for the same query.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pystac

from tiandi.catalog.search import search_items
from tiandi.catalog.server import EmbeddedStacServer
from tiandi.catalog.store import GeoParquetCatalog

S2 = "sentinel-2-l2a"
BANDS = {"B02": "blue", "B03": "green", "B04": "red", "B08": "nir", "B11": "swir16"}
QUERY_BBOX = (116.0, 39.5, 117.0, 40.5)
QUERY_PERIOD = "2025-01-01/2025-06-30"


def make_items(n: int) -> list[pystac.Item]:
    """N items on 25 tiles of 1° (113-118°E, 37-42°N), revisits spread over 2024-2025."""
    start = datetime(2024, 1, 1, 3, tzinfo=UTC)
    items = []
    for i in range(n):
        tile, visit = i % 25, i // 25
        lon = 113.0 + tile % 5
        lat = 37.0 + tile // 5
        bbox = [lon, lat, lon + 1.0, lat + 1.0]
        geometry = {
            "type": "Polygon",
            "coordinates": [
                [[lon, lat], [lon + 1, lat], [lon + 1, lat + 1], [lon, lat + 1], [lon, lat]]
            ],
        }
        when = start + timedelta(days=(visit * 730 * 25) // max(n, 1), hours=tile % 5)
        item = pystac.Item(
            f"S2X_MSIL2A_{when:%Y%m%d}_{i:05d}",
            geometry,
            bbox,
            when,
            {
                "eo:cloud_cover": float((i * 37) % 101),
                "platform": "sentinel-2a" if i % 2 else "sentinel-2b",
                "s2:processing_baseline": "04.00",
                "proj:code": "EPSG:32650",
            },
            collection=S2,
        )
        for band, common in BANDS.items():
            item.add_asset(band, _asset(f"/data/{item.id}/{band}.tif", band, common))
        items.append(item)
    return items


def _asset(href: str, band: str, common: str) -> pystac.Asset:
    return pystac.Asset(
        href,
        media_type=pystac.MediaType.COG,
        roles=["data", "reflectance"],
        extra_fields={
            "proj:shape": [10980, 10980],
            "proj:transform": [10.0, 0.0, 400000.0, 0.0, -10.0, 4500000.0],
            "raster:bands": [{"data_type": "uint16", "nodata": 0, "spatial_resolution": 10.0}],
            "eo:bands": [{"name": band, "common_name": common}],
            "file:size": 123456789,
            "file:checksum": "1220" + "0" * 64,
        },
    )


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[list[float], Any]:
    """Seconds of each of ``repeat`` calls and the last result."""
    times = []
    result: Any = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def main() -> None:
    """Build the catalog, time add/search/server, print one line per figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    items = make_items(args.items)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        catalog = GeoParquetCatalog(root / "items.parquet")
        (t_add,), _ = timed(lambda: catalog.add(items))
        (t_readd,), _ = timed(lambda: catalog.add(items[:10]))
        size_kb = catalog.path.stat().st_size / 1024
        print(f"items: {args.items}, catalog file {size_kb:.0f} KiB")
        print(f"add all (fresh file):            {t_add * 1000:8.1f} ms")
        print(f"re-add 10 to the full catalog:   {t_readd * 1000:8.1f} ms")

        def query() -> list[pystac.Item]:
            return catalog.search(
                bbox=QUERY_BBOX, datetime=QUERY_PERIOD, collections=[S2], max_cloud_cover=30
            )

        timed(query)  # first call loads DuckDB's extensions
        times, found = timed(query, args.repeat)
        print(
            f"in-process search ({len(found)} hits):  median {statistics.median(times) * 1000:6.1f}"
            f" ms, max {max(times) * 1000:6.1f} ms"
        )
        times, everything = timed(catalog.search, 3)
        print(
            f"in-process search, all {len(everything)} items:   "
            f"median {statistics.median(times) * 1000:6.1f} ms"
        )

        server = EmbeddedStacServer(catalog.path, home=root / "home")
        (t_start,), _ = timed(server.start)
        try:
            print(f"rustac serve start until ready:  {t_start * 1000:8.1f} ms")

            def http_query() -> list[pystac.Item]:
                return search_items(
                    server.url,
                    collections=[S2],
                    bbox=QUERY_BBOX,
                    datetime=QUERY_PERIOD,
                    max_cloud_cover=30,
                )

            timed(http_query)
            times, found_http = timed(http_query, args.repeat)
            print(
                f"HTTP search_items ({len(found_http)} hits):  median "
                f"{statistics.median(times) * 1000:6.1f} ms, max {max(times) * 1000:6.1f} ms"
            )
            (t_restart,), _ = timed(server.restart)
            print(f"server restart:                  {t_restart * 1000:8.1f} ms")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
