"""tiandi._time: ISO-UTC formatting and EXIF times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tiandi._time import iso_utc
from tiandi.errors import InputError

CST = timezone(timedelta(hours=8))


def test_iso_utc_converts_to_utc_with_a_z() -> None:
    at = datetime(2025, 8, 1, 8, 0, 5, 123456, tzinfo=CST)
    assert iso_utc(at) == "2025-08-01T00:00:05Z"
    assert iso_utc(at, timespec="microseconds") == "2025-08-01T00:00:05.123456Z"
    assert iso_utc(datetime(2025, 8, 1, tzinfo=UTC)) == "2025-08-01T00:00:00Z"


def test_iso_utc_refuses_a_naive_time_and_names_it() -> None:
    with pytest.raises(InputError, match="audit time 2025-08-01T08:00:00 has no timezone"):
        iso_utc(datetime(2025, 8, 1, 8, 0), what="audit time")
    with pytest.raises(InputError, match="pass an aware datetime"):
        iso_utc(datetime(2025, 8, 1, 8, 0))
