"""tiandi._time: ISO-UTC formatting and EXIF times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image

from tiandi._time import CHINA_STANDARD_TIME, exif_datetime, iso_utc
from tiandi.errors import InputError
from tiandi.redline.field._photos import read_exif
from tiandi.redline.field.importer import ImportOptions

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


# -- EXIF times -----------------------------------------------------------------------------


def test_exif_time_uses_the_offset_tag_when_present() -> None:
    when = exif_datetime("2025:08:20 11:00:00", "+07:00", CHINA_STANDARD_TIME)
    assert when == datetime(2025, 8, 20, 4, 0, tzinfo=UTC)
    assert when is not None and when.utcoffset() == timedelta(hours=7)
    padded = exif_datetime(b"2025:08:20 11:00:00\x00", "-05:00\x00", CHINA_STANDARD_TIME)
    assert padded == datetime(2025, 8, 20, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize("offset", [None, "", "\x00", "   :  "])
def test_exif_time_without_an_offset_is_read_in_the_default_zone(offset: object) -> None:
    when = exif_datetime("2025:08:20 11:00:00", offset, CHINA_STANDARD_TIME)
    assert when == datetime(2025, 8, 20, 3, 0, tzinfo=UTC)
    assert when is not None and when.tzinfo is CHINA_STANDARD_TIME
    assert exif_datetime("2025:08:20 11:00:00", offset, UTC) == datetime(
        2025, 8, 20, 11, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("value", "offset"),
    [
        (None, "+08:00"),
        ("", None),
        ("    :  :     :  :  ", None),  # EXIF's "unknown"
        ("2025-08-20T11:00:00", None),  # ISO, not EXIF
        ("2025:13:40 11:00:00", None),
        ("yesterday", None),
        ("2025:08:20 11:00:00", "+8 hours"),
        ("2025:08:20 11:00:00", ".5"),
    ],
)
def test_a_malformed_exif_time_gives_none(value: object, offset: object) -> None:
    assert exif_datetime(value, offset, CHINA_STANDARD_TIME) is None


def test_field_photos_use_offset_time_original_else_china_standard_time(tmp_path: Path) -> None:
    def photo(offset: str | None) -> Path:
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x9003] = "2025:08:02 10:15:00"  # DateTimeOriginal
        if offset is not None:
            exif.get_ifd(0x8769)[0x9011] = offset  # OffsetTimeOriginal
        path = tmp_path / f"photo-{offset is not None}.jpg"
        Image.new("RGB", (8, 8)).save(path, format="JPEG", exif=exif.tobytes())
        return path

    assert ImportOptions().exif_timezone is CHINA_STANDARD_TIME
    _, local = read_exif(photo(None), ImportOptions().exif_timezone)
    assert local == datetime(2025, 8, 2, 2, 15, tzinfo=UTC)
    _, tagged = read_exif(photo("+06:00"), ImportOptions().exif_timezone)
    assert tagged == datetime(2025, 8, 2, 4, 15, tzinfo=UTC)
