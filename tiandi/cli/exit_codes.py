"""Exit codes of the ``tiandi`` command line, decided here rather than on the exceptions.

2: bad input (any :class:`~tiandi.errors.TiandiError` not listed below); 3: valid input
without usable data; 4: a service (STAC catalog or API, Prefect, Dask) is unavailable.
"""

from __future__ import annotations

from tiandi.errors import CatalogError, NoDataError, ServiceError, TiandiError

#: Exit code of a ``TiandiError`` subclass; the first class in its MRO listed here wins.
EXIT_CODES: dict[type[TiandiError], int] = {
    NoDataError: 3,
    CatalogError: 4,
    ServiceError: 4,
    TiandiError: 2,
}


def exit_code(exc: TiandiError) -> int:
    """The process exit code for ``exc``."""
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return EXIT_CODES[TiandiError]
