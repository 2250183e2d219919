"""Sentinel-2 L1C and L2A products (SAFE folders or their ``.zip``) as STAC items.

A product as the Copernicus Data Space delivers it::

    S2B_MSIL2A_20250412T030541_N0511_R075_T50TMK_20250412T061234.SAFE/
        MTD_MSIL2A.xml
        GRANULE/L2A_T50TMK_A042345_20250412T031234/IMG_DATA/
            R10m/T50TMK_20250412T030541_B04_10m.jp2   (B02 B03 B04 B08, TCI, AOT, WVP)
            R20m/T50TMK_20250412T030541_B11_20m.jp2   (B05 B06 B07 B8A B11 B12, SCL, ...)
            R60m/T50TMK_20250412T030541_B01_60m.jp2   (B01 B09, ...)

L1C keeps every band once, at its native resolution, directly in ``IMG_DATA/``
(``T50TMK_20250412T030541_B04.jp2``). :func:`safe_item` makes one item per product with
the canonical asset keys B01..B12, B8A (and SCL for L2A), each band at its native
resolution, referencing the JP2 files in place (through ``/vsizip/`` inside a zip), or
COGs converted into ``cog_dir``. Each band's ``raster:bands`` carries ``nodata`` 0,
``scale`` 1/QUANTIFICATION and ``offset`` = the product's add-offset / QUANTIFICATION, so
``DN * scale + offset`` is reflectance; the item carries ``s2:processing_baseline`` and,
for L2A, ``s2:boa_add_offset`` (the DN offset, 0 before baseline 04.00), which is what
:mod:`tiandi.eo.composite` harmonises with (the demo's items carry the same two
properties). L1C items carry ``s2:radio_add_offset`` instead.

:func:`ingest_safe` checks every product before it registers any: a missing band,
damaged metadata, an unknown baseline or a zip that is not a SAFE is one ``InputError``
naming the file, and the catalog is left as it was.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pystac
import rasterio.errors
import rasterio.shutil
from pystac.extensions.raster import RasterBand, RasterExtension
from pystac.extensions.sat import SatExtension

from tiandi._io import atomic_path
from tiandi.catalog._bands import SCL_ASSET, SENTINEL2_BANDS
from tiandi.catalog._files import (
    Source,
    ZipMember,
    file_size_and_checksum,
    href_of,
    read_raster_header,
)
from tiandi.catalog._safe_xml import BAND_IDS, SafeMetadata, parse_metadata
from tiandi.catalog.items import item_from_rasters
from tiandi.catalog.register import Registrar
from tiandi.errors import InputError

__all__ = [
    "L1C_COLLECTION",
    "L2A_COLLECTION",
    "SafeProduct",
    "find_products",
    "ingest_safe",
    "open_safe",
    "safe_item",
]

L2A_COLLECTION = "sentinel-2-l2a"
L1C_COLLECTION = "sentinel-2-l1c"
L2A_BANDS = (*(b for b in BAND_IDS if b != "B10"), SCL_ASSET)
L1C_BANDS = BAND_IDS
_METADATA = {"MTD_MSIL2A.xml": "L2A", "MTD_MSIL1C.xml": "L1C"}
_NATIVE = {**{b: round(s.resolution) for b, s in SENTINEL2_BANDS.items()}, SCL_ASSET: 20}
_IMAGE = re.compile(
    r"^GRANULE/(?P<granule>[^/]+)/IMG_DATA/(?:R(?:10|20|60)m/)?"
    r"T\d{2}[A-Z]{3}_\d{8}T\d{6}_(?P<band>B\d{2}|B8A|SCL)(?:_(?P<res>10|20|60)m)?\.jp2$"
)
_ZIP_MTD = re.compile(r"^(?P<root>[^/]+\.SAFE)/(?P<name>MTD_MSIL(?:1C|2A)\.xml)$")


@dataclass(frozen=True)
class SafeProduct:
    """One Sentinel-2 product: where it lies, its metadata and its band files."""

    path: Path  # the .SAFE folder or the .zip
    metadata: SafeMetadata
    metadata_file: Source
    bands: Mapping[str, Source]  # canonical key (B01..B12, B8A, SCL) -> JP2 file


def find_products(paths: Iterable[Path]) -> list[Path]:
    """The products named by ``paths``: SAFE folders, their zips, or folders holding them.

    Raises ``InputError`` for a path that does not exist or a folder with no product.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if not path.exists():
            raise InputError(f"Sentinel-2 product {path} does not exist; check the path")
        if path.is_file() or any((path / name).is_file() for name in _METADATA):
            found.append(path)
            continue
        inside = sorted(p for p in path.iterdir() if p.suffix in (".SAFE", ".zip"))
        if not inside:
            raise InputError(
                f"{path} is neither a Sentinel-2 product (no MTD_MSIL1C.xml or "
                "MTD_MSIL2A.xml in it) nor a folder of products (*.SAFE, *.zip); pass the "
                ".SAFE folders or .zip files as downloaded"
            )
        found.extend(inside)
    return found


def open_safe(path: Path) -> SafeProduct:
    """Read a product's metadata and find its band files; ``InputError`` naming what is wrong."""
    path = Path(path).expanduser().resolve()
    metadata_file: Source
    if path.is_dir():
        mtd = next((path / n for n in _METADATA if (path / n).is_file()), None)
        if mtd is None:
            raise InputError(
                f"{path} has no MTD_MSIL1C.xml or MTD_MSIL2A.xml, so it is not a Sentinel-2 "
                "SAFE product; pass the .SAFE folder or .zip as downloaded"
            )
        names = [p.relative_to(path).as_posix() for p in path.rglob("*.jp2")]
        metadata_file, data = mtd, mtd.read_bytes()
        locate: Callable[[str], Source] = lambda rel: path / rel  # noqa: E731
    else:
        names, root, metadata_file, data = _read_zip(path)
        locate = lambda rel: ZipMember(path, f"{root}/{rel}")  # noqa: E731
    metadata = parse_metadata(data, str(metadata_file))
    expected = _METADATA[Path(str(metadata_file)).name]
    if metadata.level != expected:
        raise InputError(
            f"{metadata_file} describes a {metadata.level} product but is named for "
            f"{expected}; the product is inconsistent: download it again"
        )
    bands = _band_files(names, metadata, path)
    return SafeProduct(path, metadata, metadata_file, {k: locate(v) for k, v in bands.items()})


def safe_item(
    product: SafeProduct, *, collection: str | None = None, cog_dir: Path | None = None
) -> pystac.Item:
    """One STAC item for ``product``: canonical band keys, ``proj``/``raster``/``eo``.

    Bands are referenced in place, or converted to COGs under ``cog_dir/<item id>/``.
    """
    meta = product.metadata
    sources: Mapping[str, Path | ZipMember] = product.bands
    if cog_dir is not None:
        sources = _to_cogs(product, Path(cog_dir).expanduser().resolve() / meta.item_id)
    default = L2A_COLLECTION if meta.level == "L2A" else L1C_COLLECTION
    item = item_from_rasters(
        meta.item_id,
        sources,
        datetime=meta.sensing_time,
        collection=collection or default,
        properties=_properties(meta),
    )
    for key, asset in item.assets.items():
        _set_radiometry(asset, key, meta)
    if meta.relative_orbit is not None:
        SatExtension.ext(item, add_if_missing=True).relative_orbit = meta.relative_orbit
    size, checksum = file_size_and_checksum(product.metadata_file)
    item.add_asset(
        "product_metadata",
        pystac.Asset(
            href=href_of(product.metadata_file),
            media_type="application/xml",
            roles=["metadata"],
            extra_fields={"file:size": size, "file:checksum": checksum},
        ),
    )
    return item


def ingest_safe(
    paths: Sequence[Path],
    registrar: Registrar,
    *,
    collection: str | None = None,
    cog_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[pystac.Item]:
    """Register one item per product found in ``paths``; all products are checked first.

    Nothing is registered unless every product is complete and readable. Returns the
    items registered, oldest first.
    """
    products = [open_safe(p) for p in find_products(paths)]
    ids = [p.metadata.item_id for p in products]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise InputError(
            f"product(s) {', '.join(twice)} were given more than once (a .SAFE folder and "
            "its .zip?); pass each product once"
        )
    for product in products:
        for source in product.bands.values():
            read_raster_header(source)  # every band opens before anything is written
    items = []
    for product in products:
        items.append(safe_item(product, collection=collection, cog_dir=cog_dir))
        if progress is not None:
            progress(f"{product.metadata.item_id}: {len(product.bands)} bands")
    items.sort(key=lambda i: (i.datetime.isoformat() if i.datetime else "", i.id))
    registrar.register(items)
    return items


def _read_zip(path: Path) -> tuple[list[str], str, ZipMember, bytes]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            found = [m for m in map(_ZIP_MTD.match, names) if m is not None]
            if len(found) != 1:
                raise InputError(
                    f"{path} is not a Sentinel-2 product: it holds no single "
                    "<name>.SAFE/MTD_MSIL1C.xml or MTD_MSIL2A.xml; pass the .zip as "
                    "downloaded from the Copernicus Data Space, or its unzipped .SAFE folder"
                )
            root = found[0].group("root")
            data = archive.read(found[0].group(0))
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(
            f"{path} is not a readable zip file ({exc}); pass a .SAFE folder or the .zip "
            "of one as downloaded, or download it again"
        ) from exc
    prefix = f"{root}/"
    inner = [n.removeprefix(prefix) for n in names if n.startswith(prefix)]
    return inner, root, ZipMember(path, found[0].group(0)), data


def _band_files(names: Iterable[str], meta: SafeMetadata, product: Path) -> dict[str, str]:
    """Canonical key -> relative path of each band at its native resolution."""
    wanted = L2A_BANDS if meta.level == "L2A" else L1C_BANDS
    granules: set[str] = set()
    bands: dict[str, str] = {}
    for name in sorted(names):
        match = _IMAGE.match(name)
        if match is None:
            continue
        granules.add(match.group("granule"))
        band, res = match.group("band"), match.group("res")
        if band in wanted and (res is None or int(res) == _NATIVE[band]):
            bands[band] = name
    if len(granules) > 1:
        raise InputError(
            f"{product} holds {len(granules)} granules; only single-tile products (the "
            "compact SAFE naming used since December 2016) can be ingested"
        )
    missing = [b for b in wanted if b not in bands]
    if missing:
        where = "IMG_DATA/R<res>m/T*_<band>_<res>m.jp2" if meta.level == "L2A" else "IMG_DATA/"
        raise InputError(
            f"{product} lacks band(s) {', '.join(missing)} ({where} under GRANULE/); the "
            "download is incomplete: download the product again (nothing was registered)"
        )
    return bands


def _properties(meta: SafeMetadata) -> dict[str, object]:
    props: dict[str, object] = {
        "platform": meta.platform,
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "s2:processing_baseline": meta.baseline,
        "s2:product_uri": meta.product_uri,
        "s2:product_type": meta.product_type,
        "s2:mgrs_tile": meta.tile,
    }
    props["s2:boa_add_offset" if meta.level == "L2A" else "s2:radio_add_offset"] = meta.offset
    if meta.cloud_cover is not None:
        props["eo:cloud_cover"] = meta.cloud_cover
    return props


def _set_radiometry(asset: pystac.Asset, key: str, meta: SafeMetadata) -> None:
    raster = RasterExtension.ext(asset, add_if_missing=True)
    old = (raster.bands or [RasterBand.create()])[0]
    band = RasterBand.create(
        data_type=old.data_type, nodata=0, spatial_resolution=old.spatial_resolution
    )
    if key != SCL_ASSET:
        band.scale = 1.0 / meta.quantification
        band.offset = meta.offsets.get(key, 0) / meta.quantification
    raster.bands = [band]


def _to_cogs(product: SafeProduct, folder: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for key, source in product.bands.items():
        target = folder / f"{key}.tif"
        resampling = "NEAREST" if key == SCL_ASSET else "AVERAGE"
        try:
            with atomic_path(target) as tmp:
                rasterio.shutil.copy(
                    str(source), tmp, driver="COG", COMPRESS="DEFLATE", PREDICTOR="2",
                    BLOCKSIZE="512", OVERVIEW_RESAMPLING=resampling,
                )  # fmt: skip
        except (rasterio.errors.RasterioError, OSError) as exc:
            raise InputError(
                f"band {key} of {product.path} ({source}) cannot be converted to a COG in "
                f"{folder} ({exc}); check free disk space and the band file"
            ) from exc
        out[key] = target
    return out
