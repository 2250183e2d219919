"""Every name a redline subpackage exports resolves, and only through its lazy table."""

from __future__ import annotations

import importlib

import pytest

SUBPACKAGES = ("zones", "patches", "store", "field", "accuracy", "reports")


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_every_exported_name_resolves(name: str) -> None:
    package = importlib.import_module(f"tiandi.redline.{name}")
    assert package.__all__, f"tiandi.redline.{name} exports nothing"
    for export in package.__all__:
        assert getattr(package, export) is not None, f"{name}.{export}"


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_unknown_names_raise_attribute_error(name: str) -> None:
    package = importlib.import_module(f"tiandi.redline.{name}")
    with pytest.raises(AttributeError, match="no attribute"):
        _ = package.no_such_name
