"""Using the pool: rank its bundles against a query (bKLD, one matrix product), plan from that.

Which bundles are used (for the query's spec only; others are counted, never compared):
each check below runs at every use, because its answer can change after the add.

=====================================  =============================================
check                                  a bundle that fails it is skipped, with ...
=====================================  =============================================
not expired (``now <= expires_at``)    "expired at ..." (kept in the pool, listed)
same fingerprint shape as the query    the shapes
issuer still trusted, card valid now   "no longer in the trust store" / card expiry
import policy in force now (if any)    the policy's reasons
stored file matches its digest         "no longer matches the digest ..."
(cache row missing, or ``reverify``):
full verification by the Receiver      the verifier's message
=====================================  =============================================

Data-use terms in the plan (:func:`cotraining_data_use_rule`): co-training is the one
scenario that uses the source's *data*, so a source is not suggested for it when the
DUO codes its statement carries (``policy.data_use``) do not allow our purpose
(:func:`secfp.governance.incompatibilities`). Our purpose is the import policy's
``[import.purpose]``; without a policy it is :data:`DEFAULT_PURPOSE`, a cautious one:
non-commercial biomedical methods research by a not-for-profit, *without* declared ethics
approval and accepting no obligations, so ``NCU``/``NPU`` pass while ``IRB`` or ``PUB``
need a policy that declares them. A source without codes is judged by its card alone
(``data_shareable``); with an import policy such a bundle never enters the pool, since
every policy states a purpose. The other scenarios hand over an architecture name,
weights under their own licence and terms (shown in the plan), or an augmentation
policy, not data, so the codes do not gate them.
"""

from __future__ import annotations

import hmac
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from secfp.errors import BadInput, IncompatibleFingerprints, SecfpError, UsageError, VerificationError
from secfp.exchange import DEFAULT_MAX_SKEW
from secfp.fingerprint.histogram import Fingerprint
from secfp.governance import ImportFacts, Party, Purpose, evaluate_import, incompatibilities
from secfp.pool._schema import PoolEntry, format_time
from secfp.matching.bkld import target_terms
from secfp.planning.planner import SCENARIOS, Candidate, Exclusion, TransferPlan, plan_transfer

if TYPE_CHECKING:
    from secfp.pool.store import Pool

__all__ = ["DEFAULT_PURPOSE", "Skipped", "PoolMatch", "PoolRanking", "rank", "use_check", "plan_from_ranking",
           "cotraining_data_use_rule", "receiver_purpose"]

DEFAULT_PURPOSE = Purpose(research_area="biomedical", methods_development=True, commercial=False,
                          for_profit_organisation=False, ethics_approval=False)


@dataclass(frozen=True)
class Skipped:
    """A bundle of the query's spec that was not used, and why."""

    bundle_id: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"bundle_id": self.bundle_id, "reason": self.reason}


@dataclass(frozen=True)
class PoolMatch:
    """One ranked bundle: ``source`` is its bundle id (rank 1 = closest)."""

    source: str
    distance: float
    rank: int
    entry: PoolEntry

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "distance": self.distance, "rank": self.rank, **self.entry.facts_json(),
                "checks": list(self.entry.checks)}


@dataclass(frozen=True)
class PoolRanking:
    """A ranking over a pool, and what was left out of it."""

    spec_id: str
    variant: str
    matches: tuple[PoolMatch, ...]
    skipped: tuple[Skipped, ...]
    other_specs: Mapping[str, int]
    considered: int
    cached: bool

    def statements(self) -> dict[str, PoolEntry]:
        """Source -> entry, for ``secfp.report.build_report(statements=...)``."""
        return {m.source: m.entry for m in self.matches}

    def to_json(self) -> dict[str, Any]:
        return {"spec_id": self.spec_id, "variant": self.variant, "considered": self.considered,
                "used": self.considered - len(self.skipped),
                "matches": [m.to_json() for m in self.matches], "skipped": [s.to_json() for s in self.skipped],
                "other_specs": dict(self.other_specs), "cached_matrix": self.cached}


def receiver_purpose(receiver: Any) -> Purpose | None:
    """The purpose the receiver's import policy states, if it has one."""
    policy = getattr(receiver, "import_policy", None)
    return policy.import_.purpose if policy is not None and policy.import_ is not None else None


def _import_facts(entry: PoolEntry, now: datetime) -> ImportFacts:
    # The same facts as secfp.workflows.receive.import_facts, from the index.
    return ImportFacts(now=now, issuer=Party(entry.issuer_name, entry.issuer_key_id),
                       dp_mechanism=str(entry.privacy.get("mechanism", "none")), epsilon=entry.privacy.get("epsilon"),
                       delta=entry.privacy.get("delta"), issued_at=entry.issued_at, spec_id=entry.spec_id,
                       data_use=entry.data_use)


def use_check(pool: Pool, entry: PoolEntry, *, trust_store: Any, import_policy: Any,
              now: datetime) -> tuple[str | None, bytes | None, tuple[str, ...]]:
    """(reason not to use the bundle, or None; the stored bytes; the checks passed), cheapest first."""
    if entry.expired(now):
        return f"expired at {format_time(entry.expires_at)}", None, ()
    card = trust_store.by_signing_key_id(entry.issuer_key_id)
    if card is None or card.name != entry.issuer_name:
        return f"its issuer {entry.issuer_name} is no longer in the trust store", None, ()
    if not card.valid_at(now, skew=DEFAULT_MAX_SKEW):
        return f"the identity card of its issuer {entry.issuer_name} is no longer valid", None, ()
    checks = ["not-expired", "trusted-now"]
    policy = import_policy
    if policy is not None:
        verdict = evaluate_import(policy, _import_facts(entry, now))
        if verdict.reasons:
            return f"refused by import policy {policy.id}: " + "; ".join(verdict.reasons), None, ()
        checks.append("import-policy-now")
    try:
        data = pool.stored_bytes(entry)
    except BadInput as exc:
        return exc.diagnostics(), None, ()
    return None, data, (*checks, "pool-file-digest")


def _reverify(pool: Pool, entry: PoolEntry, data: bytes, *, receiver: Any, now: datetime) -> np.ndarray:
    statement = receiver.receive(data, now=now, label=f"pool {pool.directory} bundle {entry.bundle_id}",
                                 event="pool-read")
    if statement.bundle_id != entry.bundle_id or not hmac.compare_digest(statement.statement_digest,
                                                                          entry.statement_digest):
        raise VerificationError("pool check failed: the stored bundle no longer holds the statement verified at add")
    row = pool.cache.row_of(statement.fingerprint)
    try:
        pool.cache.store_row((entry.bundle_id, entry.statement_digest), row)
    except OSError:
        pass  # A read-only pool: use the row from memory.
    return row


def rank(pool: Pool, query: Fingerprint, *, receiver: Any, now: datetime, variant: str = "small",
         top: int | None = None, reverify: bool = False) -> PoolRanking:
    """bKLD from every usable bundle of the query's spec to the query; closest first, ties by bundle id."""
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise UsageError("--top must be at least 1")
    v, c = target_terms(query, variant=variant)  # Also rejects an unknown variant.
    entries = pool.entries()
    if not entries:
        raise UsageError(f"the pool {pool.directory} holds no bundles (add some with `secfp pool add`)")
    same = [e for e in entries if e.spec_id == query.spec_id]
    other = Counter(e.spec_id for e in entries if e.spec_id != query.spec_id)
    if not same:
        raise IncompatibleFingerprints(f"no bundle in the pool was made with the query's spec {query.spec_id}; "
                                       f"the pool holds specs {', '.join(sorted(other))}")
    usable: list[tuple[PoolEntry, bytes]] = []
    skipped: list[Skipped] = []
    for entry in same:
        if (entry.features, entry.bins) != query.shape:
            skipped.append(Skipped(entry.bundle_id, f"its fingerprint is {entry.features} x {entry.bins}, the "
                                   f"query's {query.shape[0]} x {query.shape[1]} under the same spec id"))
            continue
        reason, data, checks = use_check(pool, entry, trust_store=receiver.trust_store,
                                         import_policy=receiver.import_policy, now=now)
        if reason is not None:
            skipped.append(Skipped(entry.bundle_id, reason))
        else:
            assert data is not None
            usable.append((replace(entry, checks=entry.checks + checks), data))
    length = query.shape[0] * query.shape[1]
    keys = [(e.bundle_id, e.statement_digest) for e, _ in usable]
    found = None if reverify else pool.cache.matrix(query.spec_id, keys, length=length)
    if found is None:
        extra: dict[tuple[str, str], np.ndarray] = {}
        for i, (entry, data) in enumerate(usable):
            key = keys[i]
            if reverify or pool.cache.read_row(key, length=length) is None:
                try:
                    extra[key] = _reverify(pool, entry, data, receiver=receiver, now=now)
                    usable[i] = (replace(entry, checks=entry.checks + ("reverified",)), data)
                except SecfpError as exc:
                    skipped.append(Skipped(entry.bundle_id, exc.diagnostics()))
        failed = {s.bundle_id for s in skipped}
        kept = [(i, u) for i, u in enumerate(usable) if u[0].bundle_id not in failed]
        usable, keys = [u for _, u in kept], [keys[i] for i, _ in kept]
        found = pool.cache.matrix(query.spec_id, keys, length=length, extra=extra)
        assert found is not None
    log_q, cached = found
    if not cached:
        _store_stacked(pool, query.spec_id, keys, log_q)
    distances = c - log_q @ v if len(keys) else np.zeros(0)
    order = sorted(range(len(usable)), key=lambda i: (float(distances[i]), usable[i][0].bundle_id))
    if top is not None:
        order = order[:top]
    matches = tuple(PoolMatch(usable[i][0].bundle_id, float(distances[i]), r + 1, usable[i][0])
                    for r, i in enumerate(order))
    return PoolRanking(spec_id=query.spec_id, variant=variant, matches=matches,
                       skipped=tuple(sorted(skipped, key=lambda s: s.bundle_id)), other_specs=dict(sorted(other.items())),
                       considered=len(same), cached=cached)


def _store_stacked(pool: Pool, spec_id: str, keys: Sequence[tuple[str, str]], log_q: np.ndarray) -> None:
    """Best effort: write the stacked matrix if every bundle in it is still indexed (a remove may have run)."""
    if not keys:
        return
    try:
        with pool.lock():
            current = {(e.bundle_id, e.statement_digest) for e in pool.entries()}
            if set(keys) <= current:
                pool.cache.write_stacked(spec_id, keys, log_q)
    except (OSError, BadInput):
        pass


def cotraining_data_use_rule(data_use: Mapping[str, Sequence[str]],
                             purpose: Purpose) -> Callable[[Candidate, str], str | None]:
    """A ``refuse`` hook for :func:`~secfp.planning.planner.plan_transfer` (module docstring)."""

    def refuse(candidate: Candidate, scenario: str) -> str | None:
        codes = tuple(data_use.get(candidate.source_id, ()))
        if scenario != "cotraining" or not codes:
            return None
        reasons = incompatibilities(codes, purpose)
        if not reasons:
            return None
        return (f"co-training uses the source's data, and its data-use terms ({', '.join(codes)}) do not allow "
                f"our purpose: {'; '.join(reasons)}")

    return refuse


def plan_from_ranking(ranking: PoolRanking, *, query_card: Any = None, top: int | None = None,
                      refuse: Callable[[Candidate, str], str | None] | None = None,
                      purpose: Purpose | None = None) -> TransferPlan:
    """The transfer plan over a ranking's bundles (small-variant bKLD and each bundle's card).

    A bundle whose card is missing or does not follow the task-card schema is excluded
    from every scenario with the reason. ``refuse`` (the caller's) runs after the
    co-training data-use rule, which judges against ``purpose`` (default
    :data:`DEFAULT_PURPOSE`). Pure: reads nothing.
    """
    if ranking.variant != "small":
        raise UsageError("the planner's weights were fitted on the small bKLD variant: rank with variant='small'")
    candidates: list[Candidate] = []
    excluded: list[Exclusion] = []
    for match in ranking.matches:
        try:
            card = match.entry.task_card()
        except BadInput as exc:
            excluded += [Exclusion(s, match.source, f"its task card cannot be used: {exc.diagnostics()}")
                         for s in SCENARIOS]
            continue
        candidates.append(Candidate(match.source, match.distance, card))
    rule = cotraining_data_use_rule({m.source: m.entry.data_use for m in ranking.matches},
                                    purpose if purpose is not None else DEFAULT_PURPOSE)

    def combined(candidate: Candidate, scenario: str) -> str | None:
        reason = rule(candidate, scenario)
        return reason if reason is not None or refuse is None else refuse(candidate, scenario)

    # Closeness ranks count every matched bundle, including those left out above for their card.
    plan = plan_transfer(candidates, query_card=query_card, top=top, refuse=combined,
                         closeness={m.source: (m.rank, len(ranking.matches)) for m in ranking.matches})
    return TransferPlan(plan.weights, plan.suggestions, plan.excluded + tuple(excluded))
