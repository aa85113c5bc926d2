"""The audit record model: what one line of the audit log holds (see audit.py).

Kept apart from :mod:`secfp.governance.audit`, which does the file work, so that the
record schema can be read on one screen.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from secfp._io import canonical_json
from secfp.governance.facts import Party

__all__ = ["GENESIS", "OUTCOMES", "AuditEvent", "AuditRecord", "AuditSummary", "record_hash"]

GENESIS = "0" * 64
OUTCOMES = ("ok", "refused", "failed")

_EVENT = re.compile(r"^[a-z][a-z0-9_.\-]{0,31}$")
_HASH = re.compile(r"^[0-9a-f]{64}$")
_KEYS = (
    "v", "seq", "time", "event", "outcome", "actor", "bundle_id", "issuer", "recipients",
    "policy", "dataset", "epsilon_spent", "budget_remaining", "reasons", "details", "prev",
)


def _iso(value: _dt.datetime) -> str:
    return value.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _optional_str(value: Any, name: str) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"{name} must be a non-empty string or null")


def _optional_number(value: Any, name: str) -> None:
    if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
        raise ValueError(f"{name} must be a number or null")


@dataclass(frozen=True, kw_only=True)
class AuditEvent:
    """What the caller records; :func:`append_event` adds v, seq, time and prev."""

    event: str
    outcome: str
    actor: str
    bundle_id: str | None = None
    issuer: Party | None = None
    recipients: tuple[Party, ...] = ()
    policy_id: str | None = None
    policy_digest: str | None = None
    dataset: str | None = None
    epsilon_spent: float | None = None
    budget_remaining: float | None = None
    reasons: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.event, str) or not _EVENT.match(self.event):
            raise ValueError("event must be a short lower-case name such as 'export'")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}")
        if not isinstance(self.actor, str) or not self.actor:
            raise ValueError("actor must be a non-empty string")
        for name in ("bundle_id", "policy_id", "policy_digest", "dataset"):
            _optional_str(getattr(self, name), name)
        if (self.policy_id is None) != (self.policy_digest is None):
            raise ValueError("policy_id and policy_digest go together")
        for name in ("epsilon_spent", "budget_remaining"):
            _optional_number(getattr(self, name), name)
        if self.issuer is not None and not isinstance(self.issuer, Party):
            raise ValueError("issuer must be a Party or None")
        if not all(isinstance(r, Party) for r in self.recipients):
            raise ValueError("recipients must be Party values")
        if not all(isinstance(r, str) for r in self.reasons):
            raise ValueError("reasons must be strings")
        canonical_json(dict(self.details))  # JSON-able and finite, or raises now.


@dataclass(frozen=True, kw_only=True)
class AuditRecord:
    """One verified line of the log. ``hash`` is the SHA-256 of its exact line bytes."""

    seq: int
    time: _dt.datetime
    event: AuditEvent
    prev: str
    hash: str

    def to_json(self) -> dict:
        e = self.event
        return {
            "v": 1,
            "seq": self.seq,
            "time": _iso(self.time),
            "event": e.event,
            "outcome": e.outcome,
            "actor": e.actor,
            "bundle_id": e.bundle_id,
            "issuer": None if e.issuer is None else e.issuer.to_json(),
            "recipients": [r.to_json() for r in e.recipients],
            "policy": None if e.policy_id is None else {"id": e.policy_id, "digest": e.policy_digest},
            "dataset": e.dataset,
            "epsilon_spent": e.epsilon_spent,
            "budget_remaining": e.budget_remaining,
            "reasons": list(e.reasons),
            "details": dict(e.details),
            "prev": self.prev,
        }

    @classmethod
    def from_json(cls, data: Any, *, line_hash: str) -> AuditRecord:
        """Rebuild a record from a parsed line; ValueError on any schema deviation."""
        if not isinstance(data, dict) or tuple(sorted(data)) != tuple(sorted(_KEYS)):
            raise ValueError("record does not have exactly the v1 keys")
        if type(data["v"]) is not int or data["v"] != 1:
            raise ValueError(f"unsupported record version {data['v']!r}")
        seq = data["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ValueError("seq must be a non-negative integer")
        if not isinstance(data["prev"], str) or not _HASH.match(data["prev"]):
            raise ValueError("prev must be 64 lower-case hex digits")
        if not isinstance(data["time"], str) or not data["time"].endswith("Z"):
            raise ValueError("time must be an ISO-8601 UTC string ending in Z")
        time = _dt.datetime.fromisoformat(data["time"][:-1] + "+00:00")
        policy = data["policy"]
        if policy is not None and (not isinstance(policy, dict) or set(policy) != {"id", "digest"}):
            raise ValueError("policy must be null or {id, digest}")
        if not isinstance(data["recipients"], list) or not isinstance(data["reasons"], list):
            raise ValueError("recipients and reasons must be arrays")
        if not isinstance(data["details"], dict):
            raise ValueError("details must be an object")
        event = AuditEvent(
            event=data["event"],
            outcome=data["outcome"],
            actor=data["actor"],
            bundle_id=data["bundle_id"],
            issuer=None if data["issuer"] is None else Party.from_json(data["issuer"]),
            recipients=tuple(Party.from_json(r) for r in data["recipients"]),
            policy_id=None if policy is None else policy["id"],
            policy_digest=None if policy is None else policy["digest"],
            dataset=data["dataset"],
            epsilon_spent=data["epsilon_spent"],
            budget_remaining=data["budget_remaining"],
            reasons=tuple(data["reasons"]),
            details=data["details"],
        )
        return cls(seq=seq, time=time, event=event, prev=data["prev"], hash=line_hash)


@dataclass(frozen=True)
class AuditSummary:
    """What a verified log holds: its path, how many records and the head hash."""

    path: str
    count: int
    head: str

    def to_json(self) -> dict:
        return {"path": self.path, "records": self.count, "head": self.head, "ok": True}


def record_hash(line: bytes) -> str:
    """Lower-case hex SHA-256 of one record's line bytes, without the trailing newline."""
    return hashlib.sha256(line).hexdigest()
