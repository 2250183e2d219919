"""Every name a package exports lazily resolves, to the object its TYPE_CHECKING import
names, and unknown names raise AttributeError."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "tiandi"
LAZY = sorted(
    ".".join(p.relative_to(PACKAGE.parent).parent.parts)
    for p in PACKAGE.rglob("__init__.py")
    if "lazy_exports(" in p.read_text(encoding="utf-8")
)


def test_the_packages_with_a_public_api_are_found() -> None:
    for name in ("tiandi.catalog", "tiandi.eo", "tiandi.models", "tiandi.flows"):
        assert name in LAZY
    assert sum(name.startswith("tiandi.redline.") for name in LAZY) == 6


@pytest.mark.parametrize("name", LAZY)
def test_no_exported_name_is_also_a_submodule(name: str) -> None:
    # Once ``pkg.x`` is imported, Python binds the submodule to ``pkg.x`` and the lazy
    # export of a function called ``x`` would silently give the module instead.
    folder = PACKAGE.parent.joinpath(*name.split("."))
    submodules = {p.stem for p in folder.glob("*.py")} | {p.name for p in folder.iterdir()}
    package = importlib.import_module(name)
    assert not set(package.__all__) & submodules


@pytest.mark.parametrize("name", LAZY)
def test_every_exported_name_resolves(name: str) -> None:
    package = importlib.import_module(name)
    assert package.__all__, f"{name} exports nothing"
    for export in package.__all__:
        module = importlib.import_module(f"{name}.{package._EXPORTS[export]}")
        assert getattr(package, export) is getattr(module, export), f"{name}.{export}"


@pytest.mark.parametrize("name", LAZY)
def test_unknown_names_raise_attribute_error(name: str) -> None:
    package = importlib.import_module(name)
    with pytest.raises(AttributeError, match="no attribute"):
        _ = package.no_such_name
