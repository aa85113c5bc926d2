"""Rules that only an import policy uses: issuers, bundle age and accepted specs.

These decide on :class:`~secfp.governance.facts.ImportFacts`, which come from a
statement the verifier has already accepted (signature, trust store, audience,
expiry, replay). They add institutional conditions on top; they do not repeat the
verifier's checks (a bundle dated in the future is the verifier's to refuse).
"""

from __future__ import annotations

import datetime as _dt
import hmac
from dataclasses import dataclass
from typing import Any

from secfp.governance.duo import Purpose, incompatibilities
from secfp.governance.facts import ImportFacts, Party, normalize_key_id, same_key_id

__all__ = ["IssuerListed", "ByIssuer", "MaxAge", "SpecAccepted", "DataUseCompatible"]


def _listed(issuers: tuple[Party, ...], issuer: Party) -> Party | None:
    for party in issuers:
        if party.name == issuer.name and same_key_id(party.key_id, issuer.key_id):
            return party
    return None


@dataclass(frozen=True)
class IssuerListed:
    """The issuer must be listed by card name and key id, unless any trusted issuer is
    allowed. A listed name with another key is refused either way: a rotated key is
    for the data-protection officer to approve, not for the software to guess."""

    issuers: tuple[Party, ...]
    allow_any: bool = False

    def reasons(self, facts: ImportFacts) -> tuple[str, ...]:
        issuer = facts.issuer
        if _listed(self.issuers, issuer):
            return ()
        same_name = [p for p in self.issuers if p.name == issuer.name]
        if same_name:
            return (
                f"import.issuers: issuer {issuer.short()} signs with another key than the policy "
                f"lists for {issuer.name!r} ({normalize_key_id(same_name[0].key_id)[:12]}…)",
            )
        if self.allow_any:
            return ()
        return (f"import.issuers: issuer {issuer.short()} is not listed",)


@dataclass(frozen=True)
class ByIssuer:
    """Apply the listed issuer's own rule, else ``default`` (None: no rule, because
    :class:`IssuerListed` already refuses unlisted issuers)."""

    default: Any
    per_issuer: tuple[tuple[Party, Any], ...]

    def reasons(self, facts: ImportFacts) -> tuple[str, ...]:
        for party, rule in self.per_issuer:
            if party.name == facts.issuer.name and same_key_id(party.key_id, facts.issuer.key_id):
                return rule.reasons(facts)
        if self.default is None:
            return ()
        return self.default.reasons(facts)


@dataclass(frozen=True)
class MaxAge:
    days: int
    key: str = "import.max_age_days"

    def reasons(self, facts: ImportFacts) -> tuple[str, ...]:
        age = facts.now - facts.issued_at
        if age <= _dt.timedelta(days=self.days):
            return ()
        return (
            f"{self.key}: the bundle was issued {age / _dt.timedelta(days=1):.1f} days ago, "
            f"at most {self.days} days are accepted",
        )


@dataclass(frozen=True)
class SpecAccepted:
    spec_ids: tuple[str, ...]
    key: str = "import.spec_ids"

    def reasons(self, facts: ImportFacts) -> tuple[str, ...]:
        spec = facts.spec_id if isinstance(facts.spec_id, str) else ""
        if any(hmac.compare_digest(spec.encode(), accepted.encode()) for accepted in self.spec_ids):
            return ()
        return (f"{self.key}: fingerprint spec {facts.spec_id!r} is not accepted",)


@dataclass(frozen=True)
class DataUseCompatible:
    """The bundle's DUO codes must allow our purpose (see :mod:`secfp.governance.duo`)."""

    purpose: Purpose

    def reasons(self, facts: ImportFacts) -> tuple[str, ...]:
        return tuple(f"import.purpose: {why}" for why in incompatibilities(facts.data_use, self.purpose))
