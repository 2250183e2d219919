"""Exit codes are decided by the CLI, per error class, and stay what they were."""

from __future__ import annotations

import pytest

from tiandi.cli.exit_codes import exit_code
from tiandi.errors import (
    CatalogError,
    InputError,
    LifecycleError,
    ModelError,
    NoDataError,
    ServiceError,
    TiandiError,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (TiandiError, 2),
        (InputError, 2),
        (ModelError, 2),
        (LifecycleError, 2),
        (NoDataError, 3),
        (CatalogError, 4),
        (ServiceError, 4),
    ],
)
def test_exit_code_of_each_error(error: type[TiandiError], code: int) -> None:
    assert exit_code(error("x")) == code


def test_a_subclass_gets_the_code_of_its_nearest_listed_class() -> None:
    class StaleCatalog(CatalogError):
        pass

    assert exit_code(StaleCatalog("x")) == 4
    assert not hasattr(TiandiError("x"), "exit_code")
