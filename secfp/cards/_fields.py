"""Field validators for :mod:`secfp.cards.task_card`: each raises :class:`BadInput` naming the field.

Control characters (C0, C1, line/paragraph separators and bidirectional overrides) are
refused in every text field: card text is shown on terminals and in HTML reports, where
such characters could rewrite what a reviewer sees.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from secfp.errors import BadInput

URI_SCHEMES = ("https", "http", "s3", "gs", "hf")
ARCH = re.compile(r"^[a-z][a-z0-9_]{0,99}(\.[a-z0-9_]{1,100})?$")
METRIC = re.compile(r"^[A-Za-z][A-Za-z0-9_@\-]{0,31}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def fail(path: str, message: str) -> BadInput:
    return BadInput(f"task card: field {path} {message}")


def text(value: Any, path: str, *, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise fail(path, "must be a non-empty string")
    if len(value) > limit:
        raise fail(path, f"is longer than {limit} characters")
    if _CONTROL.search(value):
        raise fail(path, "holds control characters")
    return value


def pattern(value: Any, path: str, regex: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not regex.match(value):
        raise fail(path, f"must be {what}, got {value!r:.80}")
    return value


def choice(value: Any, path: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise fail(path, f"must be one of {', '.join(choices)}, got {value!r:.80}")
    return value


def integer(value: Any, path: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(path, f"must be an integer, got {value!r:.80}")
    if value < minimum:
        raise fail(path, f"must be at least {minimum}, got {value}")
    return value


def uri(value: Any, path: str) -> str:
    value = text(value, path, limit=2048)
    parts = urlsplit(value)
    if parts.scheme not in URI_SCHEMES or not parts.netloc or any(c.isspace() for c in value):
        raise fail(path, f"must be a URI with scheme {', '.join(URI_SCHEMES)} and a host, got {value!r:.80}")
    return value


def table(value: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise fail(path, "must be a table")
    unknown = sorted(str(k) for k in set(value) - set(allowed))
    if unknown:
        raise BadInput(f"task card: unknown field {path + '.' if path else ''}{unknown[0]!s:.80}")
    return dict(value)


def required(values: Mapping[str, Any], path: str, key: str) -> Any:
    if key not in values:
        raise BadInput(f"task card: field {path}.{key} is required")
    return values[key]
