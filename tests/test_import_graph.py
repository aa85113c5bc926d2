"""The package's module-level import graph has no cycle: the layers of the architecture point one way.

Imports inside functions (lazy imports for speed) and under ``TYPE_CHECKING`` are not edges.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "secfp"


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the secfp modules it imports at module level (the most specific module named)."""
    modules = {_module_name(p, package): p for p in package.rglob("*.py")}

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("secfp"):
                targets = [known(f"{node.module}.{a.name}") for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [known(a.name) for a in node.names if a.name.startswith("secfp")]
            else:
                continue
            edges.update(t for t in targets if t is not None and t != name)
        graph[name] = edges
    return graph


def test_secfp_has_no_module_level_import_cycle():
    graph = import_graph()
    assert len(graph) > 50  # the walk found the package
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle


def test_a_planted_cycle_is_found(tmp_path):
    # The check itself must be able to fail: two modules importing each other.
    pkg = tmp_path / "secfp"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from secfp.b import x\n")
    (pkg / "b.py").write_text("from secfp import a\nx = 1\n")
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter(import_graph(pkg)).prepare()


# Layering: cli -> workflows (and cloud, whose sync runs the pool-add workflow) -> everything else.
# Unlike the cycle check, every import counts here: module level, inside functions, under TYPE_CHECKING.
UPPER = {"secfp.cli": 2, "secfp.workflows": 1, "secfp.cloud": 1}


def _layer(module: str) -> int:
    return next((level for top, level in UPPER.items() if module == top or module.startswith(top + ".")), 0)


def _imported_names(node: ast.AST, name: str, is_package: bool) -> list[str]:
    """Every module an import statement may load, relative imports resolved against ``name``."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        parts = name.split(".") if is_package else name.split(".")[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join(parts + ([base] if base else []))
    return [base] + [f"{base}.{a.name}" for a in node.names]


def upward_imports(package: Path = PACKAGE) -> list[str]:
    """``module:line -> target`` for each import of a higher layer (see :data:`UPPER`) than the importer's."""
    found = []
    for path in sorted(package.rglob("*.py")):
        name = _module_name(path, package)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _imported_names(node, name, path.name == "__init__.py"):
                if target.startswith("secfp") and _layer(target) > _layer(name):
                    found.append(f"{name}:{node.lineno} -> {target}")
    return sorted(set(found))


def test_no_module_imports_a_higher_layer():
    # pool, matching, planning, exchange, governance, privacy (and every other library package) never
    # import workflows or cli, not even for a type; workflows and cloud never import cli.
    assert len(list(PACKAGE.rglob("*.py"))) > 50  # the walk found the package
    assert upward_imports() == []


@pytest.mark.parametrize("source", [
    "from secfp.workflows.receive import Receiver\n",
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from secfp.workflows.receive import Receiver\n",
    "def f():\n    from secfp.cli import app\n    return app\n",
    "from secfp import workflows\n",
    "import secfp.cli._render\n",
    "from ..workflows import use\n",
])
def test_a_planted_upward_import_is_found(tmp_path, source):
    # The check itself must be able to fail: a pool module reaching up, in each form an import can take.
    pkg = tmp_path / "secfp"
    for sub in ("", "pool", "workflows", "cli"):
        (pkg / sub).mkdir(exist_ok=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "pool" / "store.py").write_text(source)
    (pkg / "workflows" / "use.py").write_text("from secfp.pool.store import x\nfrom secfp.cli import y\n")
    found = upward_imports(pkg)
    assert [f for f in found if f.startswith("secfp.pool.store:")], found
    assert any(f.startswith("secfp.workflows.use:2 -> secfp.cli") for f in found), found
    assert not any(f.startswith("secfp.workflows.use:1") for f in found), found  # downward is fine
