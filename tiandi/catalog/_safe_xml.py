"""The product metadata of a Sentinel-2 SAFE (``MTD_MSIL1C.xml``, ``MTD_MSIL2A.xml``).

Element names are those ESA writes (PSD 14/15): ``Product_Info/PRODUCT_START_TIME``,
``PRODUCT_URI``, ``PROCESSING_BASELINE``, ``Datatake/SPACECRAFT_NAME``,
``SENSING_ORBIT_NUMBER``; ``Product_Image_Characteristics`` with ``QUANTIFICATION_VALUE``
and ``Radiometric_Offset_List/RADIO_ADD_OFFSET`` (L1C) or
``QUANTIFICATION_VALUES_LIST/BOA_QUANTIFICATION_VALUE`` and
``BOA_ADD_OFFSET_VALUES_LIST/BOA_ADD_OFFSET`` (L2A), one offset per ``band_id`` 0..12
(B1..B8, B8A, B9..B12); ``Quality_Indicators_Info/Cloud_Coverage_Assessment``.
Namespace prefixes (``n1:``) are ignored. Parsed with the standard library (expat 2.4+
refuses entity-expansion attacks).

Processing baselines: 02.xx and 03.xx carry no offset; from 04.00 (2022-01-25) every band
has ``DN = 10000 * reflectance + 1000`` and the metadata states the offset (-1000) per
band. A baseline outside 02.00..05.99 is refused: its offset convention is not known.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from tiandi.errors import InputError

BAND_IDS = (
    "B01",
    "B02",
    "B03",
    "B04",
    "B05",
    "B06",
    "B07",
    "B08",
    "B8A",
    "B09",
    "B10",
    "B11",
    "B12",
)
"""Band names in the order of ESA's ``band_id``/``bandId`` 0..12."""
KNOWN_MAJORS = (2, 3, 4, 5)
OFFSET_SINCE = (4, 0)
QUANTIFICATION = 10000.0
_ROOTS = {"Level-1C_User_Product": "L1C", "Level-2A_User_Product": "L2A"}
_OFFSET_TAGS = {"L1C": "RADIO_ADD_OFFSET", "L2A": "BOA_ADD_OFFSET"}
_QUANT_TAGS = {"L1C": "QUANTIFICATION_VALUE", "L2A": "BOA_QUANTIFICATION_VALUE"}
_BASELINE = re.compile(r"^(\d{2})\.(\d{2})$")
_TILE = re.compile(r"_T(\d{2}[A-Z]{3})_")


@dataclass(frozen=True)
class SafeMetadata:
    """What tiandi needs from a product's metadata file, as plain values."""

    level: str  # "L1C" or "L2A"
    product_uri: str  # e.g. S2B_MSIL2A_20250412T030541_N0511_R075_T50TMK_20250412T061234.SAFE
    product_type: str  # S2MSI1C or S2MSI2A
    spacecraft: str  # Sentinel-2A, -2B, -2C
    sensing_time: datetime  # UTC
    baseline: str  # "05.11"
    tile: str  # MGRS tile, e.g. "50TMK"
    relative_orbit: int | None
    cloud_cover: float | None  # %, None when the file does not state it
    quantification: float
    offsets: Mapping[str, int]  # DN offset per band; empty before baseline 04.00

    @property
    def item_id(self) -> str:
        """The product name without ``.SAFE``."""
        return self.product_uri.removesuffix(".SAFE")

    @property
    def platform(self) -> str:
        """STAC ``platform``: "sentinel-2a", "sentinel-2b", ..."""
        return self.spacecraft.lower()

    @property
    def offset(self) -> int:
        """The one DN offset of every band (0 when the product states none)."""
        return next(iter(self.offsets.values()), 0)


def parse_metadata(data: bytes, source: str) -> SafeMetadata:
    """Parse the bytes of ``MTD_MSIL1C.xml``/``MTD_MSIL2A.xml``; ``source`` names the file.

    Raises ``InputError`` naming ``source`` when the XML is not well formed, lacks an
    element tiandi needs, or states a processing baseline or quantification tiandi does
    not know.
    """
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise InputError(
            f"product metadata {source} is not well-formed XML ({exc}); the product is "
            "damaged or incomplete: download it again"
        ) from None
    level = _ROOTS.get(_local(root.tag))
    if level is None:
        raise InputError(
            f"{source} is not Sentinel-2 product metadata (root element "
            f"{_local(root.tag)!r}, expected Level-1C_User_Product or Level-2A_User_Product)"
        )
    baseline = _text(root, "PROCESSING_BASELINE", source)
    product_uri = _text(root, "PRODUCT_URI", source)
    _check_baseline(baseline, source)
    tile = _TILE.search(product_uri)
    if tile is None:
        raise InputError(
            f"product metadata {source}: PRODUCT_URI {product_uri!r} names no MGRS tile "
            "(_Tnnxxx_); this is not a single-tile (compact) Sentinel-2 product"
        )
    return SafeMetadata(
        level=level,
        product_uri=product_uri if product_uri.endswith(".SAFE") else f"{product_uri}.SAFE",
        product_type=_text(root, "PRODUCT_TYPE", source),
        spacecraft=_text(root, "SPACECRAFT_NAME", source),
        sensing_time=_time(_text(root, "PRODUCT_START_TIME", source), source),
        baseline=baseline,
        tile=tile.group(1),
        relative_orbit=_optional_int(_find(root, "SENSING_ORBIT_NUMBER")),
        cloud_cover=_cloud(root, source),
        quantification=_quantification(root, level, source),
        offsets=_offsets(root, level, baseline, source),
    )


def baseline_tuple(text: str) -> tuple[int, int]:
    """ "05.11" -> (5, 11); ``ValueError`` when it is not NN.NN."""
    match = _BASELINE.match(text)
    if match is None:
        raise ValueError(text)
    return int(match.group(1)), int(match.group(2))


def _check_baseline(baseline: str, source: str) -> None:
    try:
        major, _ = baseline_tuple(baseline)
    except ValueError:
        major = -1
    if major not in KNOWN_MAJORS:
        raise InputError(
            f"product metadata {source}: processing baseline {baseline!r} is not one tiandi "
            "knows (02.00 to 05.xx), so its radiometric offset cannot be assumed; check the "
            "product, or update tiandi to a version that knows this baseline"
        )


def _offsets(root: ET.Element, level: str, baseline: str, source: str) -> dict[str, int]:
    tag = _OFFSET_TAGS[level]
    found: dict[str, int] = {}
    for element in root.iter():
        if _local(element.tag) != tag:
            continue
        try:
            band = BAND_IDS[int(element.get("band_id", ""))]
            found[band] = round(float(element.text or ""))
        except (ValueError, IndexError):
            raise InputError(
                f"product metadata {source}: {tag} band_id={element.get('band_id')!r} "
                f"value {element.text!r} is not a band 0..12 with a number; the file is damaged"
            ) from None
    if not found and baseline_tuple(baseline) >= OFFSET_SINCE:
        raise InputError(
            f"product metadata {source}: baseline {baseline} products state {tag} per band, "
            "but the file has none; the metadata is incomplete: download the product again"
        )
    if found and (set(found) != set(BAND_IDS) or len(set(found.values())) != 1):
        raise InputError(
            f"product metadata {source}: {tag} must give one offset for each of the 13 bands, "
            f"the same for all (found {found}); tiandi harmonises one offset per product"
        )
    return {band: found[band] for band in BAND_IDS} if found else {}


def _quantification(root: ET.Element, level: str, source: str) -> float:
    tag = _QUANT_TAGS[level]
    text = _text(root, tag, source)
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if value != QUANTIFICATION:
        raise InputError(
            f"product metadata {source}: {tag} is {text!r}; tiandi reads reflectance as "
            f"DN / {QUANTIFICATION:g} and cannot use this product as it is"
        )
    return value


def _cloud(root: ET.Element, source: str) -> float | None:
    element = _find(root, "Cloud_Coverage_Assessment")
    if element is None or not (element.text or "").strip():
        return None
    try:
        value = float(element.text or "")
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 100.0:
        raise InputError(
            f"product metadata {source}: Cloud_Coverage_Assessment {element.text!r} is not a "
            "percentage; the file is damaged"
        )
    return round(value, 4)


def _time(text: str, source: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"product metadata {source}: PRODUCT_START_TIME {text!r} is not an ISO 8601 time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # ESA times are UTC
    return moment.astimezone(UTC)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(root: ET.Element, name: str) -> ET.Element | None:
    return next((e for e in root.iter() if _local(e.tag) == name), None)


def _text(root: ET.Element, name: str, source: str) -> str:
    element = _find(root, name)
    text = None if element is None else (element.text or "").strip()
    if not text:
        raise InputError(
            f"product metadata {source} has no {name}; the file is incomplete or not ESA "
            "product metadata: download the product again"
        )
    return text


def _optional_int(element: ET.Element | None) -> int | None:
    try:
        return None if element is None else int((element.text or "").strip())
    except ValueError:
        return None
