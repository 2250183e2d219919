"""STAC items for imagery on disk and for the pipeline's outputs.

``item_from_rasters`` describes an acquisition (Sentinel-2 bands, a UAV orthophoto, any
GeoTIFF) from the raster headers; ``output_item`` describes what a run produced, with the
``processing`` extension and tiandi's provenance fields. Both fill in ``file:size`` and
``file:checksum`` so a consumer can tell whether a file changed, and both are
deterministic: the same files and parameters give the same item.

Free-form run parameters are stored as one canonical JSON text in ``tiandi:parameters``:
the embedded catalog is columnar (stac-geoparquet), and a value whose type differs
between runs (``"otsu"`` in one, ``0.3`` in another) could not share a column.
"""

from __future__ import annotations

import json
import urllib.parse
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from datetime import datetime as Datetime
from pathlib import Path
from typing import Any

import pystac
import rasterio
import rasterio.errors
import shapely
import shapely.geometry
from pystac.extensions.classification import Classification, ClassificationExtension
from pystac.extensions.eo import Band, EOExtension
from pystac.extensions.file import FileExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, NoDataStrings, RasterBand, RasterExtension
from pystac.utils import datetime_to_str

from tiandi.catalog._bands import SCL_ASSET, SCL_CLASSES, SENTINEL2_BANDS
from tiandi.catalog._files import (
    RASTER_SUFFIXES,
    VECTOR_SUFFIXES,
    Extent,
    RasterHeader,
    Source,
    ZipMember,
    crs_code,
    file_size_and_checksum,
    footprint_lonlat,
    href_of,
    media_type,
    read_raster_header,
    read_vector_extents,
    require_file,
    union_extents,
)
from tiandi.errors import InputError

PROCESSING_SCHEMA = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"
_RESERVED = frozenset({"datetime"})
_RGB = ("red", "green", "blue")


@dataclass(frozen=True)
class ProcessingInfo:
    """Provenance of a pipeline output: how, with what, from which items."""

    lineage: str
    software: dict[str, str]
    inputs: list[str] = field(default_factory=list)
    model: str | None = None
    model_version: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


def item_from_rasters(
    item_id: str,
    assets: Mapping[str, Path | ZipMember],
    *,
    datetime: Datetime,
    collection: str,
    properties: Mapping[str, Any] | None = None,
) -> pystac.Item:
    """Describe one acquisition made of raster files (one asset per file) as a STAC item.

    Reads each raster header once: footprint (bbox/geometry in EPSG:4326), ``proj:*``,
    ``raster:bands``, ``eo:bands`` (Sentinel-2 band names B01..B12/B8A, or RGB colour
    interpretation), ``file:size``/``file:checksum``. Hrefs are absolute ``file://`` URIs,
    or ``/vsizip/`` names for members of a zip archive (:class:`ZipMember`).
    ``properties`` (``eo:cloud_cover``, ``platform``, ``s2:processing_baseline``, ...) pass
    through unchanged. Raises ``InputError`` naming the file when a raster is missing or
    unreadable, or when the id, collection or datetime is invalid.
    """
    _check_names(item_id, collection, assets)
    rasters = {key: read_raster_header(_absolute_source(path)) for key, path in assets.items()}
    return _build_item(item_id, datetime, collection, rasters, {}, properties)


def output_item(
    item_id: str,
    assets: Mapping[str, Path],
    *,
    datetime: Datetime,
    collection: str,
    processing: ProcessingInfo,
    properties: Mapping[str, Any] | None = None,
) -> pystac.Item:
    """Describe the files a pipeline run produced as one STAC item with provenance.

    Rasters (.tif, ...) are read like ``item_from_rasters``; vector files (.gpkg, .geojson)
    contribute their extent; other files (.html, .png, .json) are listed with their size
    and checksum. ``processing:datetime`` is ``datetime`` (not the wall clock), so re-runs
    with the same inputs give the same item. Raises ``InputError`` if a file is missing or
    unreadable, or if no asset tells where the item is.
    """
    _check_names(item_id, collection, assets)
    rasters: dict[str, RasterHeader] = {}
    others: dict[str, tuple[Path, list[Extent]]] = {}
    for key, raw in assets.items():
        path = _absolute(raw)
        suffix = path.suffix.lower()
        if suffix in RASTER_SUFFIXES:
            rasters[key] = read_raster_header(path)
        elif suffix in VECTOR_SUFFIXES:
            others[key] = (path, read_vector_extents(path))
        else:
            require_file(path, f"asset {key!r}")
            others[key] = (path, [])
    props = dict(properties or {})
    props.update(_processing_properties(processing, _utc(datetime, item_id)))
    item = _build_item(item_id, datetime, collection, rasters, others, props)
    item.stac_extensions.append(PROCESSING_SCHEMA)
    return item


def _processing_properties(info: ProcessingInfo, when: Datetime) -> dict[str, Any]:
    try:
        parameters = json.dumps(
            info.parameters, sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"processing parameters {info.parameters!r} are not JSON-serialisable ({exc}); "
            "pass numbers, strings, booleans, lists and dicts only"
        ) from exc
    props: dict[str, Any] = {
        "processing:lineage": info.lineage,
        "processing:software": {str(k): str(v) for k, v in sorted(info.software.items())},
        "processing:datetime": datetime_to_str(when),
        "tiandi:inputs": list(dict.fromkeys(info.inputs)),
        "tiandi:parameters": parameters,
    }
    # None values are left out: the columnar catalog cannot tell a null from a missing field.
    if info.model is not None:
        props["tiandi:model"] = info.model
    if info.model_version is not None:
        props["tiandi:model_version"] = info.model_version
    return props


def _build_item(
    item_id: str,
    when: Datetime,
    collection: str,
    rasters: Mapping[str, RasterHeader],
    others: Mapping[str, tuple[Path, list[Extent]]],
    properties: Mapping[str, Any] | None,
) -> pystac.Item:
    extents = [Extent(h.crs, h.bounds) for h in rasters.values()]
    extents += [e for _, exts in others.values() for e in exts]
    if not extents:
        raise InputError(
            f"item {item_id!r}: none of its assets ({', '.join(others)}) is a georeferenced "
            "raster or vector file, so its location is unknown; add one"
        )
    geometry, bbox = _geometry(union_extents(extents))
    item = pystac.Item(
        id=item_id,
        geometry=geometry,
        bbox=bbox,
        datetime=_utc(when, item_id),
        properties={},
        collection=collection,
    )
    item_code = _item_proj(item, rasters)
    for key, header in rasters.items():
        _add_raster_asset(item, key, header, item_code)
    for key, (path, _) in others.items():
        _add_other_asset(item, key, path)
    _merge_properties(item, properties)
    return item


def _geometry(extents: list[Extent]) -> tuple[dict[str, Any], list[float]]:
    rings = [footprint_lonlat(e) for e in extents]
    if len(rings) == 1:
        geometry: dict[str, Any] = {"type": "Polygon", "coordinates": [[list(p) for p in rings[0]]]}
    else:
        union = shapely.union_all([shapely.geometry.Polygon(r) for r in rings])
        union = shapely.set_precision(union, 10.0**-9)
        geometry = json.loads(json.dumps(shapely.geometry.mapping(shapely.normalize(union))))
    xs = [p[0] for r in rings for p in r]
    ys = [p[1] for r in rings for p in r]
    return geometry, [min(xs), min(ys), max(xs), max(ys)]


def _item_proj(item: pystac.Item, rasters: Mapping[str, RasterHeader]) -> str | None:
    """Set the item's ``proj:code`` to the most common raster CRS; return it."""
    if not rasters:
        return None
    codes = Counter(crs_code(h.crs) for h in rasters.values())
    code = codes.most_common(1)[0][0]
    proj = ProjectionExtension.ext(item, add_if_missing=True)
    if code is not None:
        proj.code = code
    else:
        proj.code = None
        proj.wkt2 = next(iter(rasters.values())).crs.to_wkt()
    return code


def _add_raster_asset(
    item: pystac.Item, key: str, header: RasterHeader, item_code: str | None
) -> None:
    roles = ["data", "reflectance"] if key in SENTINEL2_BANDS else ["data"]
    if key == SCL_ASSET:
        roles = ["data", "data-mask"]
    asset = pystac.Asset(href=href_of(header.path), media_type=header.media_type, roles=roles)
    item.add_asset(key, asset)
    proj = ProjectionExtension.ext(asset)
    code = crs_code(header.crs)
    if code != item_code and code is not None:
        proj.code = code
    proj.shape = [header.height, header.width]
    proj.transform = list(header.transform)
    RasterExtension.ext(asset, add_if_missing=True).bands = [
        RasterBand.create(
            data_type=DataType(b.data_type),
            nodata=NoDataStrings(b.nodata) if isinstance(b.nodata, str) else b.nodata,
            spatial_resolution=header.resolution,
            scale=b.scale,
            offset=b.offset,
        )
        for b in header.bands
    ]
    eo_bands = _eo_bands(key, header)
    if eo_bands:
        EOExtension.ext(asset, add_if_missing=True).bands = eo_bands
    if key == SCL_ASSET:
        ClassificationExtension.ext(asset, add_if_missing=True).classes = [
            Classification.create(value=v, name=name, description=name.replace("_", " "))
            for v, name in SCL_CLASSES.items()
        ]
    _add_file_info(asset, header.path)


def _eo_bands(key: str, header: RasterHeader) -> list[Band]:
    spectral = SENTINEL2_BANDS.get(key)
    if spectral is not None and len(header.bands) == 1:
        return [
            Band.create(
                name=key,
                common_name=spectral.common_name,
                center_wavelength=spectral.center_wavelength,
                full_width_half_max=spectral.full_width_half_max,
            )
        ]
    interps = [b.colorinterp for b in header.bands]
    if not any(c in _RGB for c in interps):
        return []
    return [
        Band.create(name=c, common_name=c) if c in _RGB else Band.create(name=c) for c in interps
    ]


def _add_other_asset(item: pystac.Item, key: str, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix in VECTOR_SUFFIXES:
        roles = ["data"]
    elif suffix in {".png", ".jpg"}:
        roles = ["overview"]
    else:
        roles = ["metadata"]
    asset = pystac.Asset(href=path.as_uri(), media_type=media_type(path), roles=roles)
    item.add_asset(key, asset)
    _add_file_info(asset, path)


def _add_file_info(asset: pystac.Asset, path: Source) -> None:
    info = FileExtension.ext(asset, add_if_missing=True)
    info.size, info.checksum = file_size_and_checksum(path)


def _merge_properties(item: pystac.Item, properties: Mapping[str, Any] | None) -> None:
    if not properties:
        return
    clash = _RESERVED & set(properties)
    if clash:
        raise InputError(
            f"item {item.id!r}: properties may not set {sorted(clash)}; pass the acquisition "
            "time as the datetime argument"
        )
    try:
        copied = json.loads(json.dumps(dict(properties), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"item {item.id!r}: properties are not JSON-serialisable ({exc}); pass numbers "
            "(no NaN), strings, booleans, lists and dicts only"
        ) from exc
    item.properties.update(copied)
    if any(k.startswith("eo:") for k in copied):
        EOExtension.ext(item, add_if_missing=True)


def _check_names(item_id: str, collection: str, assets: Mapping[str, object]) -> None:
    for what, value in (("item id", item_id), ("collection", collection)):
        if not value or not value.strip() or "/" in value or value != value.strip():
            raise InputError(
                f"{what} {value!r} is not usable; give a non-empty name without '/' or "
                "surrounding spaces"
            )
    if not assets:
        raise InputError(f"item {item_id!r} has no assets; give at least one file")
    for key in assets:
        if not key or "/" in key:
            raise InputError(f"item {item_id!r}: asset key {key!r} must be non-empty without '/'")


def _absolute(path: Path | str) -> Path:
    return Path(path).expanduser().resolve()


def _absolute_source(source: Path | ZipMember) -> Source:
    if isinstance(source, ZipMember):
        return ZipMember(_absolute(source.archive), source.member)
    return _absolute(source)


def _utc(when: Datetime, item_id: str) -> Datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise InputError(
            f"item {item_id!r}: datetime {when.isoformat()} has no time zone; pass an aware "
            "datetime, e.g. datetime(2025, 3, 12, 3, 5, tzinfo=UTC)"
        )
    return when.astimezone(UTC)


def asset_path(asset: pystac.Asset) -> Path:
    """The local file of an asset whose href is a ``file://`` URI or a plain path.

    Local assets are written as ``file://`` URIs so that items served over HTTP keep
    pointing at the file rather than at a path on the server.
    """
    href = asset.href
    if href.startswith("file://"):
        return Path(urllib.parse.unquote(urllib.parse.urlparse(href).path))
    if "://" in href:
        raise InputError(f"asset {href} is not a local file; download it first")
    return Path(href)


def unreadable_assets(
    items: Sequence[pystac.Item], keys: Sequence[str] | None = None
) -> list[tuple[str, Path | str, str]]:
    """(item id, file, error) of every local raster asset that cannot be decoded fully.

    Reads every block of every band, so it is meant for the error path: to name the
    file behind a failed lazy load, not as a check before each load.
    """
    bad: list[tuple[str, Path | str, str]] = []
    for item in items:
        for key, asset in item.assets.items():
            if keys is not None and key not in keys:
                continue
            href = asset.href
            remote = href.startswith(("/vsi", "http://", "https://", "s3://"))
            path: Path | str = href if remote else asset_path(asset)
            try:
                with rasterio.open(path) as src:
                    for _, window in src.block_windows(1):
                        src.read(window=window)
            except (rasterio.errors.RasterioError, OSError) as exc:
                bad.append((item.id, path, str(exc)))
    return bad
