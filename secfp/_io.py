"""Small pieces shared by every layer: strict JSON, atomic writes, UTC times, ``$SECFP_HOME``, bundle ids.

Strict parsing is a security property (see SECURITY.md): duplicate keys, NaN and
Infinity are errors, never silently accepted, so two parsers cannot disagree on
what a file says.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from secfp.errors import BadInput

__all__ = ["strict_json_loads", "canonical_json", "atomic_write_bytes", "atomic_write_text", "read_capped",
           "format_utc", "parse_utc", "TIME_FORMAT", "SECFP_HOME_ENV", "secfp_home", "BUNDLE_ID"]

#: The one spelling of a time in secfp files: RFC 3339 UTC, to the second, with a ``Z``.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: A bundle id: 128 random bits as 32 lowercase hex digits (``BUNDLE_ID.match`` anchors both ends).
BUNDLE_ID = re.compile(r"\A[0-9a-f]{32}\Z")
SECFP_HOME_ENV = "SECFP_HOME"


def format_utc(when: datetime, *, precise: bool = False) -> str:
    """``2025-06-01T12:00:00Z``: ``when`` (timezone-aware) in UTC, to the second.

    ``precise`` keeps a non-zero sub-second part (``...12:00:00.250000Z``), for records
    whose times are not rounded (policy facts).
    """
    if not isinstance(when, datetime) or when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("times must be timezone-aware datetimes")
    if precise:
        return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return when.astimezone(timezone.utc).strftime(TIME_FORMAT)


def parse_utc(text: str) -> datetime:
    """The inverse of :func:`format_utc`; ValueError for anything else."""
    if not isinstance(text, str) or not text.endswith("Z"):
        raise ValueError(f"{text!r:.40} is not a UTC time like 2025-01-31T12:00:00Z")
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=timezone.utc)


def secfp_home(environ: Any = None) -> Path:
    """The per-user secfp folder: ``$SECFP_HOME``, default ``~/.secfp``."""
    value = (os.environ if environ is None else environ).get(SECFP_HOME_ENV)
    return Path(value).expanduser() if value else Path.home() / ".secfp"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not allowed")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def strict_json_loads(data: bytes | str, *, what: str = "JSON", error: type[Exception] = BadInput) -> Any:
    """Parse JSON, rejecting duplicate keys, NaN/Infinity and invalid UTF-8."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise error(f"{what} is not valid strict JSON: {exc}") from None


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes (sorted keys, no spaces, shortest float repr): hash input."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def read_capped(path: str | os.PathLike[str], *, cap: int, what: str = "file") -> bytes:
    """Read a whole file, refusing anything larger than ``cap`` bytes before reading it."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > cap:
            raise BadInput(f"{what} {p} is {size} bytes, more than the limit of {cap}")
        with p.open("rb") as fh:
            data = fh.read(cap + 1)
    except OSError as exc:
        raise BadInput(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    if len(data) > cap:
        raise BadInput(f"{what} {p} is more than the limit of {cap} bytes")
    return data


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder, fsync and rename.

    Readers see either the old file or the complete new one, never a partial
    write, even if the process is killed half-way (Ctrl-C included).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    try:
        dir_fd = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, mode: int = 0o644) -> None:
    """Text variant of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)
