"""What every ``tiandi`` sub-command shares: settings, error printing, time parsing."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from tiandi.errors import InputError, TiandiError
from tiandi.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")

err = Console(stderr=True)


def friendly_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a TiandiError into one clear message and its exit code, with no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except TiandiError as exc:
            err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def load_settings() -> Settings:
    """The settings, read once; Prefect's state is kept inside tiandi's working folder."""
    from tiandi.flows.runtime import prefect_environment

    settings = Settings()
    os.environ.update(prefect_environment(settings))
    return settings


def parse_time(value: str, option: str) -> datetime:
    """An ISO 8601 time given as ``option``; without a zone it is taken as UTC."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{option} {value!r} is not an ISO 8601 time; write e.g. 2025-08-01T08:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_period(value: str, option: str) -> str:
    """A ``START/END`` period given as ``option``, checked and returned as given."""
    parts = value.split("/")
    try:
        if len(parts) != 2:
            raise ValueError
        start, end = (datetime.fromisoformat(p) for p in parts)
    except ValueError:
        raise InputError(
            f"{option} {value!r} is not a period; write it as START/END in ISO dates, "
            "e.g. 2025-01-01/2025-06-30"
        ) from None
    if end < start:
        raise InputError(f"{option} {value!r} ends before it starts; swap the two dates")
    return value
