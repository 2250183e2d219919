"""The embedded catalog: one stac-geoparquet file, written by rustac, searched with DuckDB.

Writes upsert by (collection, id) and rewrite the whole file atomically (a temporary file
in the same folder, then ``os.replace``), so a reader or the ``rustac serve`` process never
sees half a file. Rows are sorted by collection, datetime and id, and rustac's writer is
deterministic, so the same items give the same bytes. One writer at a time: tiandi does
not lock the file.

stac-geoparquet is columnar: all items share one schema, so a field must keep one type
across the catalog (``nodata`` 0 in one item and "nan" in another under the same asset key
cannot be written). Integers and floats mix (they are stored as floats). Null values are
not kept: a field set to ``None`` reads back as absent.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pystac
import rustac
from rustac.rustac import DuckdbClient  # the Rust class; rustac.duckdb.DuckdbClient is broken

from tiandi.catalog import _duckdb
from tiandi.catalog._query import (
    check_bbox,
    check_cloud_cover,
    check_period,
    cloud_ok,
    warn_unknown_cloud,
)
from tiandi.errors import CatalogError, InputError

_LOCAL_RELS = frozenset({"self", "root", "parent", "collection", "items"})


class GeoParquetCatalog:
    """A stac-geoparquet file of STAC items: ``add`` (upsert), ``items``, ``search``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._client: DuckdbClient | None = None

    def __repr__(self) -> str:
        return f"GeoParquetCatalog({str(self.path)!r})"

    def items(self) -> list[pystac.Item]:
        """All items, sorted by collection, datetime and id; [] when the file does not exist."""
        return [pystac.Item.from_dict(d, preserve_dict=False) for d in self._read()]

    def add(self, items: Iterable[pystac.Item]) -> None:
        """Insert or replace ``items`` (matched by collection and id), rewriting atomically.

        Raises ``InputError`` for an item without a collection and ``CatalogError`` when the
        file cannot be read or written (the existing file is then left as it was).
        """
        new = [_to_record(item) for item in items]
        if not new:
            return
        merged = {(d["collection"], d["id"]): d for d in self._read()}
        merged.update({(d["collection"], d["id"]): d for d in new})
        records = sorted(merged.values(), key=_order)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}")
        try:
            rustac.write_sync(str(tmp), records, format="parquet")
            os.replace(tmp, self.path)
        except rustac.RustacError as exc:
            raise CatalogError(
                f"cannot write {len(records)} items to {self.path} ({exc}); a field must "
                "keep one type in every item of the catalog (e.g. nodata a number, not "
                "sometimes a string): fix the new items' metadata and add them again"
            ) from exc
        finally:
            tmp.unlink(missing_ok=True)

    def search(
        self,
        *,
        bbox: Sequence[float] | None = None,
        datetime: str | None = None,
        collections: Sequence[str] | None = None,
        max_cloud_cover: float | None = None,
        limit: int | None = None,
    ) -> list[pystac.Item]:
        """Items matching all given criteria, oldest first (then by id), in-process.

        ``datetime`` is "START/END" (ISO 8601, inclusive, ".." for an open end);
        ``max_cloud_cover`` keeps items whose ``eo:cloud_cover`` is at most that, and
        items without it with one ``UnknownCloudCoverWarning`` naming them (the rule of
        :mod:`tiandi.catalog._query`). The cloud check runs here, not in DuckDB: a catalog
        in which no item has a cloud cover has no such column to filter on. Raises
        ``CatalogError`` when the catalog file does not exist (register items first) and
        ``InputError`` for malformed criteria.
        """
        if not self.path.exists():
            raise CatalogError(
                f"no catalog at {self.path}; register items first (`tiandi catalog register` "
                "or `make demo`) or point TIANDI_HOME at the folder that holds it"
            )
        self._check_not_empty()
        kwargs: dict[str, Any] = {"sortby": ["datetime", "id"]}
        if bbox is not None:
            kwargs["bbox"] = list(check_bbox(bbox))
        if datetime is not None:
            kwargs["datetime"] = check_period(datetime)
        if collections is not None:
            kwargs["collections"] = list(collections)
        cloud = check_cloud_cover(max_cloud_cover)
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise InputError(f"limit {limit!r} must be a positive whole number")
            if cloud is None:
                kwargs["limit"] = limit
        try:
            found = self._duckdb().search(str(self.path), **kwargs)
        except rustac.RustacError as exc:
            raise CatalogError(
                f"searching {self.path} failed ({exc}); if the file is damaged, delete it "
                "and register the items again"
            ) from exc
        items = [pystac.Item.from_dict(_clean(d), preserve_dict=False) for d in found]
        items = [i for i in items if cloud_ok(i, cloud)][:limit]
        warn_unknown_cloud(items, cloud)
        return items

    def _duckdb(self) -> DuckdbClient:
        if self._client is None:
            self._client = _duckdb.client()
        return self._client

    def _check_not_empty(self) -> None:
        if self.path.stat().st_size == 0:
            raise CatalogError(
                f"catalog {self.path} is an empty file; delete it and register items again"
            )

    def _read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        self._check_not_empty()
        try:
            value = rustac.read_sync(str(self.path), format="parquet", set_self_link=False)
        except rustac.RustacError as exc:
            raise CatalogError(
                f"cannot read catalog {self.path} ({exc}); if it is damaged, delete it and "
                "register the items again"
            ) from exc
        return [_clean(d) for d in value.get("features", [])]


def _to_record(item: pystac.Item) -> dict[str, Any]:
    if not isinstance(item, pystac.Item):
        raise InputError(f"{item!r} is not a pystac.Item; build items with tiandi.catalog.items")
    if not item.collection_id:
        raise InputError(
            f"item {item.id!r} has no collection; set one (item.collection_id = ...) so the "
            "catalog can tell it apart from items of the same id in other collections"
        )
    record = item.to_dict(include_self_link=False, transform_hrefs=False)
    record["collection"] = item.collection_id
    record["links"] = [link for link in record.get("links", []) if link["rel"] not in _LOCAL_RELS]
    return record


def _order(record: dict[str, Any]) -> tuple[str, str, str]:
    props = record.get("properties", {})
    when = props.get("datetime") or props.get("start_datetime") or ""
    return (str(record["collection"]), str(when), str(record["id"]))


def _clean(value: Any) -> Any:
    """Drop the nulls the columnar file adds for fields an item did not have; tuples to lists."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None or k == "geometry"}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
