"""What every ``tiandi`` sub-command shares: settings, error printing, time parsing.

``parse_time`` and ``parse_period`` live in :mod:`tiandi._time` so that library code
validates times the same way; they are re-exported here for the CLI modules.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from tiandi._time import parse_period, parse_time
from tiandi.cli.exit_codes import exit_code
from tiandi.errors import TiandiError
from tiandi.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")

#: ``--precision`` of the commands that run a change network (tiandi.models.precision).
PrecisionOption = Annotated[
    str,
    typer.Option(
        help="Number format of a change network: float32 (the default: the training runs' "
        "numbers), bfloat16 (faster on a CPU with bfloat16 instructions, a few pixels in "
        "100,000 across the threshold) or auto (bfloat16 where the CPU has it)."
    ),
]

#: Width of output that goes to a file, a pipe or a scheduler's log rather than a terminal
#: (rich would use 80 columns and cut a table's figures to "0.…"); COLUMNS overrides it.
PIPED_WIDTH = 200


def make_console(**options: Any) -> Console:
    """A rich console for a command's output: the terminal's width, or
    :data:`PIPED_WIDTH` columns when the output is not a terminal and neither COLUMNS nor
    ``width`` is given, so tables piped to a file keep every figure whole."""
    console = Console(**options)
    if "width" not in options and not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPED_WIDTH
    return console


err = make_console(stderr=True)


def friendly_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a TiandiError into one clear message and its exit code, with no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except TiandiError as exc:
            err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
            for note in getattr(exc, "__notes__", ()):
                err.print(f"  {note}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(exit_code(exc)) from None

    return wrapper


def load_settings() -> Settings:
    """The settings, read once; Prefect's state is kept inside tiandi's working folder."""
    from tiandi.flows.runtime import prefect_environment

    settings = Settings()
    os.environ.update(prefect_environment(settings))
    return settings


__all__ = ["friendly_errors", "load_settings", "parse_period", "parse_time"]
