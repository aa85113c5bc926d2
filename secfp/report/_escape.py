"""Turning untrusted values into HTML text: every string from a bundle passes through here.

Issuers write card names, policy ids and privacy fields; a receiver's reviewer reads them.
:func:`text` escapes HTML (``<``, ``>``, ``&`` and both quotes, so the result is safe in
element content and in quoted attribute values) and first replaces control, zero-width
and bidirectional-override characters with U+FFFD, so a name cannot reorder or hide what
the reviewer sees (Trojan Source, Boucher and Anderson, USENIX Security 2023).
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

__all__ = ["text", "clip", "number", "is_number"]

_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _clean(value: Any) -> str:
    return _INVISIBLE.sub("\ufffd", value if isinstance(value, str) else str(value))


def text(value: Any) -> str:
    """``value`` as escaped HTML text; None becomes an empty string."""
    return "" if value is None else html.escape(_clean(value), quote=True)


def clip(value: Any, limit: int, *, keep_end: bool = False) -> str:
    """Escaped text of at most ``limit`` characters (an ellipsis marks the cut)."""
    s = "" if value is None else _clean(value)
    if len(s) > limit:
        s = "\u2026" + s[-(limit - 1):] if keep_end else s[: limit - 1] + "\u2026"
    return html.escape(s, quote=True)


def is_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def number(value: Any, spec: str = ".4g", *, missing: str = "\u2013") -> str:
    """A finite number formatted with ``spec``; anything else (a string in a bundle) escaped as is."""
    if value is None:
        return missing
    if is_number(value):
        return html.escape(format(value, spec))
    return text(value)
