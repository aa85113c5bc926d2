"""Exporting a fingerprint: compute it, add DP noise, check the export policy, seal, charge, audit.

:func:`prepare_export` does everything that decides *what* would leave (the
released fingerprint, the privacy ledger, the filtered task card, recipients,
expiry) and the policy verdict, and writes nothing: it is what ``--dry-run``
shows. :func:`release` writes the bundle atomically, then charges the dataset's
privacy budget (reserved before the write, so two exports of one dataset never
overspend together) and appends the audit record. A refused export writes no
bundle, charges nothing, and is audited with every reason.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from secfp.errors import UsageError
from secfp.exchange import IdentityCard, PrivateIdentity, SealedBundle, export_bundle
from secfp.fingerprint.histogram import Fingerprint, load_fingerprint
from secfp.fingerprint.spec import FingerprintSpec
from secfp.governance import (
    AuditEvent,
    ExportRequest,
    Party,
    Policy,
    Verdict,
    append_event,
    card_field_paths,
    evaluate_export,
    filter_card,
)
from secfp.privacy import BudgetStore, PrivacyLedger, privatize

__all__ = ["DPRequest", "ExportPlan", "prepare_export", "release", "dataset_id_for", "audit_refusal"]

Progress = Callable[[int, int], None]


@dataclass(frozen=True, kw_only=True)
class DPRequest:
    """Differential privacy asked for on export. ``sample_rate`` None: expected n = ``samples``."""

    epsilon: float
    delta: float = 1e-6
    sample_rate: float | None = None


@dataclass(frozen=True, kw_only=True)
class ExportPlan:
    """Exactly what would be released, and the policy's verdict on it."""

    fingerprint: Fingerprint
    ledger: PrivacyLedger
    recipients: tuple[IdentityCard, ...]
    public: bool
    lifetime: timedelta
    card: dict[str, Any] | None
    withheld_card_fields: tuple[str, ...]
    policy: Policy | None
    verdict: Verdict | None
    dataset: str | None
    source_image_count: int | None
    sampled_count: int
    budget_spent: float | None = None
    budget_total: float | None = None
    data_use: tuple[str, ...] = field(default=())

    @property
    def allowed(self) -> bool:
        return self.verdict is None or self.verdict.allowed

    def policy_reference(self) -> dict[str, Any] | None:
        if self.policy is None:
            return None
        return {"id": self.policy.id, "digest": self.policy.digest, "data_use": list(self.data_use)}

    def to_json(self, *, now: datetime) -> dict[str, Any]:
        """What ``--dry-run`` prints: every field that would leave, and the verdict."""
        return {
            "would_release": {
                "fingerprint": {"spec_id": self.fingerprint.spec_id, "shape": list(self.fingerprint.shape),
                                "n": self.fingerprint.n, "noisy": self.fingerprint.noisy,
                                "feature_mean": "estimated from the noisy histogram" if self.fingerprint.noisy else "exact"},
                "privacy": self.ledger.to_json(),
                "card": self.card,
                "policy": self.policy_reference(),
                "recipients": [{"name": c.name, "encryption_key_id": c.encryption_key_id} for c in self.recipients],
                "public": self.public,
                "expires_at": (now + self.lifetime).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "withheld_card_fields": list(self.withheld_card_fields),
            "dataset": self.dataset,
            "budget": None if self.budget_total is None else {
                "total_epsilon": self.budget_total, "spent_before": self.budget_spent,
                "after": (self.budget_spent or 0.0) + (self.ledger.epsilon or 0.0)},
            "verdict": None if self.verdict is None else self.verdict.to_json(),
            "allowed": self.allowed,
        }


def dataset_id_for(inputs: Sequence[Path]) -> str:
    """Default dataset id for budgeting: a digest of the inputs' resolved paths.

    Set ``--dataset`` explicitly when one collection is reachable under several
    paths: the budget is per dataset id, and only an honest id makes it bind.
    """
    joined = "\n".join(sorted(str(Path(p).resolve()) for p in inputs))
    return "images:" + hashlib.sha256(joined.encode()).hexdigest()[:24]


def _is_fingerprint_file(inputs: Sequence[Path]) -> bool:
    """One file whose content is JSON (by content, not extension: no image format starts with ``{``)."""
    if len(inputs) != 1 or not Path(inputs[0]).is_file():
        return False
    try:
        with Path(inputs[0]).open("rb") as fh:
            return fh.read(64).lstrip().startswith(b"{")
    except OSError:
        return False


def _dp_card(card: dict[str, Any] | None, *, fp: Fingerprint, sample_rate: float) -> dict[str, Any] | None:
    """Under DP the exact image count is private too: replace it by the estimate n_hat / q (post-processing)."""
    if card is None or "task" not in card or "images" not in card["task"]:
        return card
    task = dict(card["task"], images=max(1, round(fp.n / sample_rate)), images_kind="dp_estimate")
    return {**card, "task": task}


def prepare_export(
    inputs: Sequence[Path],
    *,
    spec: FingerprintSpec,
    samples: int,
    seed: int,
    dp: DPRequest | None,
    recipients: Sequence[IdentityCard],
    public: bool,
    lifetime: timedelta,
    card: dict[str, Any] | None,
    policy: Policy | None,
    dataset: str | None,
    budget: BudgetStore | None,
    now: datetime,
    on_progress: Progress | None = None,
) -> ExportPlan:
    """Compute what would be released and judge it; writes nothing."""
    from secfp.fingerprint.pipeline import fingerprint_paths, fingerprint_poisson

    if dp is None and policy is not None and policy.export is not None and policy.export.dp_required:
        raise UsageError(f"policy {policy.id} requires differential privacy: give --dp-epsilon")
    source_images: int | None = None
    if _is_fingerprint_file(inputs):
        if dp is not None:
            raise UsageError("a DP export needs the images, not a fingerprint file: the noise is calibrated to "
                             "Poisson-sampled counts in which every image adds at most one count per feature")
        released = load_fingerprint(inputs[0])
        ledger, sampled, dataset = PrivacyLedger.none(spec_id=released.spec_id), released.n, None
    elif dp is None:
        run = fingerprint_paths([str(p) for p in inputs], spec=spec, samples=samples, seed=seed, on_progress=on_progress)
        released, ledger = run.fingerprint, PrivacyLedger.none(spec_id=run.fingerprint.spec_id)
        sampled, source_images, dataset = released.n, len(run.report.refs), None
    else:
        from secfp.fingerprint.images import scan

        report = scan([str(p) for p in inputs])
        source_images = len(report.refs)
        rate = dp.sample_rate if dp.sample_rate is not None else min(1.0, samples / source_images)
        # The Poisson sample must be secret for amplification by subsampling to hold.
        rng = np.random.default_rng(secrets.randbits(128))
        run = fingerprint_poisson([str(p) for p in inputs], spec=spec, sample_rate=rate, rng=rng,
                                  on_progress=on_progress, report=report)
        sampled = run.fingerprint.n
        released, ledger = privatize(run.fingerprint, epsilon=dp.epsilon, delta=dp.delta, sample_rate=rate, spec=spec)
        card = _dp_card(card, fp=released, sample_rate=rate)
        dataset = dataset or dataset_id_for(inputs)

    budget_spent = budget_total = None
    if ledger.is_private and budget is not None:
        state = budget.state(dataset)
        budget_spent, budget_total = state.spent_epsilon, budget.total_epsilon

    withheld: tuple[str, ...] = ()
    verdict = None
    data_use: tuple[str, ...] = ()
    if policy is not None and policy.export is not None:
        if card is not None:
            filtered = filter_card(card, policy.export.card)
            card, withheld = filtered.released, filtered.withheld
        data_use = policy.export.data_use
        request = ExportRequest(
            now=now,
            source_image_count=source_images if source_images is not None else sampled,
            sampled_count=sampled,
            dp_mechanism=ledger.mechanism,
            epsilon=ledger.epsilon,
            delta=ledger.delta,
            dataset_spent_epsilon=budget_spent or 0.0,
            recipients=tuple(Party(c.name, c.encryption_key_id) for c in recipients),
            public=public,
            lifetime=lifetime,
            card_fields=card_field_paths(card or {}),
            data_use=data_use,
        )
        verdict = evaluate_export(policy, request)
    elif policy is not None:
        raise UsageError(f"policy {policy.id} has no [export] table: it cannot allow an export")
    return ExportPlan(
        fingerprint=released, ledger=ledger, recipients=tuple(recipients), public=public, lifetime=lifetime,
        card=card, withheld_card_fields=withheld, policy=policy, verdict=verdict, dataset=dataset,
        source_image_count=source_images, sampled_count=sampled, budget_spent=budget_spent,
        budget_total=budget_total, data_use=data_use,
    )


def _event(plan: ExportPlan, *, outcome: str, actor: str, bundle_id: str | None = None, reasons=(), remaining=None, details=None) -> AuditEvent:
    policy = plan.policy
    return AuditEvent(
        event="export",
        outcome=outcome,
        actor=actor,
        bundle_id=bundle_id,
        recipients=tuple(Party(c.name, c.encryption_key_id) for c in plan.recipients),
        policy_id=policy.id if policy is not None else None,
        policy_digest=policy.digest if policy is not None else None,
        dataset=plan.dataset,
        epsilon_spent=plan.ledger.epsilon if plan.ledger.is_private and outcome == "ok" else None,
        budget_remaining=remaining,
        reasons=tuple(reasons),
        details=details or {"public": plan.public, "spec_id": plan.fingerprint.spec_id},
    )


def audit_refusal(plan: ExportPlan, *, audit_log: Path, actor: str, now: datetime, reasons: Sequence[str]) -> None:
    append_event(audit_log, _event(plan, outcome="refused", actor=actor, reasons=reasons), now=now)


def release(
    plan: ExportPlan,
    output: Path,
    *,
    issuer: PrivateIdentity,
    budget: BudgetStore | None,
    audit_log: Path,
    actor: str,
    now: datetime,
) -> SealedBundle:
    """Write the bundle (atomically), charge the budget, append the audit record.

    Raises :class:`PolicyViolation` (after auditing it) when the plan was refused,
    and BudgetExceeded (also audited) when the dataset's budget cannot pay.
    """
    if not plan.allowed:
        assert plan.verdict is not None
        audit_refusal(plan, audit_log=audit_log, actor=actor, now=now, reasons=plan.verdict.reasons)
        plan.verdict.raise_if_refused()
    kwargs = dict(issuer=issuer, recipients=plan.recipients, public=plan.public, now=now, lifetime=plan.lifetime,
                  card=plan.card, privacy=plan.ledger.to_json(), policy=plan.policy_reference())
    if not (plan.ledger.is_private and budget is not None):
        sealed = export_bundle(plan.fingerprint, output, **kwargs)
        append_event(audit_log, _event(plan, outcome="ok", actor=actor, bundle_id=sealed.statement.bundle_id), now=now)
        return sealed
    from secfp.errors import BudgetExceeded

    try:
        with budget.reserve(plan.dataset, epsilon=plan.ledger.epsilon, delta=plan.ledger.delta,
                            label=f"export to {output.name}", now=now):
            sealed = export_bundle(plan.fingerprint, output, **kwargs)
    except BudgetExceeded as exc:
        append_event(audit_log, _event(plan, outcome="refused", actor=actor, reasons=(exc.diagnostics(),)), now=now)
        raise
    remaining = budget.state(plan.dataset).remaining_epsilon
    append_event(audit_log, _event(plan, outcome="ok", actor=actor, bundle_id=sealed.statement.bundle_id, remaining=remaining), now=now)
    return sealed
