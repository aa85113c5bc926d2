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
