"""The ``tiandi`` command line, one module per command group.

:data:`app` is the Typer application (the ``tiandi`` console script). This package is the
edge of the system: it reads settings, calls the flows and the library, prints results and
errors, and decides exit codes; nothing below it imports it.
"""

from tiandi.cli.app import app

__all__ = ["app"]
