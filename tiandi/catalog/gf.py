"""Chinese GF (Gaofen) L1A products as CRESDA delivers them, and their STAC items.

A product is one ``.tar.gz`` named after the scene, holding per sensor file a TIFF, its
RPC coefficients (``.rpb``, the text format GDAL reads beside a TIFF), the metadata XML
(:mod:`tiandi.catalog._gf_xml`), a browse image (``.jpg``) and a thumbnail
(``_thumb.jpg``)::

    GF1_WFV3_E115.8_N29.7_20170813_L1A0002546040.tar.gz
        GF1_WFV3_E115.8_N29.7_20170813_L1A0002546040.tiff / .rpb / .xml / .jpg / _thumb.jpg
    GF2_PMS1_E113.5_N23.0_20180103_L1A0002901234.tar.gz
        GF2_PMS1_E113.5_N23.0_20180103_L1A0002901234-PAN1.tiff / .rpb / .xml / .jpg / ...
        GF2_PMS1_E113.5_N23.0_20180103_L1A0002901234-MSS1.tiff / .rpb / .xml / .jpg / ...

WFV (GF-1, GF-6; 16 m) has one multispectral file; PMS (GF-1, GF-2, GF-6) a panchromatic
(``-PAN``) and a multispectral (``-MSS``; ``-MUX`` on GF-1B/C/D) file.
:func:`open_gf_product` reads the archive's listing and metadata and checks that every
TIFF has its ``.rpb`` and XML before anything is written; :func:`gf_item` describes the
orthorectified COGs as one item of collection ``gf`` (``eo``, ``proj``, ``raster``,
``view`` where known).
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pystac
from pystac.extensions.eo import Band, EOExtension
from pystac.extensions.view import ViewExtension

from tiandi.catalog._gf_xml import GfMetadata, parse_gf_metadata
from tiandi.catalog.items import item_from_rasters
from tiandi.errors import InputError

__all__ = [
    "GF_COLLECTION",
    "GfPart",
    "GfProduct",
    "band_names",
    "gf_item",
    "open_gf_product",
]

GF_COLLECTION = "gf"
_MEMBER = re.compile(
    r"^(?P<stem>GF\d[A-Z]?_[A-Z]+\d?_[^/]*?)(?:-(?P<part>PAN|MSS|MUX)\d?)?"
    r"(?P<suffix>\.tiff?|\.rpb|\.xml|_thumb\.jpg|\.jpg)$",
    re.IGNORECASE,
)
_PLATFORMS = {"GF1": "gf-1", "GF1B": "gf-1b", "GF1C": "gf-1c", "GF1D": "gf-1d"}
_PLATFORMS |= {"GF2": "gf-2", "GF6": "gf-6"}
#: (common name, centre wavelength µm, FWHM µm) of the multispectral bands in file order.
_MSS = (
    ("blue", 0.485, 0.07),
    ("green", 0.555, 0.07),
    ("red", 0.66, 0.06),
    ("nir", 0.83, 0.12),
)
#: GF-6 WFV's four further bands (files 5..8): two red edges, "purple" and yellow.
_GF6_EXTRA = (
    ("rededge", 0.71, 0.04),
    ("rededge", 0.75, 0.04),
    ("coastal", 0.425, 0.05),
    ("yellow", 0.61, 0.04),
)
_PAN = ("pan", 0.675, 0.45)


@dataclass(frozen=True)
class GfPart:
    """One sensor file of a product: ``kind`` is "wfv", "pan" or "mss"; names are members."""

    kind: str
    tiff: str
    rpb: str
    xml: str
    browse: str | None
    metadata: GfMetadata


@dataclass(frozen=True)
class GfProduct:
    """A GF product archive: its name (the item id), platform, instrument and parts."""

    path: Path
    name: str
    platform: str  # STAC platform, "gf-2"
    instrument: str  # "wfv" or "pms"
    parts: Mapping[str, GfPart] = field(default_factory=dict)

    @property
    def metadata(self) -> GfMetadata:
        """The metadata of the finest part (PAN before MSS)."""
        for kind in ("pan", "mss", "wfv"):
            if kind in self.parts:
                return self.parts[kind].metadata
        raise InputError(f"GF product {self.path} has no sensor file")


def open_gf_product(path: Path) -> GfProduct:
    """Read a product's listing and metadata; ``InputError`` naming what is wrong."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise InputError(f"GF product {path} does not exist; pass the .tar.gz as delivered")
    groups, xml_bytes = _read_archive(path)
    if not groups:
        raise InputError(
            f"{path} is not a GF product: it holds no GF<n>_<sensor>_..._L1A<id>.tiff "
            "(with .rpb, .xml and .jpg); pass a GF-1/GF-2/GF-6 L1A .tar.gz as CRESDA "
            "delivers it"
        )
    parts = {kind: _part(path, kind, names, xml_bytes) for kind, names in groups.items()}
    meta = next(iter(parts.values())).metadata
    platform = _PLATFORMS.get(meta.satellite)
    if platform is None:
        raise InputError(
            f"{path}: satellite {meta.satellite!r} is not one tiandi reads (GF1, GF1B-D, GF2, GF6)"
        )
    instrument = "wfv" if "wfv" in parts else "pms"
    return GfProduct(path, _product_name(path), platform, instrument, parts)


def _product_name(path: Path) -> str:
    name = path.name
    for suffix in (".tar.gz", ".tgz", ".tar"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _read_archive(path: Path) -> tuple[dict[str, dict[str, str]], dict[str, bytes]]:
    """Members by part kind and suffix; the bytes of every XML member."""
    groups: dict[str, dict[str, str]] = {}
    xml_bytes: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                if not member.isfile():
                    continue
                match = _MEMBER.match(member.name.rsplit("/", 1)[-1])
                if match is None:
                    continue
                kind = _kind(match.group("part"), match.group("stem"))
                suffix = match.group("suffix").lower()
                suffix = ".tiff" if suffix == ".tif" else suffix
                groups.setdefault(kind, {})[suffix] = member.name
                if suffix == ".xml":
                    handle = archive.extractfile(member)
                    xml_bytes[member.name] = handle.read() if handle is not None else b""
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InputError(
            f"{path} is not a readable .tar.gz ({exc}); pass a GF product as delivered, or "
            "download it again"
        ) from exc
    return {k: v for k, v in groups.items() if ".tiff" in v}, xml_bytes


def _kind(part: str | None, stem: str) -> str:
    """ "pan", "mss" (``-MSS``, or ``-MUX`` as GF-1B/C/D name it) or "wfv"."""
    if part is not None:
        return "pan" if part.upper() == "PAN" else "mss"
    return "wfv" if "_WFV" in stem.upper() else "mss"


def _part(path: Path, kind: str, names: dict[str, str], xml_bytes: dict[str, bytes]) -> GfPart:
    tiff = names[".tiff"]
    if ".rpb" not in names:
        rpb = tiff.rsplit(".", 1)[0] + ".rpb"
        raise InputError(
            f"GF product {path} has no RPC file for {tiff} (expected {rpb}): without RPCs "
            "it cannot be orthorectified. Use the L1A product as CRESDA delivers it (each "
            ".tiff with its .rpb), or add the .rpb to the archive; a product that is already "
            "orthorectified (L2/L4) goes in with `tiandi catalog register`. Nothing was "
            "registered."
        )
    if ".xml" not in names:
        raise InputError(
            f"GF product {path} has no metadata XML for {tiff}; the product is incomplete: "
            "download it again"
        )
    metadata = parse_gf_metadata(xml_bytes[names[".xml"]], f"{path}:{names['.xml']}")
    return GfPart(kind, tiff, names[".rpb"], names[".xml"], names.get(".jpg"), metadata)


def band_names(product: GfProduct, kind: str, count: int) -> list[str]:
    """Names of a part's bands in file order (``InputError`` when the count is unexpected)."""
    if kind == "pan":
        names = ["pan"]
    else:
        table = _bands(product, kind)
        names = [n if n != "rededge" else f"rededge{i - 3}" for i, (n, _, _) in enumerate(table)]
    if count != len(names):
        raise InputError(
            f"{product.parts[kind].tiff} of {product.path} has {count} band(s); a "
            f"{product.platform} {kind.upper()} file has {len(names)} ({', '.join(names)}). "
            "The product is damaged or not L1A: download it again"
        )
    return names


def _bands(product: GfProduct, kind: str) -> tuple[tuple[str, float, float], ...]:
    if kind == "pan":
        return (_PAN,)
    if product.platform == "gf-6" and kind == "wfv":
        return _MSS + _GF6_EXTRA
    return _MSS


def gf_item(
    product: GfProduct,
    assets: Mapping[str, tuple[str, Path]],
    *,
    extra_files: Mapping[str, Path] | None = None,
    properties: Mapping[str, Any] | None = None,
) -> pystac.Item:
    """The item of ``product``'s COGs: ``assets`` maps key -> (part kind, COG path).

    ``extra_files`` (browse image, metadata XML) are added as overview/metadata assets.
    """
    meta = product.metadata
    gsd = min((p.metadata.gsd for p in product.parts.values() if p.metadata.gsd), default=None)
    props: dict[str, Any] = {
        "platform": product.platform,
        "constellation": "gaofen",
        "instruments": [product.instrument],
        "gf:sensor": meta.sensor,
        **dict(properties or {}),
    }
    if gsd is not None:
        props["gsd"] = gsd
    if meta.cloud_cover is not None:
        props["eo:cloud_cover"] = meta.cloud_cover
    item = item_from_rasters(
        product.name,
        {key: path for key, (_, path) in assets.items()},
        datetime=meta.acquired,
        collection=GF_COLLECTION,
        properties=props,
    )
    for key, (kind, _) in assets.items():
        _set_eo_bands(item.assets[key], product, "mss" if kind == "pansharpened" else kind)
    if meta.view:
        view = ViewExtension.ext(item, add_if_missing=True)
        view.apply(**{k.removeprefix("view:"): v for k, v in meta.view.items()})
    for key, path in (extra_files or {}).items():
        role = "overview" if path.suffix.lower() == ".jpg" else "metadata"
        media = "image/jpeg" if role == "overview" else "application/xml"
        item.add_asset(key, pystac.Asset(path.resolve().as_uri(), media_type=media, roles=[role]))
    return item


def _set_eo_bands(asset: pystac.Asset, product: GfProduct, kind: str) -> None:
    table = _bands(product, kind)
    names = [n if n != "rededge" else f"rededge{i - 3}" for i, (n, _, _) in enumerate(table)]
    EOExtension.ext(asset, add_if_missing=True).bands = [
        Band.create(
            name=name,
            common_name=common,
            center_wavelength=centre,
            full_width_half_max=fwhm,
        )
        for name, (common, centre, fwhm) in zip(names, table, strict=True)
    ]
