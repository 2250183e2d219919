"""The log file of flow runs started from the command line, and a quiet terminal on failure.

Prefect logs a failed task or flow with its full Python traceback on the terminal (its
console handler on the root logger). For a user error (a
:class:`~tiandi.errors.TiandiError`: no items, a bad file, a missing band) that buries the
one line that matters. Inside :func:`flow_log`:

- every log record (Prefect's run logs, warnings of any library) is also written, with
  its traceback, to ``settings.flow_log_path`` (``<home>/logs/flows.log``, rotated at
  10 MB, three old files kept);
- records that carry a traceback, Prefect's own ERROR records and its "Finished in state
  Failed(...)" lines are kept off the terminal (they are in the file); other INFO and
  WARNING lines still show;
- a ``TiandiError`` leaving the block is written to the file with its traceback and gets
  a note naming the file, which the CLI prints after the message.

An exception that is not a ``TiandiError`` (a bug) propagates unchanged with its traceback.
"""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tiandi.errors import TiandiError
from tiandi.settings import Settings

__all__ = ["flow_log"]

_FORMAT = "%(asctime)s | %(levelname)-7s | %(name)s - %(message)s"
_logger = logging.getLogger("tiandi.flows")
_MAX_BYTES = 10 * 1024 * 1024  # then flows.log.1 … .3


class _QuietConsole(logging.Filter):
    """Keep tracebacks and Prefect's ERROR lines off the terminal (they go to the file)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info or record.exc_text:
            return False
        if not record.name.startswith("prefect"):
            return True
        failed = str(record.msg).startswith("Finished in state") and "Failed" in record.getMessage()
        return record.levelno < logging.ERROR and not failed


def _console_handlers() -> list[logging.Handler]:
    """The terminal handlers of the root logger (Prefect's console handler)."""
    return [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]


@contextmanager
def flow_log(settings: Settings) -> Iterator[Path]:
    """Log to ``settings.flow_log_path`` and keep tracebacks off the terminal for a block.

    Yields the log file's path. A ``TiandiError`` raised in the block is logged there with
    its traceback and re-raised with a note ``full trace: <path>``.
    """
    path = settings.flow_log_path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=_MAX_BYTES, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(_FORMAT))
    root = logging.getLogger()
    quiet = _QuietConsole()
    consoles = _console_handlers()
    root.addHandler(handler)
    for console in consoles:
        console.addFilter(quiet)
    try:
        yield path
    except TiandiError as exc:
        _logger.error("flow failed: %s", exc, exc_info=exc)
        exc.add_note(f"full trace: {path}")
        raise
    finally:
        for console in consoles:
            console.removeFilter(quiet)
        root.removeHandler(handler)
        handler.close()
