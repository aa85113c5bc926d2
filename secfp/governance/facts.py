"""The facts a policy decides on, and its verdict: small frozen values, no I/O.

The governance layer never imports bundles or ledgers. The command line maps a bundle
(or an export about to happen) onto :class:`ExportRequest` or :class:`ImportFacts`;
the rules read only these fields. That keeps the policy core pure and testable, and
makes plain what a policy can and cannot see.
"""

from __future__ import annotations

import datetime as _dt
import hmac
import math
import re
from dataclasses import dataclass
from typing import Any

from secfp._io import format_utc
from secfp.errors import PolicyViolation
from secfp.mechanisms import Mechanism

__all__ = [
    "DP_MECHANISMS",
    "Party",
    "ExportRequest",
    "ImportFacts",
    "Verdict",
    "normalize_key_id",
    "same_key_id",
]

#: Mechanisms a privacy ledger may name; only ``discrete_gaussian`` counts as DP.
DP_MECHANISMS: tuple[str, ...] = tuple(m.value for m in Mechanism)
COUNTS_KINDS: tuple[str, ...] = ("exact", "dp_estimate", "unknown")

_KEY_ID = re.compile(r"^[0-9a-f]{64}$")


def normalize_key_id(key_id: str) -> str:
    """Check a key id as ``secfp.exchange`` writes it (SHA-256 of the raw public key,
    64 lower-case hex digits) and return it; ValueError otherwise."""
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise ValueError(f"not a key id (64 lower-case hex digits): {key_id!r}")
    return key_id


def same_key_id(a: str, b: str) -> bool:
    """Compare two key ids in constant time (STYLE.md: digests only via compare_digest)."""
    try:
        return hmac.compare_digest(normalize_key_id(a).encode(), normalize_key_id(b).encode())
    except ValueError:
        return False


def _aware(value: _dt.datetime, name: str) -> _dt.datetime:
    if not isinstance(value, _dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value


def _iso(value: _dt.datetime) -> str:
    return format_utc(value, precise=True)


def _parse_iso(value: Any, name: str) -> _dt.datetime:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be an ISO-8601 string")
    return _aware(_dt.datetime.fromisoformat(value.replace("Z", "+00:00")), name)


@dataclass(frozen=True)
class Party:
    """An institution as its identity card names it: card name and key id."""

    name: str
    key_id: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("a party needs a non-empty name")
        normalize_key_id(self.key_id)

    def short(self) -> str:
        return f"{self.name} ({normalize_key_id(self.key_id)[:12]}…)"

    def to_json(self) -> dict:
        return {"name": self.name, "key_id": self.key_id}

    @classmethod
    def from_json(cls, data: Any) -> Party:
        if not isinstance(data, dict) or set(data) != {"name", "key_id"}:
            raise ValueError("a party is an object with exactly name and key_id")
        return cls(name=data["name"], key_id=data["key_id"])


@dataclass(frozen=True, kw_only=True)
class ExportRequest:
    """Everything an export policy may decide on, for one release about to happen.

    ``epsilon``/``delta`` are what the bundle will declare (the larger accountant
    epsilon); ``dataset_spent_epsilon`` is what the dataset had spent *before* this
    release. ``card_fields`` are the dotted paths of the task-card fields that would
    leave (see :func:`secfp.governance.card.card_field_paths`). ``data_use`` are the
    DUO codes the statement will carry.
    """

    now: _dt.datetime
    source_image_count: int
    sampled_count: int
    dp_mechanism: str
    epsilon: float | None
    delta: float | None
    dataset_spent_epsilon: float
    recipients: tuple[Party, ...]
    public: bool
    lifetime: _dt.timedelta
    card_fields: tuple[str, ...]
    data_use: tuple[str, ...]
    # "exact" counts, "dp_estimate" (noisy, under DP) or "unknown" (a fingerprint file: no images seen).
    counts_kind: str = "exact"
    privacy_unit: str | None = None
    dataset_explicit: bool = True

    def __post_init__(self) -> None:
        _aware(self.now, "now")
        if self.counts_kind not in COUNTS_KINDS:
            raise ValueError(f"counts_kind must be one of {COUNTS_KINDS}")
        if self.privacy_unit is not None and self.privacy_unit not in ("patient", "volume", "image"):
            raise ValueError("privacy_unit must be patient, volume, image or None")
        for name in ("recipients", "card_fields", "data_use"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not all(isinstance(x, str) for x in self.card_fields + self.data_use):
            raise ValueError("card_fields and data_use must be strings")
        if not isinstance(self.public, bool):
            raise ValueError("public must be a boolean")
        for name in ("source_image_count", "sampled_count"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer")
        if self.dp_mechanism not in DP_MECHANISMS:
            raise ValueError(f"dp_mechanism must be one of {DP_MECHANISMS}")
        if self.dp_mechanism == "none":
            if self.epsilon is not None or self.delta is not None:
                raise ValueError("a release without DP has no epsilon or delta")
        else:
            if not isinstance(self.epsilon, int | float) or not math.isfinite(self.epsilon) or self.epsilon <= 0:
                raise ValueError("a DP release needs a finite epsilon > 0")
            if not isinstance(self.delta, int | float) or not 0 <= self.delta < 1:
                raise ValueError("a DP release needs 0 <= delta < 1")
        if not math.isfinite(self.dataset_spent_epsilon) or self.dataset_spent_epsilon < 0:
            raise ValueError("dataset_spent_epsilon must be a finite number >= 0")
        if not all(isinstance(r, Party) for r in self.recipients):
            raise ValueError("recipients must be Party values")
        if self.public and self.recipients:
            raise ValueError("a public bundle has no recipients")
        if not isinstance(self.lifetime, _dt.timedelta):
            raise ValueError("lifetime must be a timedelta")

    def to_json(self) -> dict:
        return {
            "now": _iso(self.now),
            "source_image_count": self.source_image_count,
            "sampled_count": self.sampled_count,
            "dp_mechanism": self.dp_mechanism,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "dataset_spent_epsilon": self.dataset_spent_epsilon,
            "recipients": [r.to_json() for r in self.recipients],
            "public": self.public,
            "lifetime_seconds": self.lifetime.total_seconds(),
            "card_fields": list(self.card_fields),
            "data_use": list(self.data_use),
            "counts_kind": self.counts_kind,
            "privacy_unit": self.privacy_unit,
            "dataset_explicit": self.dataset_explicit,
        }

    @classmethod
    def from_json(cls, data: dict) -> ExportRequest:
        return cls(
            now=_parse_iso(data["now"], "now"),
            source_image_count=data["source_image_count"],
            sampled_count=data["sampled_count"],
            dp_mechanism=data["dp_mechanism"],
            epsilon=data["epsilon"],
            delta=data["delta"],
            dataset_spent_epsilon=data["dataset_spent_epsilon"],
            recipients=tuple(Party.from_json(r) for r in data["recipients"]),
            public=data["public"],
            lifetime=_dt.timedelta(seconds=data["lifetime_seconds"]),
            card_fields=tuple(data["card_fields"]),
            data_use=tuple(data["data_use"]),
            counts_kind=data.get("counts_kind", "exact"),
            privacy_unit=data.get("privacy_unit"),
            dataset_explicit=data.get("dataset_explicit", True),
        )


@dataclass(frozen=True, kw_only=True)
class ImportFacts:
    """What an import policy may decide on, taken from a *verified* statement.

    Build it only from what the verifier returned. The values are still another
    institution's claims, so rules treat odd values (an unknown mechanism, a missing
    epsilon) as reasons to refuse rather than as programming errors.
    """

    now: _dt.datetime
    issuer: Party
    dp_mechanism: str
    epsilon: float | None
    delta: float | None
    issued_at: _dt.datetime
    spec_id: str
    data_use: tuple[str, ...]

    def __post_init__(self) -> None:
        _aware(self.now, "now")
        _aware(self.issued_at, "issued_at")
        object.__setattr__(self, "data_use", tuple(self.data_use))
        if not isinstance(self.issuer, Party):
            raise ValueError("issuer must be a Party")

    def to_json(self) -> dict:
        return {
            "now": _iso(self.now),
            "issuer": self.issuer.to_json(),
            "dp_mechanism": self.dp_mechanism,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "issued_at": _iso(self.issued_at),
            "spec_id": self.spec_id,
            "data_use": list(self.data_use),
        }

    @classmethod
    def from_json(cls, data: dict) -> ImportFacts:
        return cls(
            now=_parse_iso(data["now"], "now"),
            issuer=Party.from_json(data["issuer"]),
            dp_mechanism=data["dp_mechanism"],
            epsilon=data["epsilon"],
            delta=data["delta"],
            issued_at=_parse_iso(data["issued_at"], "issued_at"),
            spec_id=data["spec_id"],
            data_use=tuple(data["data_use"]),
        )


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """A policy's decision: every reason to refuse (none means allowed)."""

    action: str
    policy_id: str
    policy_digest: str
    reasons: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.action not in ("export", "import"):
            raise ValueError("action must be 'export' or 'import'")

    @property
    def allowed(self) -> bool:
        """True when no rule objected. Prefer :meth:`raise_if_refused` for enforcement."""
        return not self.reasons

    def raise_if_refused(self) -> Verdict:
        """Raise :class:`PolicyViolation` (exit 5) listing every reason; else return self."""
        if self.reasons:
            raise PolicyViolation(self.reasons, policy_id=self.policy_id)
        return self

    def to_json(self) -> dict:
        return {
            "action": self.action,
            "allowed": self.allowed,
            "policy": {"id": self.policy_id, "digest": self.policy_digest},
            "reasons": list(self.reasons),
        }

    @classmethod
    def from_json(cls, data: dict) -> Verdict:
        verdict = cls(
            action=data["action"],
            policy_id=data["policy"]["id"],
            policy_digest=data["policy"]["digest"],
            reasons=tuple(data["reasons"]),
        )
        if data.get("allowed") is not verdict.allowed:
            raise ValueError("verdict 'allowed' disagrees with its reasons")
        return verdict
