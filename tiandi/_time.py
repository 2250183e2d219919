"""Times and periods as operators write them (ISO 8601), checked in one place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from tiandi.errors import InputError

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
