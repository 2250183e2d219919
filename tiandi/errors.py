"""The one exception hierarchy of tiandi.

Every message names the input, says what is wrong with it and what to do about it.
The CLI turns a ``TiandiError`` into that message and a non-zero exit code (the mapping
from error class to exit code lives in :mod:`tiandi.cli.exit_codes`, not here).
"""

from __future__ import annotations


class TiandiError(Exception):
    """Base class of every error tiandi raises on purpose."""


class InputError(TiandiError):
    """An input file or parameter is missing, unreadable or invalid."""


class NoDataError(TiandiError):
    """The inputs are valid but hold no usable data (no items, no clear observation)."""


class CatalogError(TiandiError):
    """The STAC catalog or API could not be read, written or started."""


class ServiceError(TiandiError):
    """A service tiandi starts or talks to (Prefect API, Dask scheduler) is unavailable."""


class ModelError(TiandiError):
    """A model or its weights cannot be used for the given inputs."""


class LifecycleError(TiandiError):
    """A patch transition is not allowed: wrong state, wrong role, or missing reason."""
