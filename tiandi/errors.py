"""The one exception hierarchy of tiandi.

Every message names the input, says what is wrong with it and what to do about it.
The CLI turns a ``TiandiError`` into that message and a non-zero exit code (the mapping
from error class to exit code lives in :mod:`tiandi.cli.exit_codes`, not here).
"""

from __future__ import annotations

from typing import Any


class TiandiError(Exception):
    """Base class of every error tiandi raises on purpose."""


class InputError(TiandiError):
    """An input file or parameter is missing, unreadable or invalid."""


class NotFoundError(InputError):
    """A thing named by its id (a patch, a zone, a station) does not exist (HTTP 404)."""


class NoDataError(TiandiError):
    """The inputs are valid but hold no usable data (no items, no clear observation)."""


class CatalogError(TiandiError):
    """The STAC catalog or API could not be read, written or started."""


class ServiceError(TiandiError):
    """A service tiandi starts or talks to (Prefect API, Dask scheduler) is unavailable."""


class PortTakenError(ServiceError):
    """The free loopback port a server was given was taken before it bound it. Starters
    catch it and retry on another port; only the last attempt reaches the user, as a
    message naming the service and its address."""

    def __init__(self, address: str) -> None:
        super().__init__(f"port of {address} taken by another process before the server bound it")
        self.address = address


class ModelError(TiandiError):
    """A model or its weights cannot be used for the given inputs."""


class LifecycleError(TiandiError):
    """A patch transition is not allowed: wrong state, wrong role, or missing reason."""


class ConflictError(TiandiError):
    """A write was decided on a version of a record that is no longer the current one.

    ``current_version`` is the version the record has now (nothing was written).
    """

    def __init__(self, message: str, current_version: int) -> None:
        super().__init__(message)
        self.current_version = current_version


class AuthError(TiandiError):
    """A service token is missing, unknown, expired or revoked, or lacks the needed role.

    ``status`` is the HTTP status the service answers with (401 or 403).
    """

    def __init__(self, message: str, *, status: int = 401, code: str = "unauthorized") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class UploadError(InputError):
    """An uploaded file is refused before anything is read from it (too big, wrong type,
    unsafe name). ``status`` is the HTTP status the service answers with (413, 415, 422)."""

    def __init__(self, message: str, *, status: int = 422, code: str = "invalid_upload") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


# field round trip


class QgisUnavailableError(InputError):
    """QGIS's Python (python3-qgis) is not installed where it was expected."""


class DuplicateImportError(InputError):
    """The same package content was imported before; nothing changed."""


class SubmissionsRejectedError(InputError):
    """Some submissions were rejected (and kept in quarantine); ``report`` has them all.

    ``report`` is the :class:`tiandi.redline.field.importer.ImportReport` of the import
    (typed ``Any`` here: this module sits below every layer and imports none of them).
    """

    def __init__(self, message: str, report: Any) -> None:
        super().__init__(message)
        self.report = report


# warnings


class TiandiWarning(UserWarning):
    """Base class of the warnings tiandi issues: something worth knowing, not an error.

    Filter them by class, e.g. ``warnings.simplefilter("error", UnknownCloudCoverWarning)``
    to refuse what a warning only reports.
    """


class UnknownCloudCoverWarning(TiandiWarning):
    """A search with a cloud-cover maximum kept items whose ``eo:cloud_cover`` is unknown."""


class EncodingGuessWarning(TiandiWarning):
    """A shapefile had no ``.cpg``; its encoding was detected from the ``.dbf`` bytes."""


class OutputsNotRegisteredWarning(TiandiWarning):
    """The configured STAC API is read-only (no Transactions extension): a run's outputs
    are written to its folder but not registered in a catalog."""
