"""Ingest GF (Gaofen) L1A products: orthorectify, pan-sharpen, write COGs, chip patches.

``ingest_gf`` writes into ``<out_dir>/<product name>/``:

- ``wfv.tif`` (WFV) or ``pan.tif`` and ``mss.tif`` (PMS): each sensor file orthorectified
  with its RPCs (:mod:`tiandi.eo.gf_ortho`) to the scene's UTM zone at the pixel size of
  the metadata's ``ImageGSD``, as COGs (uint16, no data 0, band descriptions = names);
- ``pansharpened.tif``: the MSS bands at PAN resolution, when both parts are there;
- the browse image and metadata XML of the finest part, copied;
- ``chips/<patch_id>.png`` and ``chips/index.csv`` when patches are given: the evidence
  the review page shows beside a patch (:mod:`tiandi.eo.chips`, as for UAV orthophotos).

Everything is written in a staging folder that becomes the product's folder only when
every step succeeded. It returns the STAC item (collection ``gf``) with the heights the
RPC transformer used: ``gf:rpc_height`` (metres, a constant: the one given, else the
RPC's own ``HEIGHT_OFF``, the mean height of the scene it was fitted to) or
``gf:rpc_dem`` (the DEM file). Registering it is the caller's step.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pystac
import rasterio
import rasterio.errors

from tiandi.catalog.gf import GfPart, GfProduct, band_names, gf_item, open_gf_product
from tiandi.eo.chips import Chip, read_patches, write_chips
from tiandi.eo.gf_ortho import (
    RpcHeight,
    check_dem,
    orthorectify,
    pansharpen,
    rpc_height_offset,
    utm_crs,
)
from tiandi.errors import InputError

__all__ = ["GfIngest", "check_gf_products", "ingest_gf"]


@dataclass(frozen=True, eq=False)
class GfIngest:
    """Result of :func:`ingest_gf`."""

    item: pystac.Item
    chips: tuple[Chip, ...]
    folder: Path


def check_gf_products(paths: Sequence[Path], dem: Path | None = None) -> list[GfProduct]:
    """Open every product (listing, metadata, RPC files) before anything is written."""
    if dem is not None and not Path(dem).is_file():
        raise InputError(f"DEM {dem} does not exist; pass a GeoTIFF DEM covering the scenes")
    products = [open_gf_product(Path(p)) for p in paths]
    for product in products:
        if dem is not None:
            corners = [c for part in product.parts.values() for c in part.metadata.corners]
            check_dem(Path(dem), corners, str(product.path))
    names = [p.name for p in products]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"product(s) {', '.join(twice)} were given more than once")
    return products


def ingest_gf(
    product: GfProduct,
    out_dir: Path,
    *,
    dem: Path | None = None,
    height: float | None = None,
    patches: Path | None = None,
) -> GfIngest:
    """Orthorectify (and pan-sharpen) ``product`` into ``out_dir``; see the module."""
    out_dir = Path(out_dir).expanduser().resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    polygons = read_patches(Path(patches)) if patches is not None else None
    final = out_dir / product.name
    with tempfile.TemporaryDirectory(prefix=f".{product.name}.", dir=out_dir) as tmp:
        work, stage = Path(tmp) / "work", Path(tmp) / product.name
        work.mkdir()
        stage.mkdir()
        sources = _extract(product, work)
        heights, height_props = _heights(product, sources, dem, height)
        assets = _write_images(product, sources, heights, stage, work)
        extra = _copy_extras(product, sources, stage)
        chips: list[Chip] = []
        if polygons is not None:
            key = next(k for k in ("pansharpened", "multispectral", "pan") if k in assets)
            rgb = (1, 1, 1) if key == "pan" else (3, 2, 1)
            chips = write_chips(
                assets[key][1], polygons, stage / "chips", item_id=product.name, rgb=rgb
            )
        if final.exists():
            shutil.rmtree(final)
        stage.rename(final)
    moved = {k: (kind, final / path.name) for k, (kind, path) in assets.items()}
    extra_files = {k: final / p.name for k, p in extra.items()}
    item = gf_item(product, moved, extra_files=extra_files, properties=height_props)
    if polygons is not None:
        item.add_asset(
            "chips_index",
            pystac.Asset(
                (final / "chips" / "index.csv").as_uri(),
                media_type="text/csv",
                roles=["metadata"],
                title=f"{len(chips)} patch chips",
            ),
        )
    return GfIngest(item, tuple(chips), final)


def _write_images(
    product: GfProduct, sources: dict[str, Path], heights: RpcHeight, stage: Path, work: Path
) -> dict[str, tuple[str, Path]]:
    """Orthorectified COG of every part, and the pan-sharpened one: key -> (kind, path)."""
    crs = utm_crs(*product.metadata.centre)
    assets: dict[str, tuple[str, Path]] = {}
    bands: dict[str, int] = {}
    for kind, part in sorted(product.parts.items()):
        names = _names(product, kind, sources[part.tiff])
        bands[kind] = len(names)
        target = stage / f"{kind}.tif"
        orthorectify(
            sources[part.tiff], target, crs=crs, resolution=part.metadata.gsd,
            heights=heights, names=names, work=work,
        )  # fmt: skip
        assets["multispectral" if kind in ("wfv", "mss") else "pan"] = (kind, target)
    if "pan" in product.parts and "mss" in product.parts:
        target = pansharpen(
            assets["pan"][1], assets["multispectral"][1], stage / "pansharpened.tif",
            bands=bands["mss"], work=work,
        )  # fmt: skip
        assets["pansharpened"] = ("pansharpened", target)
    return assets


def _extract(product: GfProduct, work: Path) -> dict[str, Path]:
    """Copy the members of every part out of the archive (flat names, no links)."""
    wanted = {
        name
        for part in product.parts.values()
        for name in (part.tiff, part.rpb, part.xml, part.browse)
        if name is not None
    }
    found: dict[str, Path] = {}
    try:
        with tarfile.open(product.path, "r:*") as archive:
            for member in archive:
                if member.name not in wanted or not member.isfile():
                    continue
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                target = work / Path(member.name).name
                with target.open("wb") as f:
                    shutil.copyfileobj(handle, f, 1 << 20)
                found[member.name] = target
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InputError(
            f"{product.path} could not be unpacked ({exc}); download the product again or "
            "free disk space"
        ) from exc
    return found


def _names(product: GfProduct, kind: str, tiff: Path) -> list[str]:
    try:
        with rasterio.open(tiff) as src:
            count = src.count
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(
            f"{product.parts[kind].tiff} of {product.path} is not a readable TIFF ({exc}); "
            "download the product again"
        ) from exc
    return band_names(product, kind, count)


def _heights(
    product: GfProduct, sources: dict[str, Path], dem: Path | None, height: float | None
) -> tuple[RpcHeight, dict[str, object]]:
    if dem is not None:
        dem = Path(dem).expanduser().resolve()
        return RpcHeight(dem=dem), {"gf:rpc_dem": dem.name}
    if height is None:
        part: GfPart = next(iter(product.parts.values()))
        height = rpc_height_offset(sources[part.tiff])
    return RpcHeight(height=height), {"gf:rpc_height": round(float(height), 3)}


def _copy_extras(product: GfProduct, sources: dict[str, Path], stage: Path) -> dict[str, Path]:
    part = product.parts.get("pan") or next(iter(product.parts.values()))
    extra: dict[str, Path] = {}
    for key, name in (("browse", part.browse), ("metadata", part.xml)):
        if name is not None and name in sources:
            target = stage / Path(name).name
            shutil.copyfile(sources[name], target)
            extra[key] = target
    return extra
