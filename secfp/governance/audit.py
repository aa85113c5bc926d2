"""The audit trail: an append-only, hash-chained JSON-lines log.

Record layout (one line of canonical JSON, ``secfp._io.canonical_json``, then ``\\n``)::

    {"v": 1, "seq": 0, "time": "2026-11-25T21:47:27.123456Z",
     "event": "export", "outcome": "ok" | "refused" | "failed", "actor": "alice@ws1",
     "bundle_id": str|null, "issuer": {"name","key_id"}|null, "recipients": [{"name","key_id"}],
     "policy": {"id","digest"}|null, "dataset": str|null,
     "epsilon_spent": number|null, "budget_remaining": number|null,
     "reasons": [str], "details": {...}, "prev": "<64 hex>"}

Every key is always present (null, never omitted). ``prev`` is the SHA-256 of the
previous line's exact bytes (without its newline), as 64 lower-case hex digits like
every digest in secfp; the first record's ``prev`` is 64 zeros. ``seq`` counts from 0.
A record's own hash (what the next ``prev`` holds) is the *head* once it is last.
The policy digest is the one :class:`~secfp.governance.policy.Policy` carries.

**What the chain proves.** An edited, deleted, inserted or reordered record, or a torn
last line, breaks the chain and :func:`verify_chain` names the line. It cannot prove
that nobody rewrote the whole log and recomputed every hash, nor that whole records
were cut from the end: for that, keep the head hash somewhere else (a ticket, an
e-mail) and pass it back as ``anchor`` (``secfp audit verify LOG --anchor HASH``).

**Appends** (:func:`append_event`) take a cross-process lock (``filelock``, on
``LOG.lock``), verify the whole chain, write one line with ``O_APPEND`` and ``fsync``
the file (and its folder when the file is new). Nothing is written to a broken chain.
Verifying the whole log on each append is O(n); at thousands of records per year this
costs milliseconds.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import hmac
import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path

import filelock

from secfp._io import canonical_json, strict_json_loads
from secfp.errors import AuditChainBroken, BadInput, UsageError
from secfp.governance.audit_record import (
    GENESIS,
    OUTCOMES,
    AuditEvent,
    AuditRecord,
    AuditSummary,
    record_hash,
)

__all__ = [
    "GENESIS",
    "OUTCOMES",
    "AuditEvent",
    "AuditRecord",
    "AuditSummary",
    "record_hash",
    "verify_chain",
    "verify_log",
    "read_log",
    "append_event",
    "default_audit_log",
    "resolve_audit_log",
    "default_actor",
]


LOCK_TIMEOUT_S = 30.0
# filelock polls; a short interval keeps a waiting writer from being starved by one
# that appends in a loop (an append holds the lock for about a millisecond).
LOCK_POLL_S = 0.002


def _broken(source: str, line: int, message: str) -> AuditChainBroken:
    return AuditChainBroken(f"audit log {source}: line {line}: {message}")


def _diagnose(seq: int, expected: int) -> str:
    if seq > expected:
        return f"expected seq {expected}, found {seq}: {seq - expected} record(s) before it were deleted or moved"
    if seq < expected:
        return f"expected seq {expected}, found {seq}: records were inserted, duplicated or moved"
    return "the previous record was edited or replaced"


def verify_chain(data: bytes, *, source: str = "<bytes>", anchor: str | None = None) -> tuple[AuditRecord, ...]:
    """Pure: parse and verify a whole log; return its records or raise AuditChainBroken.

    Checks, per line: strict JSON in canonical form (a re-serialised or hand-edited
    line fails here), the v1 schema, ``prev`` equal to the previous line's hash and
    ``seq`` equal to its position. An empty log is valid. With ``anchor``, some record
    must have that hash (or the log must be empty and the anchor the genesis value).
    """
    if not data:
        records: tuple[AuditRecord, ...] = ()
    else:
        if not data.endswith(b"\n"):
            last = data.count(b"\n") + 1
            raise _broken(source, last, "the last record is incomplete (no newline): truncated or a write was cut off")
        out: list[AuditRecord] = []
        prev = GENESIS
        for index, line in enumerate(data[:-1].split(b"\n")):
            number = index + 1
            if not line:
                raise _broken(source, number, "empty line: a record was blanked or a line inserted")
            try:
                unverified = strict_json_loads(line, what="record", error=ValueError)
                if canonical_json(unverified) != line:
                    raise ValueError("not in canonical form (the line was edited by hand)")
                record = AuditRecord.from_json(unverified, line_hash=record_hash(line))
                if canonical_json(record.to_json()) != line:
                    raise ValueError("fields are not in their v1 form (for example a time not written by secfp)")
            except (ValueError, TypeError, KeyError) as exc:
                raise _broken(source, number, f"not a valid audit record: {exc}") from None
            if not hmac.compare_digest(record.prev, prev):
                raise _broken(source, number, f"chain broken (prev does not match line {number - 1}): "
                              + _diagnose(record.seq, index))
            if record.seq != index:
                raise _broken(source, number, _diagnose(record.seq, index))
            out.append(record)
            prev = record.hash
        records = tuple(out)
    if anchor is not None:
        if not isinstance(anchor, str) or not re.fullmatch(r"[0-9a-f]{64}", anchor):
            raise UsageError(f"anchor {anchor!r} is not a record hash (64 lower-case hex digits)")
        hashes = [GENESIS] + [r.hash for r in records]
        if not any(hmac.compare_digest(anchor.encode(), h.encode()) for h in hashes):
            raise AuditChainBroken(
                f"audit log {source}: anchor {anchor} is not in the log: records at its end were removed or rewritten"
            )
    return records


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise BadInput(f"audit log {path} does not exist") from None
    except OSError as exc:
        raise BadInput(f"cannot read audit log {path}: {exc.strerror or exc}") from None


def read_log(path: str | os.PathLike[str], *, anchor: str | None = None) -> tuple[AuditRecord, ...]:
    """Read and verify the log at ``path``; the records, or AuditChainBroken (exit 4)."""
    p = Path(path)
    return verify_chain(_read(p), source=str(p), anchor=anchor)


def verify_log(path: str | os.PathLike[str], *, anchor: str | None = None) -> AuditSummary:
    """Verify the log at ``path``; a summary with the head hash, or AuditChainBroken."""
    records = read_log(path, anchor=anchor)
    return AuditSummary(path=str(path), count=len(records), head=records[-1].hash if records else GENESIS)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def append_event(path: str | os.PathLike[str], event: AuditEvent, *, now: _dt.datetime) -> AuditRecord:
    """Append ``event`` to the log at ``path`` after verifying the chain; return the record.

    Safe with several processes at once: the read-verify-write runs under a
    ``filelock`` lock on ``PATH.lock``; the line goes out in one ``O_APPEND`` write and
    is ``fsync``-ed before the lock is released. The log is created (mode 0600) if it
    does not exist. Raises AuditChainBroken, and writes nothing, if the chain is broken.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(p) + ".lock")
        with lock.acquire(timeout=LOCK_TIMEOUT_S, poll_interval=LOCK_POLL_S):
            created = not p.exists()
            fd = os.open(p, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                with os.fdopen(os.dup(fd), "rb") as reader:
                    records = verify_chain(reader.read(), source=str(p))
                record = AuditRecord(
                    seq=len(records),
                    time=now.astimezone(_dt.UTC),
                    event=event,
                    prev=records[-1].hash if records else GENESIS,
                    hash="",
                )
                line = canonical_json(record.to_json())
                written = os.write(fd, line + b"\n")
                if written != len(line) + 1:
                    raise OSError(f"short write to audit log ({written} of {len(line) + 1} bytes)")
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                _fsync_dir(p.parent)
    except filelock.Timeout:
        raise BadInput(f"audit log {p} stayed locked for {LOCK_TIMEOUT_S:g} s ({p}.lock)") from None
    except OSError as exc:
        raise BadInput(f"cannot write audit log {p}: {exc.strerror or exc}") from None
    return AuditRecord(seq=record.seq, time=record.time, event=event, prev=record.prev, hash=record_hash(line))


def default_audit_log(environ: Mapping[str, str] | None = None) -> Path:
    """``$SECFP_HOME/audit.jsonl``; ``SECFP_HOME`` defaults to ``~/.secfp``."""
    from secfp._io import secfp_home

    return secfp_home(environ) / "audit.jsonl"


def resolve_audit_log(
    explicit: str | os.PathLike[str] | None,
    policy_log: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """Where to log: ``--audit-log`` if given, else the policy's ``audit_log``
    (``Policy.audit_log``), else :func:`default_audit_log`."""
    if explicit is not None:
        return Path(explicit)
    if policy_log is not None:
        return Path(policy_log)
    return default_audit_log(environ)


def default_actor() -> str:
    """``user@host`` of this process, for the ``actor`` field."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"
