"""Exporting a fingerprint: compute it, add DP noise, check the export policy, seal, charge, audit.

:func:`prepare_export` does everything that decides *what* would leave (the
released fingerprint, the privacy ledger, the filtered task card, recipients,
expiry), the policy verdict and the warnings, and writes nothing: it is what
``--dry-run`` shows. :func:`release` makes the side effects happen only together
with their audit record: the dataset's budget is reserved under its lock (check
and reservation are one step, so concurrent exports never overspend; under DP the
budget of the inputs' content id too when ``--dataset`` names another), the bundle
is sealed in memory, the audit record is appended, and only then is the bundle
written and the reservation turned into a charge. Any failure before the audit
record withdraws the reservation and writes nothing; a failed write after it is
audited as ``failed``. A refused export writes no bundle, charges nothing, and is
audited with every reason.

Under DP nothing exact travels next to the noise:

- the sampling rate q is public (``--sample-rate``, else the policy's
  ``dp_sample_rate``, else 1), never derived from the number of images;
- units (patients, volumes, images; :mod:`secfp.fingerprint.units`) are
  Poisson-sampled and contribute at most k images each;
- policy gates compare the noisy estimates n-hat / q and n-hat, not the exact counts;
- the numeric path does not depend on the realised sample size;
- the privacy unit the ledger names is not chosen by one image: inputs where only
  some images carry a patient id need an explicit unit;
- task-card fields measured on the private data (:data:`DP_PRIVATE_CARD_FIELDS`)
  are withheld unless the export policy's card allow-list names them explicitly,
  and the ledger's ``not_covered`` lists every card field that leaves outside the noise.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from secfp._io import atomic_write_bytes
from secfp.errors import BadInput, BudgetExceeded, UsageError
from secfp.exchange import IdentityCard, PrivateIdentity, SealedBundle
from secfp.exchange.bundle import seal_bundle
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
from secfp.privacy import BudgetStore, PrivacyLedger, privatize_counts
from secfp.privacy.release import USELESS_NOISE_RELATIVE

__all__ = ["DPRequest", "ExportPlan", "prepare_export", "release", "dataset_id_for", "audit_refusal",
           "DP_PRIVATE_CARD_FIELDS", "DP_NUMERICS", "effective_budget", "public_sample_rate"]

Progress = Callable[[int, int], None]
# Card fields measured on the private data: released under DP only if the policy's card allow-list names them.
DP_PRIVATE_CARD_FIELDS = ("knowledge.architecture", "knowledge.pretrained_weights", "knowledge.augmentation",
                          "knowledge.cotraining")
# Card fields computed from the noisy release (post-processing): covered by the ledger.
_DP_DERIVED_CARD_FIELDS = ("task.images", "task.images_kind")
# The numeric path of every DP export, whatever the sample size (recorded in the plan and the audit record).
DP_NUMERICS = "channels-last"
_BUDGET_RULE = "export.dataset_epsilon_budget"
# Gates that read the released counts' estimates: under DP their verdict is a function of the noise.
_NOISY_COUNT_RULES = ("export.min_source_images", "export.min_sampled_images")


@dataclass(frozen=True, kw_only=True)
class DPRequest:
    """Differential privacy asked for on export; every field is a public choice.

    ``sample_rate`` None: the policy's ``dp_sample_rate``, else 1. ``privacy_unit`` None:
    the coarsest the inputs provide. ``max_images_per_unit`` None: the unit's default
    (:data:`secfp.fingerprint.units.DEFAULT_MAX_IMAGES_PER_UNIT`). ``units`` is a
    ``path,unit`` CSV mapping every input file to its patient.
    """

    epsilon: float
    delta: float = 1e-6
    sample_rate: float | None = None
    privacy_unit: str | None = None
    max_images_per_unit: int | None = None
    units: Path | None = None


@dataclass(frozen=True, kw_only=True)
class ExportPlan:
    """Exactly what would be released, the policy's verdict on it, and what the user should know."""

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
    counts_kind: str = "exact"
    numerics: str | None = None
    sample_rate_source: str | None = None
    warnings: tuple[str, ...] = ()
    content_dataset: str | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict is None or self.verdict.allowed

    @property
    def budget_datasets(self) -> tuple[str, ...]:
        """Every budget a DP release of this plan is charged to: ``--dataset`` and the inputs' content id."""
        return tuple(dict.fromkeys(d for d in (self.content_dataset, self.dataset) if d is not None))

    def policy_reference(self) -> dict[str, Any] | None:
        if self.policy is None:
            return None
        return {"id": self.policy.id, "digest": self.policy.digest, "data_use": list(self.data_use)}

    def to_json(self, *, now: datetime) -> dict[str, Any]:
        """What ``--dry-run`` prints: every field that would leave, the gates' inputs, the verdict, the warnings."""
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
            "not_covered_by_privacy": list(self.ledger.not_covered),
            "gates": {"source_images": self.source_image_count, "sampled_images": self.sampled_count,
                      "counts": self.counts_kind},
            "numerics": self.numerics,
            "sample_rate_source": self.sample_rate_source,
            "dataset": self.dataset,
            "content_dataset": self.content_dataset,
            "budget": None if self.budget_total is None else {
                "total_epsilon": self.budget_total, "spent_before": self.budget_spent,
                "after": (self.budget_spent or 0.0) + (self.ledger.epsilon or 0.0)},
            "verdict": None if self.verdict is None else self.verdict.to_json(),
            "allowed": self.allowed,
            "warnings": list(self.warnings),
        }


def dataset_id_for(inputs: Sequence[Path], *, nifti_axis: int = 2) -> str:
    """Default dataset id for budgeting: a digest of the inputs' de-duplicated file contents.

    Copies and renamed folders share it; a subset, a superset or re-encoded images do
    not (SECURITY.md). Give ``--dataset`` for an id that binds across those too.
    """
    from secfp.fingerprint.images import scan
    from secfp.fingerprint.units import assign_units

    return assign_units(scan([str(p) for p in inputs], nifti_axis=nifti_axis), privacy_unit="image").dataset_id


def effective_budget(budget: BudgetStore | None, policy: Policy | None) -> BudgetStore | None:
    """The budget store whose total is the smallest of the store's and the policy's: the policy always binds."""
    cap = policy.export.dataset_epsilon_budget if policy is not None and policy.export is not None else None
    if budget is None or cap is None or cap >= budget.total_epsilon:
        return budget
    return replace(budget, total_epsilon=float(cap))


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


def _explicitly_allowed(path: str, policy: Policy | None) -> bool:
    """True when the policy's card allow-list names ``path`` or a field below it (a broader prefix does not count)."""
    if policy is None or policy.export is None:
        return False
    return any(a == path or a.startswith(path + ".") for a in policy.export.card.allow)


def _withhold_private_fields(card: dict[str, Any] | None, policy: Policy | None) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    if not card or "knowledge" not in card:
        return card, ()
    knowledge, withheld = dict(card["knowledge"]), []
    for path in DP_PRIVATE_CARD_FIELDS:
        name = path.split(".", 1)[1]
        if name in knowledge and not _explicitly_allowed(path, policy):
            del knowledge[name]
            withheld.append(path)
    out = {**card, "knowledge": knowledge} if knowledge else {k: v for k, v in card.items() if k != "knowledge"}
    return out, tuple(withheld)


def public_sample_rate(dp: DPRequest, policy: Policy | None) -> tuple[float, str, tuple[str, ...]]:
    """q from public inputs only: the flag (capped at the policy's), else the policy's, else 1."""
    cap = policy.export.dp_sample_rate if policy is not None and policy.export is not None else None
    if dp.sample_rate is None:
        return (cap, "policy", ()) if cap is not None else (1.0, "default", ())
    if cap is not None and dp.sample_rate > cap:
        return cap, "policy", (f"sample rate {dp.sample_rate:g} capped at the policy's dp_sample_rate {cap:g}",)
    return float(dp.sample_rate), "flag", ()


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
    """Compute what would be released and judge it; writes nothing.

    A policy that requires DP refuses a release without it in the verdict (exit 5 and
    an audit record at :func:`release`), it does not stop here.
    """
    from secfp.fingerprint.pipeline import fingerprint_paths

    if policy is not None and policy.export is None:
        raise UsageError(f"policy {policy.id} has no [export] table: it cannot allow an export")
    budget = effective_budget(budget, policy)
    warnings: list[str] = []
    source_images: int | None = None
    counts_kind, numerics, rate_source, privacy_unit, content_dataset = "exact", None, None, None, None
    dataset_explicit = dataset is not None
    withheld: tuple[str, ...] = ()
    if _is_fingerprint_file(inputs):
        if dp is not None:
            raise UsageError("a DP export needs the images, not a fingerprint file: the noise is calibrated to "
                             "Poisson-sampled units that each add at most k images")
        released = load_fingerprint(inputs[0])
        ledger, sampled, dataset, counts_kind = PrivacyLedger.none(spec_id=released.spec_id), released.n, None, "unknown"
        source_images = 0
    elif dp is None:
        run = fingerprint_paths([str(p) for p in inputs], spec=spec, samples=samples, seed=seed, on_progress=on_progress)
        released, ledger = run.fingerprint, PrivacyLedger.none(spec_id=run.fingerprint.spec_id)
        sampled, source_images, dataset, numerics = released.n, len(run.report.refs), None, run.numerics
    else:
        released, ledger, card, withheld, facts = _dp_release(inputs, spec=spec, dp=dp, policy=policy, card=card,
                                                              on_progress=on_progress)
        sampled, source_images, warnings_dp, rate_source, privacy_unit, numerics, content_dataset = facts
        warnings += warnings_dp
        counts_kind = "dp_estimate"
        if dataset is not None and dataset != content_dataset:
            # A new name must not start a fresh budget for the same images: both budgets are charged.
            warnings.append(f"--dataset {dataset!r}: this release is charged to that budget and to the budget of "
                            f"the inputs' content ({content_dataset}); a new name never resets what these images spent")
        dataset = dataset or content_dataset
    if not ledger.is_private:
        warnings.append("this release carries no differential privacy: exact counts can reveal information about patients")

    budget_spent = budget_total = None
    if ledger.is_private and budget is not None:
        # The most spent of the budgets this release is charged to (the named one and the content's).
        names = tuple(dict.fromkeys(d for d in (dataset, content_dataset) if d is not None))
        budget_spent = max(budget.state(d).spent_epsilon for d in names)
        budget_total = budget.total_epsilon

    verdict = None
    data_use: tuple[str, ...] = ()
    if policy is not None and policy.export is not None:
        if card is not None:
            filtered = filter_card(card, policy.export.card)
            card, withheld = filtered.released, tuple(sorted(set(withheld) | set(filtered.withheld)))
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
            counts_kind=counts_kind,
            privacy_unit=privacy_unit,
            dataset_explicit=dataset_explicit,
        )
        verdict = evaluate_export(policy, request)
    if ledger.is_private:
        # The card is final now: every field that leaves outside the noise is named in the ledger.
        not_covered = tuple("card." + p for p in card_field_paths(card or {})
                            if not any(p == d or p.startswith(d + ".") for d in _DP_DERIVED_CARD_FIELDS))
        ledger = replace(ledger, not_covered=not_covered)
    return ExportPlan(
        fingerprint=released, ledger=ledger, recipients=tuple(recipients), public=public, lifetime=lifetime,
        card=card, withheld_card_fields=withheld, policy=policy, verdict=verdict, dataset=dataset,
        source_image_count=source_images, sampled_count=sampled, budget_spent=budget_spent,
        budget_total=budget_total, data_use=data_use, counts_kind=counts_kind, numerics=numerics,
        sample_rate_source=rate_source, warnings=tuple(warnings), content_dataset=content_dataset,
    )


def _dp_release(
    inputs: Sequence[Path], *, spec: FingerprintSpec, dp: DPRequest, policy: Policy | None,
    card: dict[str, Any] | None, on_progress: Progress | None,
) -> tuple[Fingerprint, PrivacyLedger, dict[str, Any] | None, tuple[str, ...], tuple[Any, ...]]:
    from secfp.fingerprint.images import scan
    from secfp.fingerprint.pipeline import fingerprint_poisson
    from secfp.fingerprint.units import DEFAULT_MAX_IMAGES_PER_UNIT, assign_units, read_unit_map

    rate, rate_source, warnings = public_sample_rate(dp, policy)
    warnings = list(warnings)
    scanned = scan([str(p) for p in inputs])
    units = assign_units(scanned, privacy_unit=dp.privacy_unit,
                         unit_map=read_unit_map(dp.units) if dp.units is not None else None)
    k = dp.max_images_per_unit if dp.max_images_per_unit is not None else DEFAULT_MAX_IMAGES_PER_UNIT[units.privacy_unit]
    if units.duplicates_dropped:
        warnings.append(f"{units.duplicates_dropped} duplicate image(s) counted once (same file content)")
    if dp.privacy_unit is None and units.privacy_unit != "patient" and units.with_patient:
        # The default would be 'patient' without the images that lack an id: one patient's images would choose
        # the unit the ledger publishes.
        raise UsageError(f"{units.with_patient} of {len(units.refs)} images carry a DICOM PatientID and the others "
                         "do not: choose the privacy unit (--privacy-unit volume, or --units FILE.csv for patients)")
    if units.privacy_unit != "patient":
        warnings.append(f"the privacy unit is one {units.privacy_unit}, not one patient: a patient with several "
                        f"{units.privacy_unit}s is protected less; give --units FILE.csv to protect patients")
    # The Poisson sample must be secret for amplification by subsampling to hold.
    rng = np.random.default_rng(secrets.randbits(128))
    run = fingerprint_poisson([str(p) for p in inputs], spec=spec, sample_rate=rate, rng=rng, on_progress=on_progress,
                              report=units.report(scanned), unit_index=units.unit_index, max_images_per_unit=k,
                              numerics=DP_NUMERICS)
    card, withheld = _withhold_private_fields(card, policy)
    released, ledger = privatize_counts(run.counts, epsilon=dp.epsilon, delta=dp.delta, sample_rate=rate, spec=spec,
                                        max_images_per_unit=k, privacy_unit=units.privacy_unit)
    card = _dp_card(card, fp=released, sample_rate=rate)
    noise_relative = ledger.sigma * spec.bins / max(1, released.n)  # type: ignore[operator]
    if noise_relative > USELESS_NOISE_RELATIVE:
        warnings.append(f"the noise swamps the signal: noise std {noise_relative:.3g}x the mean bin count "
                        f"(useful up to {USELESS_NOISE_RELATIVE:g}x); raise epsilon or use a larger collection")
    # Gates see only the noisy estimates: n-hat sampled images, n-hat / q images considered.
    facts = (released.n, max(0, round(released.n / rate)), tuple(warnings), rate_source, units.privacy_unit,
             run.numerics, units.dataset_id)
    return released, ledger, card, withheld, facts


def _event(plan: ExportPlan, *, outcome: str, actor: str, bundle_id: str | None = None, reasons=(), remaining=None,
           details=None, charged: bool = False) -> AuditEvent:
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
        epsilon_spent=plan.ledger.epsilon if plan.ledger.is_private and (outcome == "ok" or charged) else None,
        budget_remaining=remaining,
        reasons=tuple(reasons),
        details=details or {"public": plan.public, "spec_id": plan.fingerprint.spec_id, "numerics": plan.numerics,
                            "privacy_unit": plan.ledger.privacy_unit,
                            **({"content_dataset": plan.content_dataset}
                               if plan.content_dataset not in (None, plan.dataset) else {})},
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
    """Reserve the budget, seal, audit, write, charge: each side effect only together with its audit record.

    Raises :class:`PolicyViolation` (exit 5, audited) when the plan was refused for any
    reason other than the dataset's budget, and BudgetExceeded (exit 7, audited) when
    the budget cannot pay, with or without a policy (the policy's budget always binds).
    A DP plan refused by a gate that read its noisy counts is charged first (the refusal
    is a function of the noise), in one step with its audit record.
    """
    if not plan.allowed:
        assert plan.verdict is not None
        reasons = plan.verdict.reasons
        if all(r.startswith(_BUDGET_RULE) for r in reasons):
            audit_refusal(plan, audit_log=audit_log, actor=actor, now=now, reasons=reasons)
            raise BudgetExceeded("; ".join(reasons))
        if _read_the_noise(plan):
            _charge_refusal(plan, budget=effective_budget(budget, plan.policy), audit_log=audit_log, actor=actor,
                            now=now, reasons=reasons)
        else:
            audit_refusal(plan, audit_log=audit_log, actor=actor, now=now, reasons=reasons)
        plan.verdict.raise_if_refused()
    kwargs = dict(issuer=issuer, recipients=plan.recipients, public=plan.public, now=now, lifetime=plan.lifetime,
                  card=plan.card, privacy=plan.ledger.to_json(), policy=plan.policy_reference())
    budget = effective_budget(budget, plan.policy)
    if not (plan.ledger.is_private and budget is not None):
        sealed = seal_bundle(plan.fingerprint, **kwargs)
        append_event(audit_log, _event(plan, outcome="ok", actor=actor, bundle_id=sealed.statement.bundle_id), now=now)
        _write(plan, output, sealed, audit_log=audit_log, actor=actor, now=now)
        return sealed
    try:
        # Check and reservation happen under each dataset's lock, in one step.
        with _reserve(budget, plan, label=f"export to {output.name}", now=now) as remaining:
            sealed = seal_bundle(plan.fingerprint, **kwargs)
            append_event(audit_log, _event(plan, outcome="ok", actor=actor, bundle_id=sealed.statement.bundle_id,
                                           remaining=remaining), now=now)
            _write(plan, output, sealed, audit_log=audit_log, actor=actor, now=now)
    except BudgetExceeded as exc:
        append_event(audit_log, _event(plan, outcome="refused", actor=actor, reasons=(exc.diagnostics(),)), now=now)
        raise
    return sealed


@contextmanager
def _reserve(budget: BudgetStore, plan: ExportPlan, *, label: str, now: datetime) -> Iterator[float]:
    """Reserve the plan's epsilon in every budget it is charged to; yields the least epsilon left.

    All reservations become charges when the block succeeds; if any reservation or the
    block fails, the ones already made are withdrawn.
    """
    with ExitStack() as stack:
        left = [stack.enter_context(budget.reserve(name, epsilon=plan.ledger.epsilon, delta=plan.ledger.delta,
                                                   label=label, now=now)).remaining_epsilon
                for name in plan.budget_datasets]
        yield min(left)


def _read_the_noise(plan: ExportPlan) -> bool:
    """Whether a DP plan was refused by a gate that read its noisy counts."""
    reasons = plan.verdict.reasons if plan.verdict is not None else ()
    return plan.ledger.is_private and any(r.startswith(_NOISY_COUNT_RULES) for r in reasons)


def _charge_refusal(plan: ExportPlan, *, budget: BudgetStore | None, audit_log: Path, actor: str, now: datetime,
                    reasons: Sequence[str]) -> None:
    """Charge a DP attempt whose refusal read its noisy counts, together with its audit record.

    The refusal is a function of the noise, and an exporter who retries until the gate
    passes publishes a draw conditioned on passing; charging every attempt that read
    the noise keeps the budget an upper bound on what was learnt from the data.
    """
    if budget is None:  # nothing keeps count: the refusal is audited as it is
        audit_refusal(plan, audit_log=audit_log, actor=actor, now=now, reasons=reasons)
        return
    why = (*reasons, f"epsilon {plan.ledger.epsilon:g} charged: the refusal read the noisy counts")
    try:
        with _reserve(budget, plan, label="refused export: a gate read the noisy counts", now=now) as remaining:
            append_event(audit_log, _event(plan, outcome="refused", actor=actor, reasons=why,
                                           remaining=remaining, charged=True), now=now)
    except BudgetExceeded as exc:
        append_event(audit_log, _event(plan, outcome="refused", actor=actor,
                                       reasons=(*reasons, exc.diagnostics())), now=now)
        raise


def _write(plan: ExportPlan, output: Path, sealed: SealedBundle, *, audit_log: Path, actor: str, now: datetime) -> None:
    """Write the bundle after its audit record; a failed write is audited as ``failed`` and raised."""
    try:
        atomic_write_bytes(output, sealed.data)
    except OSError as exc:
        why = f"cannot write bundle {output}: {exc.strerror or exc}"
        append_event(audit_log, _event(plan, outcome="failed", actor=actor, bundle_id=sealed.statement.bundle_id,
                                       reasons=(why,)), now=now)
        raise BadInput(why) from None
