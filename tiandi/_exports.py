"""Lazy public exports for package ``__init__`` modules (PEP 562).

A package names its public API once, as ``{name: submodule}``; the submodule is imported on
first use of the name, so importing one module of a package never imports the others (no
import-time cost, no import cycles through ``__init__``). Type checkers see the same names
through the package's ``if TYPE_CHECKING:`` imports.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that resolves ``exports[name]`` (a submodule of ``package``)."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__
