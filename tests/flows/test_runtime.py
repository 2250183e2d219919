"""Retries only on I/O errors."""

from __future__ import annotations

import pytest

from tiandi.errors import CatalogError, InputError
from tiandi.flows.runtime import retry_on


class _State:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error

    def result(self) -> None:
        if self.error is not None:
            raise self.error


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (OSError("disk"), True),
        (CatalogError("api down"), True),
        (InputError("bad zones"), False),
        (ValueError("bug"), False),
        (None, False),
    ],
)
def test_retry_only_on_the_given_errors(error: BaseException | None, retried: bool) -> None:
    condition = retry_on(CatalogError, OSError)
    assert condition(None, None, _State(error)) is retried


def test_periods_may_mix_dates_and_times_with_zones() -> None:
    from tiandi._time import parse_period, period_end

    assert parse_period("2025-05-17/2025-05-17T23:59:59Z", "p").endswith("Z")
    assert period_end("2025-01-01/2025-06-30").tzinfo is not None
    with pytest.raises(InputError, match="ends before it starts"):
        parse_period("2025-07-01T00:00:00Z/2025-06-30", "p")
