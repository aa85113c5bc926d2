"""The statement: what a bundle's issuer signs.

Canonical JSON (the DSSE payload)::

    {"v": 1, "kind": "secfp.statement",
     "bundle_id": 32 hex (128 random bits),
     "issuer": {"name": ..., "signing_key_id": 64 hex},
     "audience": [recipient encryption key ids; empty = public],
     "issued_at": "YYYY-MM-DDTHH:MM:SSZ", "expires_at": "...",
     "fingerprint": Fingerprint.to_json(),
     "card": {task card, free-form JSON object},
     "privacy": {"mechanism": "none"} or the DP ledger's statement,
     "policy": null or {"id": ..., "digest": 64 hex, "data_use": [DUO codes]}}

Building a :class:`Statement` checks every invariant; parsing one from
untrusted bytes turns every form error into :class:`InvalidBundle`.
"""

from __future__ import annotations

import re

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from secfp._io import canonical_json, strict_json_loads
from secfp.errors import BadInput, InvalidBundle, UsageError
from secfp.exchange._internal.encoding import (
    check_bundle_id,
    check_json_value,
    check_key_id,
    check_version,
    exact_fields,
    format_time,
    parse_canonical,
    parse_time,
)
from secfp.exchange._internal.format import (
    FORMAT_VERSION,
    MAX_CARD_BYTES,
    MAX_JSON_DEPTH,
    MAX_PRIVACY_BYTES,
    MAX_RECIPIENTS,
    MAX_STATEMENT_BYTES,
    STATEMENT_KIND,
)
from secfp.exchange.keys import check_name
from secfp.fingerprint.histogram import Fingerprint

__all__ = ["Statement", "NO_DP", "MAX_LIFETIME"]

MAX_LIFETIME = timedelta(days=1830)
NO_DP: Mapping[str, Any] = {"mechanism": "none"}


def _check_object(value: Any, *, what: str, cap: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadInput(f"{what} must be a JSON object")
    check_json_value(value, what=what, max_depth=MAX_JSON_DEPTH)
    encoded = canonical_json(value)
    if len(encoded) > cap:
        raise BadInput(f"{what} is larger than {cap} bytes")
    # A private deep copy: later changes to the caller's dict cannot reach the statement.
    return strict_json_loads(encoded, what=what)


_DATA_USE_CODE = re.compile(r"[A-Z]{2,8}(:[A-Za-z0-9_.:-]{1,64})?")
MAX_DATA_USE_CODES = 32


def _check_policy(value: Any) -> dict[str, Any] | None:
    """The export policy that allowed the bundle: id, SHA-256 of the policy file, data-use codes.

    The data-use codes (GA4GH DUO shorthand, e.g. HMB, NCU, DS:MONDO:0004992) are the
    terms the export policy attaches; only their form is checked here, their meaning
    belongs to the receiver's import policy.
    """
    if value is None:
        return None
    exact_fields(dict(value) if isinstance(value, Mapping) else value, {"id", "digest", "data_use"}, what="policy reference")
    policy_id, digest, data_use = value["id"], value["digest"], value["data_use"]
    if not isinstance(policy_id, str) or not 0 < len(policy_id) <= 256:
        raise BadInput("policy id must be a string of 1-256 characters")
    check_key_id(digest, what="policy digest")
    if not isinstance(data_use, list | tuple) or len(data_use) > MAX_DATA_USE_CODES:
        raise BadInput(f"policy data_use must be a list of at most {MAX_DATA_USE_CODES} codes")
    if not all(isinstance(c, str) and _DATA_USE_CODE.fullmatch(c) for c in data_use):
        raise BadInput("policy data_use holds a malformed data-use code")
    return {"id": policy_id, "digest": digest, "data_use": list(data_use)}


@dataclass(frozen=True, eq=False)
class Statement:
    """The signed content of a bundle. Building one checks every invariant.

    ``card``, ``privacy`` and ``policy`` are private deep copies of JSON data.
    ``privacy["mechanism"] == "none"`` exactly when the fingerprint is noise-free.
    """

    bundle_id: str
    issuer_name: str
    issuer_key_id: str
    audience: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    fingerprint: Fingerprint
    card: dict[str, Any] = field(default_factory=dict)
    privacy: dict[str, Any] = field(default_factory=lambda: dict(NO_DP))
    policy: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        check_bundle_id(self.bundle_id)
        try:
            check_name(self.issuer_name)
        except UsageError as exc:
            raise BadInput(str(exc)) from None
        check_key_id(self.issuer_key_id, what="issuer signing_key_id")
        audience = tuple(self.audience)
        for kid in audience:
            check_key_id(kid, what="audience key id")
        if len(set(audience)) != len(audience) or len(audience) > MAX_RECIPIENTS:
            raise BadInput(f"audience must list at most {MAX_RECIPIENTS} distinct key ids")
        object.__setattr__(self, "audience", audience)
        if not isinstance(self.fingerprint, Fingerprint):
            raise TypeError("a statement carries a Fingerprint")
        for when in (self.issued_at, self.expires_at):
            if not isinstance(when, datetime) or when.tzinfo is None or when.microsecond:
                raise BadInput("statement times must be timezone-aware and whole seconds")
        if not self.issued_at < self.expires_at <= self.issued_at + MAX_LIFETIME:
            raise BadInput(f"a statement must expire after it is issued and within {MAX_LIFETIME.days} days")
        object.__setattr__(self, "card", _check_object(self.card, what="task card", cap=MAX_CARD_BYTES))
        privacy = _check_object(self.privacy, what="privacy statement", cap=MAX_PRIVACY_BYTES)
        if not isinstance(privacy.get("mechanism"), str) or not privacy["mechanism"]:
            raise BadInput("the privacy statement must name its mechanism")
        if (privacy["mechanism"] == "none") == self.fingerprint.noisy:
            raise BadInput("privacy mechanism 'none' must go with a noise-free fingerprint, and only with one")
        object.__setattr__(self, "privacy", privacy)
        object.__setattr__(self, "policy", _check_policy(self.policy))

    @property
    def public(self) -> bool:
        return not self.audience

    def to_json(self) -> dict[str, Any]:
        return {
            "v": FORMAT_VERSION,
            "kind": STATEMENT_KIND,
            "bundle_id": self.bundle_id,
            "issuer": {"name": self.issuer_name, "signing_key_id": self.issuer_key_id},
            "audience": list(self.audience),
            "issued_at": format_time(self.issued_at),
            "expires_at": format_time(self.expires_at),
            "fingerprint": self.fingerprint.to_json(),
            "card": self.card,
            "privacy": self.privacy,
            "policy": self.policy,
        }

    @classmethod
    def from_json(cls, obj: Any) -> "Statement":
        """Strictly rebuild a statement; every form error is :class:`InvalidBundle`."""
        try:
            fields = {"v", "kind", "bundle_id", "issuer", "audience", "issued_at", "expires_at", "fingerprint", "card", "privacy", "policy"}
            exact_fields(obj, fields, what="statement")
            check_version(obj["v"], FORMAT_VERSION, what="secfp statement")
            if obj["kind"] != STATEMENT_KIND:
                raise BadInput(f"not a version-{FORMAT_VERSION} secfp statement")
            issuer = exact_fields(obj["issuer"], {"name", "signing_key_id"}, what="statement issuer")
            if not isinstance(obj["audience"], list):
                raise BadInput("statement audience must be a list")
            return cls(
                bundle_id=obj["bundle_id"],
                issuer_name=issuer["name"],
                issuer_key_id=issuer["signing_key_id"],
                audience=tuple(obj["audience"]),
                issued_at=parse_time(obj["issued_at"], what="issued_at"),
                expires_at=parse_time(obj["expires_at"], what="expires_at"),
                fingerprint=Fingerprint.from_json(obj["fingerprint"]),
                card=obj["card"],
                privacy=obj["privacy"],
                policy=obj["policy"],
            )
        except BadInput as exc:
            raise InvalidBundle(f"malformed statement: {exc}") from None
        except (ValueError, TypeError, OverflowError, MemoryError):
            raise InvalidBundle("malformed statement: a value is out of range") from None

    def payload(self) -> bytes:
        return canonical_json(self.to_json())

    @classmethod
    def from_payload(cls, unverified_payload: bytes) -> "Statement":
        if len(unverified_payload) > MAX_STATEMENT_BYTES:
            raise InvalidBundle(f"statement is larger than {MAX_STATEMENT_BYTES} bytes")
        return cls.from_json(parse_canonical(unverified_payload, what="statement", error=InvalidBundle, trailing_newline=False))
