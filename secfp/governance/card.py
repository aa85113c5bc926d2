"""Which task-card fields may leave the institution: an allow-list and a never-list.

A task card is a nested mapping. Fields are named by dotted paths of their keys
(``dataset.modality``). An allow entry releases the field at that path and everything
below it; a never entry withholds the field at that path and everything below it, and
wins over any allow entry. Never entries match without regard to case
(``PatientName`` is caught by ``patientname``), because a field that must never leave
should not slip out through a spelling; allow entries match exactly.

Deny by default: a field that no allow entry covers stays home. Keys that contain a dot
or are empty never leave, since their dotted path would be ambiguous. Values inside
arrays are not looked into: an array is released or withheld as a whole.

:func:`filter_card` is what export applies and what ``--dry-run`` shows;
:func:`card_field_paths` lists the fields a card would release, which is what the
export rule checks as a second line of defence.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CardRules", "FilteredCard", "card_field_paths", "filter_card"]

_SEGMENT = re.compile(r"^[A-Za-z0-9_\-]+$")


def _segments(path: str) -> tuple[str, ...]:
    parts = tuple(path.split("."))
    if not all(_SEGMENT.match(part) for part in parts):
        raise ValueError(f"not a card field path: {path!r} (letters, digits, _ and - joined by dots)")
    return parts


def _is_prefix(prefix: tuple[str, ...], path: tuple[str, ...], *, fold: bool) -> bool:
    if len(prefix) > len(path):
        return False
    if fold:
        return all(a.casefold() == b.casefold() for a, b in zip(prefix, path, strict=False))
    return path[: len(prefix)] == prefix


@dataclass(frozen=True)
class CardRules:
    """The ``[export.card]`` table: ``allow`` and ``never`` as dotted paths."""

    allow: tuple[str, ...] = ()
    never: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for path in self.allow + self.never:
            _segments(path)
        for allowed in self.allow:
            for never in self.never:
                if _is_prefix(_segments(never), _segments(allowed), fold=True):
                    raise ValueError(f"allow entry {allowed!r} is withheld anyway by never entry {never!r}")

    def why_withheld(self, path: str) -> str | None:
        """None if the field at ``path`` may leave, else the reason it may not."""
        try:
            parts = _segments(path)
        except ValueError:
            return f"field {path!r} has a key that cannot be named safely"
        for never in self.never:
            if _is_prefix(_segments(never), parts, fold=True):
                return f"field {path!r} is on the never-list ({never})"
        if not any(_is_prefix(_segments(allowed), parts, fold=False) for allowed in self.allow):
            return f"field {path!r} is not on the allow-list"
        return None

    def to_json(self) -> dict:
        return {"allow": list(self.allow), "never": list(self.never)}


@dataclass(frozen=True)
class FilteredCard:
    """What leaves (``released``) and the dotted paths kept home (``withheld``)."""

    released: dict[str, Any]
    withheld: tuple[str, ...]

    def to_json(self) -> dict:
        return {"released": copy.deepcopy(self.released), "withheld": list(self.withheld)}


def _leaves(card: Mapping[str, Any], prefix: str) -> list[str]:
    paths: list[str] = []
    for key, value in card.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            paths.extend(_leaves(value, path))
        else:
            paths.append(path)
    return paths


def card_field_paths(card: Mapping[str, Any]) -> tuple[str, ...]:
    """The dotted paths of every leaf of ``card`` (an empty table counts as a leaf), sorted."""
    return tuple(sorted(_leaves(card, "")))


def _filter(card: Mapping[str, Any], rules: CardRules, prefix: str, withheld: list[str]) -> dict:
    kept: dict[str, Any] = {}
    for key, value in card.items():
        name = str(key)
        path = f"{prefix}.{name}" if prefix else name
        if not name or "." in name or not _SEGMENT.match(name):
            withheld.append(path)
            continue
        if isinstance(value, Mapping) and value:
            inner = _filter(value, rules, path, withheld)
            if inner:
                kept[name] = inner
        elif rules.why_withheld(path) is None:
            kept[name] = copy.deepcopy(value)
        else:
            withheld.append(path)
    return kept


def filter_card(card: Mapping[str, Any], rules: CardRules) -> FilteredCard:
    """Keep only the fields ``rules`` release; pure, the input is not modified."""
    withheld: list[str] = []
    released = _filter(card, rules, "", withheld)
    return FilteredCard(released=released, withheld=tuple(sorted(withheld)))
