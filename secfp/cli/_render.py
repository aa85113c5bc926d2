"""Shared rendering helpers for the command line: one JSON document on stdout, humans on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

__all__ = ["stderr", "stdout", "print_json", "progress_bar", "error_document", "error_kind", "plain", "rfc3339"]

# No markup on the shared consoles: paths, names and every string that came in a
# bundle are printed as the text they are ("[/x]" stays "[/x]" and cannot crash a
# command or restyle the screen). Styling, where wanted, is passed as rich objects.
stderr = Console(stderr=True, highlight=False, markup=False)
stdout = Console(highlight=False, markup=False)


#: Documents printed by the running command; the error handler adds none after one.
documents_printed = 0


def print_json(value: Any) -> None:
    """Exactly one JSON document on stdout (never changes the exit code)."""
    global documents_printed
    text = json.dumps(value, indent=2, allow_nan=False) + "\n"
    documents_printed += 1
    sys.stdout.write(text)
    sys.stdout.flush()


def error_kind(exc: BaseException) -> str:
    """A stable machine name for an error: its class name in snake case (``InvalidBundle`` -> ``invalid_bundle``).

    A :class:`~secfp.errors.SecfpError` names itself (:attr:`~secfp.errors.SecfpError.kind`;
    a :class:`~secfp.errors.BatchFailed` takes its most severe failure's kind).
    """
    from secfp.errors import SecfpError

    if isinstance(exc, SecfpError):
        return exc.kind
    name = type(exc).__name__
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))


def error_document(*, code: int, kind: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The one JSON shape of every failure: ``{"error": {"code", "kind", "message", "details"}}``.

    ``code`` is the process's exit code (README, "Exit codes"); scripts may rely
    on ``error.code`` and ``error.kind`` and should show ``error.message`` to people.
    """
    return {"error": {"code": int(code), "kind": kind, "message": message, "details": dict(details or {})}}


def plain(value: Any) -> Text:
    """Any value (a signed string from a bundle included) as literal text: never parsed as rich markup."""
    return Text(str(value))


def rfc3339(when: Any) -> str:
    """RFC 3339, UTC, whole seconds, ``Z``: the one timestamp spelling secfp prints."""
    from datetime import timezone

    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _RateColumn(ProgressColumn):
    """Images per second, once rich has measured a rate."""

    def render(self, task) -> Text:  # type: ignore[no-untyped-def]
        return Text(f"{task.speed:6.1f} img/s" if task.speed else "")


@contextmanager
def progress_bar(description: str, *, enabled: bool) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar (rate and time left) on stderr, or a no-op when quiet."""
    if not enabled:
        yield lambda done, total: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        _RateColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr, transient=True) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update
