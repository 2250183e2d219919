"""Times and periods as operators write them (ISO 8601), checked in one place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Literal

from tiandi.errors import InputError

#: UTC+08:00, the time zone of all of China: what phones and UAVs there record when their
#: files carry no offset tag.
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")

_ISO_FORMATS = {
    "seconds": "%Y-%m-%dT%H:%M:%SZ",
    "microseconds": "%Y-%m-%dT%H:%M:%S.%fZ",
}


def parse_time(value: str, option: str) -> datetime:
    """An ISO 8601 time given as ``option``; without a zone it is taken as UTC."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{option} {value!r} is not an ISO 8601 time; write e.g. 2025-08-01T08:00:00Z"
        ) from None
    return _aware(moment)


def parse_period(value: str, option: str) -> str:
    """A ``START/END`` period given as ``option``, checked and returned as given."""
    parts = value.split("/")
    try:
        if len(parts) != 2:
            raise ValueError
        start, end = (_aware(datetime.fromisoformat(p.replace("Z", "+00:00"))) for p in parts)
    except ValueError:
        raise InputError(
            f"{option} {value!r} is not a period; write it as START/END in ISO dates, "
            "e.g. 2025-01-01/2025-06-30"
        ) from None
    if end < start:
        raise InputError(f"{option} {value!r} ends before it starts; swap the two dates")
    return value


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def period_end(value: str) -> datetime:
    """The end of a ``START/END`` period (checked), as an aware time (UTC if none)."""
    end = parse_period(value, "period").split("/")[1]
    return _aware(datetime.fromisoformat(end.replace("Z", "+00:00")))


def iso_utc(
    at: datetime,
    *,
    timespec: Literal["seconds", "microseconds"] = "seconds",
    what: str = "time",
) -> str:
    """``at`` as ISO 8601 in UTC with a ``Z``: ``2025-08-01T00:00:00Z``, or with
    ``timespec="microseconds"`` ``2025-08-01T00:00:00.000000Z`` (the format of the audit
    log and the patch store).

    Raises :class:`InputError` for a naive time (its zone is unknown), naming ``what``.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise InputError(
            f"{what} {at.isoformat()} has no timezone; pass an aware datetime "
            "(e.g. with tzinfo=UTC)"
        )
    return at.astimezone(UTC).strftime(_ISO_FORMATS[timespec])


def exif_datetime(value: object, offset: object, default_tz: tzinfo) -> datetime | None:
    """An EXIF/TIFF time (``YYYY:MM:DD HH:MM:SS``: DateTimeOriginal, DateTime,
    ``TIFFTAG_DATETIME``) as an aware datetime.

    ``offset`` is the matching EXIF offset tag (OffsetTimeOriginal for DateTimeOriginal,
    OffsetTime for DateTime), e.g. ``+08:00``. When it is absent or blank (EXIF writes
    ``"   :  "`` for an unknown offset), the time is taken in ``default_tz``: cameras
    record local time and most write no offset, so the caller passes the zone its
    devices are in (:data:`CHINA_STANDARD_TIME` for phones and UAVs in China).

    None when ``value`` is absent, blank or not an EXIF time, or when ``offset`` is
    malformed: the callers treat the time as unknown (and ask for it where they need it).
    """
    text = _tag_text(value)
    if not text:
        return None
    try:
        moment = datetime.strptime(text, "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    zone = _tag_text(offset)
    if not zone.replace(":", "").strip():
        return moment.replace(tzinfo=default_tz)
    try:
        aware = datetime.fromisoformat(moment.isoformat() + zone)
    except ValueError:
        return None
    return aware if aware.tzinfo is not None else None


def _tag_text(value: object) -> str:
    """A tag value as text without the NULs and blanks EXIF pads it with."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    return str(value).strip("\x00 ")
