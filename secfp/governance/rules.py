"""Policy rules as small objects with one method, and the pure evaluation of a policy.

Following sigstore's ``VerificationPolicy`` (STYLE.md section 1), a policy compiles into
objects such as ``AllOf([MinSourceImages(500), DPRequired(...), ...])``. Each rule has
one method, ``reasons(facts) -> tuple[str, ...]``, which returns every objection (an
empty tuple means no objection). Rules return reasons rather than raising so that a
refusal can list every broken rule at once, not only the first;
:meth:`Verdict.raise_if_refused` turns them into one ``PolicyViolation``.

Deny by default: ``AllOf([])`` objects, a policy without an ``[export]`` table refuses
every export, and an issuer that is not listed is refused unless the policy says
``allow_any_issuer = true``. Each reason starts with the policy key that produced it.

DP caps (``MaxEpsilon``, ``MaxDelta``, ``DatasetBudget``) speak about DP releases only;
a release without DP is the business of ``DPRequired``, and the policy parser only
accepts caps together with ``dp_required = true``, so the two always come as a pair.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from secfp._io import format_utc
from secfp.governance.duo import Purpose
from secfp.governance.export_rules import (
    CardFieldsAllowed,
    DatasetBudget,
    DatasetNamed,
    DataUseCarried,
    MaxLifetime,
    MinSampledImages,
    MinSourceImages,
    PrivacyUnitRequired,
    PublicAllowed,
    RecipientsAllowed,
)
from secfp.governance.facts import ExportRequest, ImportFacts, Verdict
from secfp.governance.import_rules import ByIssuer, DataUseCompatible, IssuerListed, MaxAge, SpecAccepted
from secfp.governance.policy import Policy
from secfp.mechanisms import Mechanism

__all__ = [
    "Rule",
    "AllOf",
    "PolicyInForce",
    "MinSourceImages",
    "MinSampledImages",
    "DPRequired",
    "MaxEpsilon",
    "MaxDelta",
    "DatasetBudget",
    "RecipientsAllowed",
    "PublicAllowed",
    "MaxLifetime",
    "CardFieldsAllowed",
    "DataUseCarried",
    "DataUseCompatible",
    "compile_export",
    "compile_import",
    "evaluate_export",
    "evaluate_import",
]

_DP = Mechanism.DISCRETE_GAUSSIAN.value


class Rule(Protocol):
    """A policy object: one method, every objection it has to ``facts`` (none: passes)."""

    def reasons(self, facts: Any) -> tuple[str, ...]: ...


def _iso(value: _dt.datetime) -> str:
    return format_utc(value, precise=True)


@dataclass(frozen=True)
class AllOf:
    """Every rule must pass; collects all objections. ``AllOf([])`` objects: an empty
    rule list would otherwise allow everything by accident (sigstore's ``AllOf``)."""

    rules: tuple[Rule, ...]

    def __init__(self, rules: Sequence[Rule]) -> None:
        object.__setattr__(self, "rules", tuple(rules))

    def reasons(self, facts: Any) -> tuple[str, ...]:
        if not self.rules:
            return ("empty policy: nothing is allowed",)
        out: list[str] = []
        for rule in self.rules:
            out.extend(rule.reasons(facts))
        return tuple(out)


@dataclass(frozen=True)
class PolicyInForce:
    """The policy itself must be valid at ``facts.now`` (a long-running process may
    hold a policy past its expiry)."""

    valid_from: _dt.datetime
    valid_until: _dt.datetime

    def reasons(self, facts: Any) -> tuple[str, ...]:
        if self.valid_from <= facts.now < self.valid_until:
            return ()
        return (
            f"policy: not in force at {_iso(facts.now)} "
            f"(valid from {_iso(self.valid_from)} until {_iso(self.valid_until)})",
        )


@dataclass(frozen=True)
class DPRequired:
    """Only the exact discrete Gaussian mechanism counts as differential privacy."""

    key: str = "export.dp_required"

    def reasons(self, facts: Any) -> tuple[str, ...]:
        if facts.dp_mechanism == _DP:
            return ()
        return (f"{self.key}: differential privacy is required, the release uses mechanism {facts.dp_mechanism!r}",)


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class MaxEpsilon:
    """Epsilon a DP release declares must be at most ``cap``; a DP claim without a finite
    positive epsilon is refused (an issuer's claim is still only a claim)."""

    cap: float
    key: str = "export.max_epsilon"

    def reasons(self, facts: Any) -> tuple[str, ...]:
        if facts.dp_mechanism != _DP:
            return ()
        if not _finite_number(facts.epsilon) or facts.epsilon <= 0:
            return (f"{self.key}: the release declares DP but no valid epsilon ({facts.epsilon!r})",)
        if facts.epsilon <= self.cap:
            return ()
        return (f"{self.key}: epsilon {facts.epsilon:g} is above the cap of {self.cap:g}",)


@dataclass(frozen=True)
class MaxDelta:
    cap: float
    key: str = "export.max_delta"

    def reasons(self, facts: Any) -> tuple[str, ...]:
        if facts.dp_mechanism != _DP:
            return ()
        if not _finite_number(facts.delta) or not 0 <= facts.delta < 1:
            return (f"{self.key}: the release declares DP but no valid delta ({facts.delta!r})",)
        if facts.delta <= self.cap:
            return ()
        return (f"{self.key}: delta {facts.delta:g} is above the cap of {self.cap:g}",)


def compile_export(policy: Policy) -> AllOf:
    """The export rules of ``policy`` as one rule object (refuses all without [export])."""
    rules = policy.export
    if rules is None:
        return AllOf([])
    compiled: list[Rule] = [
        PolicyInForce(policy.valid_from, policy.valid_until),
        MinSourceImages(rules.min_source_images),
        MinSampledImages(rules.min_sampled_images),
    ]
    if rules.dp_required:
        compiled += [DPRequired(), MaxEpsilon(rules.max_epsilon), MaxDelta(rules.max_delta)]
        if rules.dataset_epsilon_budget is not None:
            compiled.append(DatasetBudget(rules.dataset_epsilon_budget))
        if rules.privacy_unit is not None:
            compiled.append(PrivacyUnitRequired(rules.privacy_unit))
        if rules.require_dataset:
            compiled.append(DatasetNamed())
    compiled += [
        RecipientsAllowed(rules.recipients, rules.allow_any_recipient),
        PublicAllowed(rules.allow_public),
        MaxLifetime(rules.max_lifetime_days),
        CardFieldsAllowed(rules.card),
        DataUseCarried(rules.data_use),
    ]
    return AllOf(compiled)


def _import_checks(
    *, dp_required: tuple[bool, str], max_epsilon: tuple[float | None, str], max_delta: float | None,
    max_age_days: tuple[int, str], spec_ids: tuple[tuple[str, ...] | None, str], purpose: Purpose,
) -> AllOf:
    """One issuer's checks; each value comes with the policy key it was read from."""
    checks: list[Rule] = []
    if dp_required[0]:
        checks.append(DPRequired(key=f"{dp_required[1]}.dp_required"))
        if max_epsilon[0] is not None:
            checks.append(MaxEpsilon(max_epsilon[0], key=f"{max_epsilon[1]}.max_epsilon"))
        if max_delta is not None:
            checks.append(MaxDelta(max_delta, key="import.max_delta"))
    checks.append(MaxAge(max_age_days[0], key=f"{max_age_days[1]}.max_age_days"))
    if spec_ids[0] is not None:
        checks.append(SpecAccepted(spec_ids[0], key=f"{spec_ids[1]}.spec_ids"))
    checks.append(DataUseCompatible(purpose))
    return AllOf(checks)


def compile_import(policy: Policy) -> AllOf:
    """The import rules of ``policy`` as one rule object (refuses all without [import]).

    A listed issuer's own values replace the global ones for bundles it signed; an
    unlisted issuer gets the global values if ``allow_any_issuer``, else a refusal.
    """
    rules = policy.import_
    if rules is None:
        return AllOf([])
    g = "import"
    global_specs = None if rules.accept_any_spec else rules.spec_ids
    default = _import_checks(
        dp_required=(rules.dp_required, g), max_epsilon=(rules.max_epsilon, g), max_delta=rules.max_delta,
        max_age_days=(rules.max_age_days, g), spec_ids=(global_specs, g), purpose=rules.purpose,
    )
    per_issuer = []
    for index, issuer in enumerate(rules.issuers):
        own = f"import.issuers[{index}]"
        dp = (rules.dp_required, g) if issuer.dp_required is None else (issuer.dp_required, own)
        checks = _import_checks(
            dp_required=dp,
            max_epsilon=(issuer.max_epsilon, own) if issuer.max_epsilon is not None else (rules.max_epsilon, g),
            max_delta=rules.max_delta,
            max_age_days=(issuer.max_age_days, own) if issuer.max_age_days is not None else (rules.max_age_days, g),
            spec_ids=(issuer.spec_ids, own) if issuer.spec_ids is not None else (global_specs, g),
            purpose=rules.purpose,
        )
        per_issuer.append((issuer.party, checks))
    return AllOf([
        PolicyInForce(policy.valid_from, policy.valid_until),
        IssuerListed(tuple(p for p, _ in per_issuer), allow_any=rules.allow_any_issuer),
        ByIssuer(default=default if rules.allow_any_issuer else None, per_issuer=tuple(per_issuer)),
    ])


def evaluate_export(policy: Policy, request: ExportRequest) -> Verdict:
    """Pure: every reason ``policy`` refuses ``request`` (none means allowed)."""
    reasons = compile_export(policy).reasons(request)
    if policy.export is None:
        reasons = (f"policy {policy.id} has no [export] rules, so it allows no export",)
    return Verdict(action="export", policy_id=policy.id, policy_digest=policy.digest, reasons=reasons)


def evaluate_import(policy: Policy, facts: ImportFacts) -> Verdict:
    """Pure: every reason ``policy`` refuses the verified bundle described by ``facts``."""
    reasons = compile_import(policy).reasons(facts)
    if policy.import_ is None:
        reasons = (f"policy {policy.id} has no [import] rules, so it accepts no bundle",)
    return Verdict(action="import", policy_id=policy.id, policy_digest=policy.digest, reasons=reasons)
