"""Knowledge offers in words: an augmentation policy as a list of transforms, terms as text, booleans as words.

Pure functions over the plan's JSON (a suggestion's ``offer``, as the task card wrote
it). They return plain strings; every renderer escapes them for its own format, since
the strings are the issuer's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["transforms", "offer_items", "yes_no", "short_number"]

_SKIP = {"__class_fullname__", "transforms", "transform", "__version__"}
_MAX_TRANSFORMS = 40


def yes_no(value: Any) -> str:
    """``True``/``False`` as ``yes``/``no``; anything else as its text."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "" if value is None else str(value)


def short_number(value: Any) -> str:
    if type(value) in (int, float) and math.isfinite(value):
        return format(value, ".3g")
    return yes_no(value) if isinstance(value, bool) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _params(node: Mapping[str, Any]) -> str:
    shown = []
    for key in sorted(node):
        if key in _SKIP or node[key] is None:
            continue
        shown.append(f"{key} = {short_number(node[key])}")
    return ", ".join(shown)


def _walk(node: Any, depth: int, out: list[str]) -> None:
    if len(out) >= _MAX_TRANSFORMS:
        return
    if isinstance(node, list):
        for item in node:
            _walk(item, depth, out)
        return
    if not isinstance(node, Mapping):
        out.append("  " * depth + short_number(node))
        return
    name = node.get("__class_fullname__")
    children = node.get("transforms")
    if isinstance(name, str):
        short = name.rsplit(".", 1)[-1]
        params = _params(node)
        if isinstance(children, list) and short == "Compose" and depth == 0:
            _walk(children, depth, out)  # The outer Compose is the list itself.
            return
        label = f"{short} ({params})" if params else short
        if isinstance(children, list):
            out.append("  " * depth + f"{label}, of:")
            _walk(children, depth + 1, out)
        else:
            out.append("  " * depth + label)
        return
    if "transform" in node:
        _walk(node["transform"], depth, out)
        return
    out.append("  " * depth + _params(node))


def transforms(policy: Any) -> list[str]:
    """An albumentations-style policy as one line per transform (``HorizontalFlip (p = 0.5)``).

    Nested groups (``OneOf``) indent their members by two spaces. A policy in another
    shape is listed key by key. At most 40 lines; a longer policy ends with a note.
    """
    out: list[str] = []
    _walk(policy, 0, out)
    if len(out) >= _MAX_TRANSFORMS:
        out = out[:_MAX_TRANSFORMS] + ["\u2026 (more transforms in the full policy)"]
    return [line for line in out if line.strip()]


def offer_items(scenario: str, offer: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, text) pairs describing what a suggestion hands over, in the words a reader uses."""
    items: list[tuple[str, str]] = []
    if scenario == "architecture":
        if offer.get("name") is not None:
            items.append(("network", str(offer["name"])))
        if offer.get("score") is not None:
            items.append(("its owner's result", f"{offer.get('metric', 'score')} {short_number(offer['score'])}"))
    elif scenario == "pretraining":
        for key, label in (("licence", "licence"), ("terms", "terms"), ("uri", "where")):
            if offer.get(key) is not None:
                items.append((label, str(offer[key])))
    elif scenario == "augmentation":
        if offer.get("policy") is not None:
            items.append(("transforms", "\n".join(transforms(offer["policy"])) or "(empty policy)"))
        if offer.get("uri") is not None:
            items.append(("where", str(offer["uri"])))
    elif scenario == "cotraining":
        if "data_shareable" in offer:
            items.append(("data may be shared", yes_no(offer["data_shareable"])))
        for key in ("terms", "contact"):
            if offer.get(key) is not None:
                items.append((key, str(offer[key])))
    known = {"name", "score", "metric", "licence", "terms", "uri", "policy", "data_shareable", "contact", "sha256"}
    for key in sorted(k for k in offer if k not in known):
        items.append((str(key), short_number(offer[key]) if not isinstance(offer[key], str) else offer[key]))
    return items
