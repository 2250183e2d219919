"""The package's shape: no import cycles, layers import only downward, and the run-folder
file names are spelled in one place (:class:`tiandi.redline.run_layout.RunLayout`)."""

from __future__ import annotations

import ast
from collections.abc import Container
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "tiandi"
#: catalog ← eo ← models ← redline ← flows ← service ← cli; top-level modules (settings, errors,
#: _io, ...) are below them all; demo may import anything, and only cli imports demo.
LAYERS = {"catalog": 1, "eo": 2, "models": 3, "redline": 4, "flows": 5, "service": 6, "cli": 7}


def _modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _imported(node: ast.AST, package: str, modules: Container[str]) -> list[str]:
    """What ``node`` imports. ``from pkg import submodule`` imports the submodule (as
    ``import pkg.submodule`` does), not the names ``pkg/__init__`` exports."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
        names = [f"{base}.{alias.name}" for alias in node.names]
        if all(name in modules for name in names):
            return names
        return [base, *names]
    return []


def import_graph() -> dict[str, set[str]]:
    """Module → the tiandi modules it imports anywhere (functions, TYPE_CHECKING too)."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for imported in _imported(node, package, modules):
                target = resolve(imported) if imported.startswith("tiandi") else None
                if target is not None and target != name:
                    targets.add(target)
        graph[name] = targets
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else ""


def test_the_graph_sees_imports_inside_functions() -> None:
    graph = import_graph()
    assert "tiandi.redline.store.postgis" in graph["tiandi.redline.store.open"]  # in a function
    assert "tiandi.flows.detect_changes" in graph["tiandi.cli.app"]  # in a command body


def test_there_is_no_import_cycle() -> None:
    cycle = _cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_layers_import_only_downward_and_only_cli_imports_demo() -> None:
    wrong = []
    for module, targets in import_graph().items():
        layer = _layer(module)
        for target in targets:
            into = _layer(target)
            if into == "demo":
                if layer not in ("demo", "cli"):
                    wrong.append(f"{module} -> {target} (only cli imports demo)")
            elif layer != "demo" and LAYERS.get(into, 0) > LAYERS.get(layer, 0):
                wrong.append(f"{module} -> {target} (upward)")
    assert not wrong, "\n".join(sorted(wrong))


# -- the run-folder contract ----------------------------------------------------------------

RUN_FILES = (
    "patches.gpkg",
    "summary.json",
    "summary.html",
    "map.png",
    "change_mask.tif",
    "change_prob.tif",
    "before.tif",
    "after.tif",
    "water_bodies.gpkg",
    "bloom_series.csv",
    "bloom_series.json",
    "bloom_ledger.csv",
    "bloom_patches.gpkg",
)
RUN_FOLDERS = ("change", "composites", "tasks")
#: The patch store's default file name happens to be patches.gpkg too (settings.py).
ALLOWED = {"redline/run_layout.py": RUN_FILES, "settings.py": ("patches.gpkg",)}


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            ids.add(id(first.value))
    return ids


def _spells_path(text: str, name: str) -> bool:
    """A path, not prose: the whole string is the name or a path ending in it, or a word of
    the text is a relative path to it (``change/change_mask.tif``). Prose may name a file
    ("pass the run's patches.gpkg")."""
    words = text.split()
    if len(words) == 1 and (text == name or text.endswith("/" + name)):
        return True
    store = "<TIANDI_HOME>/"  # the patch store's default file, not a run's
    return any("/" in word and name in word and store not in word for word in words)


def run_path_spellings() -> list[str]:
    """Where code outside RunLayout spells a run-folder file, or joins a run folder name
    onto a path (``run / "change"``)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) in docstrings:
                    continue
                for name in RUN_FILES:
                    if name not in ALLOWED.get(rel, ()) and _spells_path(node.value, name):
                        found.append(f"{rel}:{node.lineno} spells {name!r}")
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
                right = node.right
                joined = isinstance(right, ast.Constant) and right.value in RUN_FOLDERS
                if joined and rel != "redline/run_layout.py":
                    found.append(f"{rel}:{node.lineno} joins {right.value!r}")
    return found


def test_only_run_layout_spells_the_run_folder_paths() -> None:
    assert run_path_spellings() == []


def test_run_layout_paths_and_run_id(tmp_path: Path) -> None:
    from tiandi.redline.run_layout import RunLayout

    layout = RunLayout(tmp_path / "run1")
    assert layout.change_mask == tmp_path / "run1" / "change" / "change_mask.tif"
    assert layout.relative(layout.composite("after")) == "composites/after.tif"
    assert layout.composites() == {
        "before": tmp_path / "run1" / "composites" / "before.tif",
        "after": tmp_path / "run1" / "composites" / "after.tif",
    }
    assert layout.run_id("2025-07-01/2025-12-31") == "run1-2025-07-01_2025-12-31"


def test_every_exception_class_lives_in_errors_py() -> None:
    exceptions = {"Exception", "BaseException", "Warning", "UserWarning"}
    outside = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "errors.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = {
                b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
            }
            if bases & exceptions or any(b.endswith(("Error", "Warning")) for b in bases):
                outside.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}")
    assert not outside, f"exception classes outside tiandi/errors.py: {outside}"
