"""Architecture rule: exactly one module imports the ``cryptography`` package (STYLE.md, rules 2 and 7)."""

from __future__ import annotations

import ast
from pathlib import Path

import secfp

ROOT = Path(secfp.__file__).resolve().parent
ALLOWED = {"secfp/exchange/_internal/crypto.py"}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_only_the_internal_crypto_module_imports_cryptography():
    offenders = [
        p.relative_to(ROOT.parent).as_posix()
        for p in ROOT.rglob("*.py")
        if any(m == "cryptography" or m.startswith("cryptography.") for m in _imported_modules(p))
        and p.relative_to(ROOT.parent).as_posix() not in ALLOWED
    ]
    assert offenders == []


def test_nothing_outside_exchange_imports_its_internals():
    offenders = [
        p.relative_to(ROOT.parent).as_posix()
        for p in ROOT.rglob("*.py")
        if p.relative_to(ROOT).parts[0] != "exchange"
        and any(m.startswith("secfp.exchange._internal") for m in _imported_modules(p))
    ]
    assert offenders == []
