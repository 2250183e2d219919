"""The metadata XML of a CRESDA GF (Gaofen) L1A scene (``<ProductMetaData>``).

CRESDA (中国资源卫星应用中心) ships one XML per sensor file of a product, its root
element ``ProductMetaData`` holding flat elements; tiandi reads ``SatelliteID`` (GF1,
GF1B, GF2, GF6), ``SensorID`` (WFV, WFV1..4, PMS, PMS1, PMS2), ``StartTime`` /
``EndTime`` / ``CenterTime`` / ``ReceiveTime`` (``YYYY-MM-DD hh:mm:ss``), ``CloudPercent``,
``ImageGSD``, ``WidthInPixels`` / ``HeightInPixels``, ``Bands`` and the four image corners
``TopLeftLatitude`` / ``TopLeftLongitude`` ... ``BottomLeftLongitude``; when present the
viewing geometry ``SatelliteZenith``, ``SatelliteAzimuth``, ``SolarZenith``,
``SolarAzimuth``. Names as in the delivered files and as readers of them use them (see
``docs/gf.md`` for the sources).

CRESDA writes the times in Beijing time (UTC+08:00, no zone in the text): a GF-1 scene
taken at its 10:30 descending node over China reads ``11:xx`` in ``StartTime``, which
only Beijing time explains. They are read in :data:`tiandi._time.CHINA_STANDARD_TIME`.
Parsed with the standard library (expat 2.4+ refuses entity-expansion attacks).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime

from tiandi._time import CHINA_STANDARD_TIME
from tiandi.errors import InputError

ROOT = "ProductMetaData"
CORNERS = ("TopLeft", "TopRight", "BottomRight", "BottomLeft")
_TIMES = ("CenterTime", "StartTime", "ReceiveTime")


@dataclass(frozen=True)
class GfMetadata:
    """What tiandi needs from one sensor file's metadata, as plain values."""

    satellite: str  # "GF1", "GF2", "GF6", ...
    sensor: str  # "WFV3", "PMS1", ...
    acquired: datetime  # UTC
    cloud_cover: float | None  # %, None when not stated
    gsd: float | None  # m, ImageGSD
    width: int | None
    height: int | None
    corners: tuple[tuple[float, float], ...]  # (lon, lat): TL, TR, BR, BL
    view: dict[str, float]  # STAC view:* fields that the file states

    @property
    def centre(self) -> tuple[float, float]:
        """Mean (lon, lat) of the four corners."""
        return (
            sum(c[0] for c in self.corners) / len(self.corners),
            sum(c[1] for c in self.corners) / len(self.corners),
        )


def parse_gf_metadata(data: bytes, source: str) -> GfMetadata:
    """Parse one ``ProductMetaData`` XML; ``InputError`` naming ``source`` when unusable."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise InputError(
            f"metadata {source} is not readable XML ({exc}); the product is damaged: "
            "download it again from CRESDA"
        ) from exc
    if root.tag.rsplit("}", 1)[-1] != ROOT:
        raise InputError(
            f"metadata {source} has root <{root.tag}>, not <{ROOT}>: it is not a CRESDA GF "
            "scene's metadata; pass the product as delivered"
        )
    values = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in root}
    what = f"metadata {source}"
    satellite = _required(values, "SatelliteID", what).upper()
    sensor = _required(values, "SensorID", what).upper()
    return GfMetadata(
        satellite=satellite,
        sensor=sensor,
        acquired=_time(values, what),
        cloud_cover=_number(values, "CloudPercent", what),
        gsd=_number(values, "ImageGSD", what),
        width=_integer(values, "WidthInPixels", what),
        height=_integer(values, "HeightInPixels", what),
        corners=_corners(values, what),
        view=_view(values, what),
    )


def _required(values: dict[str, str], tag: str, what: str) -> str:
    text = values.get(tag, "")
    if not text:
        raise InputError(f"{what} lacks <{tag}>; the product is damaged: download it again")
    return text


def _number(values: dict[str, str], tag: str, what: str) -> float | None:
    text = values.get(tag, "")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(
            f"{what}: <{tag}> is {text!r}, not a number; the product is damaged: download it again"
        ) from None
    if not math.isfinite(value):
        raise InputError(f"{what}: <{tag}> is {text!r}; download the product again")
    return value


def _integer(values: dict[str, str], tag: str, what: str) -> int | None:
    value = _number(values, tag, what)
    return None if value is None else int(value)


def _time(values: dict[str, str], what: str) -> datetime:
    for tag in _TIMES:
        text = values.get(tag, "")
        if not text:
            continue
        try:
            local = datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise InputError(
                f"{what}: <{tag}> is {text!r}, not 'YYYY-MM-DD hh:mm:ss'; the product is "
                "damaged: download it again"
            ) from None
        return local.replace(tzinfo=CHINA_STANDARD_TIME).astimezone(UTC)
    raise InputError(
        f"{what} states no acquisition time (<{'>, <'.join(_TIMES)}>); the product is "
        "damaged: download it again"
    )


def _corners(values: dict[str, str], what: str) -> tuple[tuple[float, float], ...]:
    corners = []
    for name in CORNERS:
        lon = _number(values, f"{name}Longitude", what)
        lat = _number(values, f"{name}Latitude", what)
        if lon is None or lat is None or not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InputError(
                f"{what} lacks a valid <{name}Latitude>/<{name}Longitude>; the product is "
                "damaged: download it again"
            )
        corners.append((lon, lat))
    return tuple(corners)


def _view(values: dict[str, str], what: str) -> dict[str, float]:
    view: dict[str, float] = {}
    fields = {
        "SatelliteZenith": "view:incidence_angle",
        "SatelliteAzimuth": "view:azimuth",
        "SolarAzimuth": "view:sun_azimuth",
    }
    for tag, key in fields.items():
        value = _number(values, tag, what)
        if value is not None:
            view[key] = round(value, 6)
    zenith = _number(values, "SolarZenith", what)
    if zenith is not None:
        view["view:sun_elevation"] = round(90.0 - zenith, 6)
    return view
