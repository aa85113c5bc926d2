"""A strict reader for one TOML table: typed keys, named errors, unknown keys rejected.

Policy files are written by people, so every error names the file and the full key
(``export.max_epsilon``) and says what was expected. The reader consumes keys as the
parser asks for them; :meth:`Table.finish` then rejects whatever is left over, so a
misspelt key (``max_epsilion``) can never be silently ignored and leave a rule unset.

What this module does not check: meaning. Ranges that involve two keys (for example
``max_epsilon`` only with ``dp_required = true``) are checked by the caller.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable
from typing import Any

from secfp.errors import InvalidPolicy

__all__ = ["Table", "fail"]

_MISSING = object()


def fail(source: str, key: str, message: str) -> InvalidPolicy:
    """Build the one error type of policy parsing, naming the file and the key."""
    where = f"{source}: {key}: " if key else f"{source}: "
    return InvalidPolicy(where + message)


def _closest(name: str, candidates: list[str]) -> str | None:
    """The candidate a typo most likely meant (difflib ratio at least 0.75), else None."""
    import difflib

    found = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1, cutoff=0.75)
    return found[0] if found else None


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, _dt.datetime):
        return "a date-time"
    if isinstance(value, _dt.date):
        return "a date"
    if isinstance(value, _dt.time):
        return "a time"
    return type(value).__name__


class Table:
    """One TOML table being read; ``prefix`` is its dotted name for messages."""

    def __init__(self, data: Any, *, source: str, prefix: str) -> None:
        if not isinstance(data, dict):
            raise fail(source, prefix, f"expected a table, got {_type_name(data)}")
        self._data = dict(data)
        self._asked: list[str] = []
        self.source = source
        self.prefix = prefix

    def key(self, name: str) -> str:
        """The full dotted name of ``name`` inside this table."""
        return f"{self.prefix}.{name}" if self.prefix else name

    def has(self, name: str) -> bool:
        return name in self._data

    def _take(self, name: str, required: bool) -> Any:
        self._asked.append(name)
        if name not in self._data:
            if required:
                typo = _closest(name, [k for k in self._data if k not in self._asked])
                if typo is not None:
                    raise fail(self.source, "", f"unknown key(s): {self.key(typo)} (did you mean {self.key(name)}?)")
                raise fail(self.source, self.key(name), "required key is missing")
            return _MISSING
        return self._data.pop(name)

    def _typed(self, name: str, required: bool, check: Callable[[Any], bool], what: str) -> Any:
        value = self._take(name, required)
        if value is _MISSING:
            return None
        if not check(value):
            raise fail(self.source, self.key(name), f"expected {what}, got {_type_name(value)}")
        return value

    def string(self, name: str, *, required: bool = True) -> str | None:
        value = self._typed(name, required, lambda v: isinstance(v, str), "a string")
        if value is not None and not value.strip():
            raise fail(self.source, self.key(name), "must not be empty")
        return value

    def boolean(self, name: str, *, required: bool = True) -> bool | None:
        return self._typed(name, required, lambda v: isinstance(v, bool), "a boolean (true or false)")

    def integer(self, name: str, *, required: bool = True, minimum: int | None = None) -> int | None:
        # bool is a subclass of int in Python; a boolean is never a count.
        value = self._typed(
            name, required, lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"
        )
        if value is not None and minimum is not None and value < minimum:
            raise fail(self.source, self.key(name), f"must be at least {minimum}, got {value}")
        return value

    def number(
        self, name: str, *, required: bool = True, positive: bool = False, below_one: bool = False
    ) -> float | None:
        """A finite real number; TOML integers are accepted (``max_epsilon = 4``)."""
        value = self._typed(
            name,
            required,
            lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            "a number",
        )
        if value is None:
            return None
        value = float(value)
        # TOML allows nan and inf; neither is a meaningful privacy bound.
        if not math.isfinite(value):
            raise fail(self.source, self.key(name), f"must be a finite number, got {value}")
        if positive and value <= 0:
            raise fail(self.source, self.key(name), f"must be greater than 0, got {value}")
        if below_one and not 0 <= value < 1:
            raise fail(self.source, self.key(name), f"must be at least 0 and below 1, got {value}")
        return value

    def strings(self, name: str, *, required: bool = True) -> tuple[str, ...] | None:
        value = self._typed(name, required, lambda v: isinstance(v, list), "an array of strings")
        if value is None:
            return None
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise fail(
                    self.source,
                    f"{self.key(name)}[{index}]",
                    f"expected a non-empty string, got {_type_name(item)}",
                )
        if len(set(value)) != len(value):
            duplicates = sorted({item for item in value if value.count(item) > 1})
            raise fail(self.source, self.key(name), f"lists {', '.join(duplicates)} more than once")
        return tuple(value)

    def instant(self, name: str, *, required: bool = True) -> _dt.datetime | None:
        """A TOML offset date-time, or a local date meaning 00:00 UTC of that day.

        A local date-time (no offset) is refused: its meaning would depend on the
        machine's time zone, and two hospitals could disagree on when a policy expires.
        """
        value = self._typed(
            name,
            required,
            lambda v: isinstance(v, _dt.date) and not isinstance(v, _dt.time),
            "a date (2026-01-01) or a date-time with offset (2026-01-01T00:00:00Z)",
        )
        if value is None:
            return None
        if isinstance(value, _dt.datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                raise fail(
                    self.source,
                    self.key(name),
                    "a date-time needs a UTC offset (for example 2026-01-01T00:00:00Z)",
                )
            return value.astimezone(_dt.UTC)
        return _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.UTC)

    def table(self, name: str, *, required: bool = True) -> Table | None:
        value = self._take(name, required)
        if value is _MISSING:
            return None
        return Table(value, source=self.source, prefix=self.key(name))

    def tables(self, name: str, *, required: bool = True) -> tuple[Table, ...] | None:
        """An array of tables (``[[export.recipients]]``)."""
        value = self._take(name, required)
        if value is _MISSING:
            return None
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise fail(
                self.source,
                self.key(name),
                f"expected an array of tables ([[{self.key(name)}]]), got {_type_name(value)}",
            )
        return tuple(
            Table(item, source=self.source, prefix=f"{self.key(name)}[{index}]")
            for index, item in enumerate(value)
        )

    def finish(self) -> None:
        """Reject every key nobody asked for: a typo must not disable a rule."""
        if self._data:
            parts = []
            for name in sorted(self._data):
                near = _closest(name, self._asked)
                parts.append(self.key(name) + (f" (did you mean {self.key(near)}?)" if near is not None else ""))
            raise fail(self.source, "", f"unknown key(s): {', '.join(parts)}")
