"""The house rules on size: small modules, small functions (see docs/architecture.md).

ruff's C901/PLR0912/PLR0915 bound complexity, branches and statements; these tests bound
what ruff cannot: the length of a module and of a function, counted in source lines.
An exception needs a written reason here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "tiandi"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# module (relative to tiandi/) -> why it may be longer
LONG_MODULES: dict[str, str] = {}
# "module:function" -> why it may be longer
LONG_FUNCTIONS: dict[str, str] = {}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_module_is_short(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    if _name(path) in LONG_MODULES:
        return
    assert lines <= MAX_MODULE_LINES, (
        f"{_name(path)} has {lines} lines (limit {MAX_MODULE_LINES}): split it along its seams"
    )


def test_no_function_is_long() -> None:
    long: list[str] = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            key = f"{_name(path)}:{node.name}"
            if length > MAX_FUNCTION_LINES and key not in LONG_FUNCTIONS:
                long.append(f"{key} ({length} lines)")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}; split into named steps"


def test_exceptions_are_reasoned() -> None:
    for key, reason in {**LONG_MODULES, **LONG_FUNCTIONS}.items():
        assert len(reason) > 20, f"{key}: say why it may be long"
