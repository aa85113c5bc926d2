"""Name what a file is when it is not what a command expected.

People pass the wrong file: a private key to ``trust add``, a card to
``--key``, a fingerprint or a half-copied file to ``verify``. The message then
names the file's real kind (read from its content, never from its extension)
and the file the command wants, instead of the first parse error on the way.
Nothing here trusts what it reads: it only picks a message.
"""

from __future__ import annotations

import json
import tomllib
from typing import Any

__all__ = ["sniff_kind", "describe", "not_a_bundle_message", "wrong_kind_message"]

_DESCRIPTIONS = {
    "secfp.bundle": "a secfp bundle",
    "secfp.private-key": "a private key file (keep it secret; it is given as --key)",
    "secfp.identity": "an identity card (a public card; trust it with `secfp trust add`)",
    "secfp.fingerprint": "a fingerprint file (unsigned; `secfp export` turns it into a bundle)",
    "secfp.spec": "a fingerprint spec",
    "secfp.statement": "a bare statement (bundles carry it signed)",
    "secfp.verified-statement": "a verify report (`secfp verify --json` output), not the bundle itself",
    "secfp.report": "a match or plan report",
    "secfp.replay-store": "a replay store",
    "secfp.privacy-budget": "a privacy budget ledger",
    "task-card": "a task card (TOML; it is given as --card)",
    "policy": "a sharing policy (TOML; it is given as --policy)",
}


def sniff_kind(unverified: bytes) -> str | None:
    """The kind a file claims (``secfp.*`` JSON ``kind``, or a TOML task card or policy), else None."""
    text = unverified.decode("utf-8", errors="replace")
    try:
        obj: Any = json.loads(text)
    except (ValueError, RecursionError):
        obj = None
    if isinstance(obj, dict):
        kind = obj.get("kind")
        return kind if isinstance(kind, str) and kind in _DESCRIPTIONS else None
    if obj is not None:
        return None
    try:
        doc = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        return None
    if isinstance(doc.get("task"), dict):
        return "task-card"
    if "id" in doc and ("export" in doc or "import" in doc):
        return "policy"
    return None


def describe(kind: str) -> str:
    return _DESCRIPTIONS.get(kind, kind)


def wrong_kind_message(path: Any, unverified: bytes, *, expected: str) -> str | None:
    """``"PATH is a private key file ..., not EXPECTED"`` if the content names another kind, else None."""
    kind = sniff_kind(unverified)
    if kind is None:
        return None
    return f"{path} is {describe(kind)}, not {expected}"


def not_a_bundle_message(obj: Any) -> str:
    """The message for parsed JSON that is not a bundle."""
    kind = obj.get("kind") if isinstance(obj, dict) else None
    if isinstance(kind, str) and kind in _DESCRIPTIONS and kind != "secfp.bundle":
        return f"not a secfp bundle: this is {describe(kind)}"
    return "not a secfp bundle"
