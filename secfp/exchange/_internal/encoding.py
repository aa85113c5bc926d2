"""Strict encodings shared by the exchange formats: base64, key ids, timestamps, canonical JSON.

Every decoder accepts exactly one spelling of each value, so two parsers can
never disagree on what a file says and a changed byte always changes the
value (the flipped-byte tests rely on this). Failures raise the error class the
caller passes, normally :class:`secfp.errors.InvalidBundle`.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime, timezone
from typing import Any

from secfp._io import BUNDLE_ID, canonical_json, format_utc, strict_json_loads
from secfp.errors import BadInput

__all__ = [
    "b64encode",
    "b64decode_strict",
    "is_key_id",
    "check_key_id",
    "check_bundle_id",
    "format_time",
    "parse_time",
    "parse_canonical",
    "check_json_value",
    "exact_fields",
    "check_version",
    "refuse_control_characters",
]

_KEY_ID = re.compile(r"[0-9a-f]{64}")

_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
# C0 and C1 controls (ESC included), line and paragraph separators, and the bidi
# overrides and isolates: characters that move the cursor or reorder what a
# terminal shows (CVE-2021-42574, "Trojan Source").
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def b64encode(data: bytes) -> str:
    """Standard base64 with padding (RFC 4648 section 4), as DSSE uses."""
    return base64.b64encode(data).decode("ascii")


def b64decode_strict(value: Any, *, what: str, error: type[Exception] = BadInput, length: int | None = None) -> bytes:
    """Decode standard padded base64, refusing any other spelling of the same bytes.

    Junk characters, missing padding, URL-safe letters and non-zero padding bits
    (RFC 4648 section 3.5: "canonical encoding") are all errors.
    """
    if not isinstance(value, str) or _B64.fullmatch(value) is None or len(value) % 4:
        raise error(f"{what} is not canonical base64")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise error(f"{what} is not canonical base64") from None
    if base64.b64encode(data).decode("ascii") != value:
        raise error(f"{what} is not canonical base64")
    if length is not None and len(data) != length:
        raise error(f"{what} must be {length} bytes, got {len(data)}")
    return data


def is_key_id(value: Any) -> bool:
    return isinstance(value, str) and _KEY_ID.fullmatch(value) is not None


def check_key_id(value: Any, *, what: str, error: type[Exception] = BadInput) -> str:
    """A key id is the lowercase hex SHA-256 of a raw public key: 64 hex digits."""
    if not is_key_id(value):
        raise error(f"{what} is not a key id (64 lowercase hex digits)")
    return value


def check_bundle_id(value: Any, *, what: str = "bundle id", error: type[Exception] = BadInput) -> str:
    """A bundle id is 128 random bits as 32 lowercase hex digits."""
    if not isinstance(value, str) or BUNDLE_ID.match(value) is None:
        raise error(f"{what} is not 32 lowercase hex digits")
    return value


def format_time(when: datetime) -> str:
    """RFC 3339 UTC with second precision and a ``Z``: the only time spelling in secfp files."""
    return format_utc(when)


def parse_time(value: Any, *, what: str, error: type[Exception] = BadInput) -> datetime:
    if not isinstance(value, str) or _TIME.fullmatch(value) is None:
        raise error(f"{what} is not a UTC timestamp like 2025-01-31T12:00:00Z")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise error(f"{what} is not a valid date and time") from None


def truncate_to_second(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return when.astimezone(timezone.utc).replace(microsecond=0)


def parse_canonical(data: bytes, *, what: str, error: type[Exception] = BadInput, trailing_newline: bool) -> Any:
    """Parse strict JSON and insist that ``data`` is exactly its canonical form.

    Canonical means secfp's ``canonical_json`` (sorted keys, no spaces), plus one
    ``\\n`` for files. Because the canonical form is unique, any edit to the bytes
    either fails here or changes a value that a later check covers.
    """
    body = data
    if trailing_newline:
        if not data.endswith(b"\n"):
            raise error(f"{what} is not in canonical form (missing final newline)")
        body = data[:-1]
    value = strict_json_loads(body, what=what, error=error)
    refuse_control_characters(value, what=what, error=error)
    try:
        again = canonical_json(value)
    except (ValueError, TypeError, RecursionError):
        raise error(f"{what} is not in canonical form") from None
    if again != body:
        raise error(f"{what} is not in canonical form (sorted keys, no whitespace)")
    return value


def check_json_value(value: Any, *, what: str, max_depth: int, error: type[Exception] = BadInput) -> None:
    """Refuse anything that is not plain JSON data nested at most ``max_depth`` deep.

    Iterative on purpose: a hostile value must not be able to exhaust the stack.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise error(f"{what} is nested more than {max_depth} levels deep")
        if item is None or type(item) in (bool, int, str):
            continue
        # Float subclasses (numpy.float64) are fine: the caller re-encodes the value as plain JSON.
        if isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                raise error(f"{what} holds a non-finite number")
            continue
        if type(item) is list:
            stack.extend((x, depth + 1) for x in item)
            continue
        if type(item) is dict:
            for key, x in item.items():
                if type(key) is not str:
                    raise error(f"{what} has a non-string key")
                stack.append((x, depth + 1))
            continue
        raise error(f"{what} holds a value of type {type(item).__name__}, which is not JSON")


def check_version(value: Any, expected: int, *, what: str, error: type[Exception] = BadInput) -> int:
    """The format version is exactly the integer ``expected``: ``true`` and ``1.0`` are not ``1``.

    Python's ``True == 1 == 1.0`` would otherwise let three spellings of one
    signed document verify (a malleable format).
    """
    if type(value) is not int or value != expected:
        raise error(f"not a version-{expected} {what}")
    return value


def refuse_control_characters(value: Any, *, what: str, error: type[Exception] = BadInput) -> None:
    """Refuse control characters in every string (keys included) of a parsed JSON value.

    Signed strings end up on terminals and in logs; a policy id holding ESC
    sequences would rewrite the screen of whoever inspects the bundle. Iterative,
    like :func:`check_json_value`.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _CONTROL.search(item):
                raise error(f"{what} holds control characters in a string")
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())


def exact_fields(obj: Any, expected: set[str], *, what: str, error: type[Exception] = BadInput) -> dict[str, Any]:
    """Return ``obj`` if it is a JSON object with exactly the ``expected`` keys."""
    if not isinstance(obj, dict):
        raise error(f"{what} must be a JSON object")
    if set(obj) != expected:
        extra, missing = sorted(set(obj) - expected), sorted(expected - set(obj))
        raise error(f"{what} fields are wrong: unexpected {extra}, missing {missing}")
    return obj

