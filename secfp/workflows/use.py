"""Using received bundles: add them to the pool, rank files or the pool against a query, plan.

Each function is one command's whole job and returns a typed result; the command line
only parses arguments and renders it. Each writes its own audit record:

=========================  ==================================================================
:func:`add_to_pool`        per bundle: ``pool-add`` (ok, refused, failed), by the receiver and
                           the pool; bundles are verified one by one, a failure does not stop
                           the others
:func:`rank_files`         ``match`` with the ranking (bundles among the files are verified
                           first; failures and refusals are audited by the receiver)
:func:`rank_pool`          ``match`` with the ranking and the pool
:func:`plan_from_pool`     ``plan`` with the suggestions per scenario
:func:`remove_from_pool`   ``pool-remove``
=========================  ==================================================================

Which pooled bundles are used (for the query's spec only; others are counted, never
compared): each check below runs at every use, because its answer can change after the add.

=====================================  =============================================
check                                  a bundle that fails it is skipped, with ...
=====================================  =============================================
not expired (``now <= expires_at``)    "expired at ..." (kept in the pool, listed)
same fingerprint shape as the query    the shapes
issuer still trusted, card valid now   "no longer in the trust store" / card expiry
import policy in force now (if any)    the policy's reasons
stored file matches its digest         "no longer matches the digest ..."
(cached counts missing, or             the verifier's message
``reverify``): full verification
=====================================  =============================================

Not repeated by default: the signature of every stored bundle (about 50 ms per 100-bin
bundle, the dominant cost); the pool folder is local state that SECURITY.md trusts.
"""

from __future__ import annotations

import hmac
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from secfp.cards.task_card import TaskCard
from secfp.errors import (BadInput, BatchFailed, IncompatibleFingerprints, PolicyViolation, SecfpError, UsageError,
                          VerificationError)
from secfp.exchange import DEFAULT_MAX_SKEW, PrivateIdentity, TrustStore
from secfp.fingerprint.histogram import Fingerprint
from secfp.governance import AuditEvent, ImportFacts, Policy, Purpose, append_event, evaluate_import
from secfp.matching.bkld import VARIANTS
from secfp.matching.ranking import MatchResult, rank_sources
from secfp.matching.uncertainty import explain_matches
from secfp.planning.planner import Candidate, TransferPlan
from secfp.pool._schema import PoolEntry
from secfp.pool.ranking import DEFAULT_PURPOSE, PoolMatch, PoolRanking, Skipped, plan_from_ranking
from secfp.pool.store import AddResult, Pool
from secfp.workflows.receive import Receiver

__all__ = ["KeyOnDemand", "AddOutcome", "AddReport", "FileRanking", "PoolPlan", "add_bundle", "add_to_pool", "rank_files",
           "rank_pool", "plan_from_pool", "remove_from_pool", "pool_status", "receiver_purpose", "SEVERITY"]

#: Exit codes of ``pool add`` failures, most severe first.
SEVERITY = (4, 5, 3, 2, 1)


class Loaded(Protocol):
    """An input as the command line loaded it: a fingerprint file, or a bundle verified by the receiver."""

    fingerprint: Fingerprint
    statement: Any

    def match_facts(self) -> dict[str, Any]: ...


class KeyOnDemand:
    """Our private key, loaded the first time a sealed bundle needs it (never for public bundles)."""

    def __init__(self, load: Callable[[], PrivateIdentity] | None) -> None:
        self._load = load
        self._identity: PrivateIdentity | None = None

    def receiver_for(self, receiver: Receiver, data: bytes) -> Receiver:
        if receiver.identity is not None or self._load is None or not _sealed(data):
            return receiver
        if self._identity is None:
            self._identity = self._load()
        return replace(receiver, identity=self._identity)


def _sealed(data: bytes) -> bool:
    from secfp.exchange.bundle import parse_bundle

    try:
        return parse_bundle(data).sealed is not None
    except SecfpError:
        return False  # The receiver refuses it, and audits that.


def receiver_purpose(receiver: Receiver) -> Purpose | None:
    """The purpose the receiver's import policy states, if it has one."""
    policy = receiver.import_policy
    return policy.import_.purpose if policy is not None and policy.import_ is not None else None


def _audit(receiver: Receiver, event: str, *, now: datetime, details: Mapping[str, Any]) -> None:
    policy = receiver.import_policy
    append_event(receiver.audit_log, AuditEvent(
        event=event, outcome="ok", actor=receiver.actor, policy_id=policy.id if policy is not None else None,
        policy_digest=policy.digest if policy is not None else None, details=dict(details)), now=now)


# Adding --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AddOutcome:
    """One file of ``pool add``: its result, or the error that refused it."""

    file: str
    result: AddResult | None = None
    error: SecfpError | None = None

    def to_json(self) -> dict[str, Any]:
        if self.result is not None:
            return {"file": self.file, **self.result.to_json()}
        assert self.error is not None
        out = {"file": self.file, "outcome": "refused", "exit_code": self.error.exit_code, "kind": self.error.kind,
               "reason": self.error.diagnostics()}
        if isinstance(self.error, PolicyViolation):  # as the error document of any other refusal by policy
            out.update(reasons=list(self.error.reasons), policy_id=self.error.policy_id)
        return out


@dataclass(frozen=True)
class AddReport:
    """Every file's outcome, and the exit code: 0, else the most severe failure's (:data:`SEVERITY`)."""

    pool: str
    outcomes: tuple[AddOutcome, ...]
    reconciled: Any

    @property
    def exit_code(self) -> int:
        codes = [o.error.exit_code for o in self.outcomes if o.error is not None]
        return next((c for c in SEVERITY if c in codes), 1 if codes else 0)

    def counts(self) -> dict[str, int]:
        """How many files were ``added``, already ``present`` and ``refused``."""
        outcomes = Counter("refused" if o.error is not None else "added" if o.result and o.result.added else "present"
                           for o in self.outcomes)
        return {k: outcomes[k] for k in ("added", "present", "refused")}

    def to_json(self) -> dict[str, Any]:
        """The success document of ``pool add --json`` (every outcome in ``results``)."""
        return {"pool": self.pool, "results": [o.to_json() for o in self.outcomes], "exit_code": self.exit_code}

    def raise_if_failed(self) -> None:
        """Raise :class:`~secfp.errors.BatchFailed` when any file was refused; what was added stays added.

        Its exit code and kind are the most severe refusal's; ``details`` has the pool, the
        ``counts`` and every file's outcome (``outcomes``, as in :meth:`to_json`'s ``results``).
        """
        code = self.exit_code
        if not code:
            return
        refused = [(o.file, o.error) for o in self.outcomes if o.error is not None]
        file, worst = next(((f, e) for f, e in refused if e.exit_code == code), refused[0])
        counts = self.counts()
        others = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        message = (f"pool add: {counts['refused']} of {len(self.outcomes)} bundles refused, {counts['added']} added, "
                   f"{counts['present']} already present; {file}: {worst.diagnostics()}{others}")
        kind = worst.kind if worst.exit_code == code else "batch_failed"  # a code outside SEVERITY maps to 1
        raise BatchFailed(message, exit_code=code, kind=kind,
                          details={"pool": self.pool, "counts": counts,
                                   "outcomes": [o.to_json() for o in self.outcomes]})


def add_bundle(pool: Pool, data: bytes, *, receiver: Receiver, now: datetime, label: str,
               key: KeyOnDemand | None = None) -> AddResult:
    """Verify one bundle (audited as ``pool-add``) and store it; raises what verification or the pool raises."""
    the_receiver = key.receiver_for(receiver, data) if key is not None else receiver
    received = the_receiver.receive(data, now=now, label=label, event="pool-add")
    return pool.store(received, data, now=now, label=label, audit_log=receiver.audit_log, actor=receiver.actor)


def add_to_pool(pool_dir: str | os.PathLike[str], files: Sequence[str | os.PathLike[str]], *, receiver: Receiver,
                now: datetime, key: KeyOnDemand | None = None) -> AddReport:
    """Verify each bundle file (audited as ``pool-add``) and store what passed; the pool is created if needed."""
    from secfp.exchange import read_bundle_file

    pool = Pool.open(pool_dir, create=True)
    outcomes = []
    for file in files:
        label = str(file)
        try:
            result = add_bundle(pool, read_bundle_file(Path(file)), receiver=receiver, now=now, label=label, key=key)
        except SecfpError as exc:
            outcomes.append(AddOutcome(label, error=exc))
            continue
        outcomes.append(AddOutcome(label, result=result))
    return AddReport(str(pool_dir), tuple(outcomes), pool.reconciled)


def remove_from_pool(pool_dir: str | os.PathLike[str], bundle_id: str, *, actor: str, audit_log: Path,
                     now: datetime) -> PoolEntry:
    """Delete a bundle from the pool (audited as ``pool-remove``)."""
    return Pool.open(pool_dir).remove(bundle_id, now=now, audit_log=audit_log, actor=actor)


# Checks at every use ---------------------------------------------------------------------------

def _import_facts(entry: PoolEntry, now: datetime) -> ImportFacts:
    return ImportFacts(now=now, issuer=entry.issuer, dp_mechanism=entry.dp_mechanism, epsilon=entry.epsilon,
                       delta=entry.delta, issued_at=entry.issued_at, spec_id=entry.spec_id, data_use=entry.data_use)


def use_check(pool: Pool, entry: PoolEntry, *, trust_store: TrustStore, import_policy: Policy | None,
              now: datetime) -> tuple[str | None, bytes | None, tuple[str, ...]]:
    """(reason not to use the bundle, or None; the stored bytes; the checks passed), cheapest first."""
    if entry.expired(now):
        return f"expired at {entry.facts_json()['expires_at']}", None, ()
    card = trust_store.by_signing_key_id(entry.issuer_key_id)
    if card is None or card.name != entry.issuer_name:
        return f"its issuer {entry.issuer_name} is no longer in the trust store", None, ()
    if not card.valid_at(now, skew=DEFAULT_MAX_SKEW):
        return f"the identity card of its issuer {entry.issuer_name} is no longer valid", None, ()
    checks = ["not-expired", "trusted-now"]
    if import_policy is not None:
        verdict = evaluate_import(import_policy, _import_facts(entry, now))
        if verdict.reasons:
            return f"refused by import policy {import_policy.id}: " + "; ".join(verdict.reasons), None, ()
        checks.append("import-policy-now")
    try:
        data = pool.stored_bytes(entry)
    except BadInput as exc:
        return exc.diagnostics(), None, ()
    return None, data, (*checks, "pool-file-digest")


def pool_status(pool: Pool, entry: PoolEntry, *, trust_store: TrustStore, import_policy: Policy | None = None,
                now: datetime) -> str:
    """``usable``, or why ``entry`` would not be used now (expired, untrusted, refused, file changed)."""
    return use_check(pool, entry, trust_store=trust_store, import_policy=import_policy, now=now)[0] or "usable"


# Ranking ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FileRanking:
    """``secfp match QUERY SOURCE...``: the ranking, each row with its input's facts."""

    query: str
    spec_id: str
    variant: str
    results: tuple[MatchResult, ...]
    facts: Mapping[str, Mapping[str, Any]]
    statements: Mapping[str, Any]

    def rows(self) -> list[dict[str, Any]]:
        return [{**r.to_json(), **self.facts[r.source]} for r in self.results]

    def to_json(self) -> dict[str, Any]:
        return {"variant": self.variant, "spec_id": self.spec_id, "query": self.query, "results": self.rows()}


def _check_variant(variant: str, top: int | None) -> None:
    if variant not in VARIANTS:
        raise UsageError(f"unknown bKLD variant {variant!r}; use 'small' or 'large'")
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise UsageError("--top must be at least 1")


def rank_files(query_name: str, query: Loaded, sources: Mapping[str, Loaded], *, receiver: Receiver, now: datetime,
               variant: str = "small", top: int | None = None) -> FileRanking:
    """Rank loaded inputs by bKLD to the query (audited as ``match``)."""
    _check_variant(variant, top)
    results = rank_sources(query.fingerprint, [(name, x.fingerprint) for name, x in sources.items()], variant=variant,
                           top=top)
    ranking = FileRanking(query_name, query.fingerprint.spec_id, variant, tuple(results),
                          {name: x.match_facts() for name, x in sources.items()},
                          {name: x.statement for name, x in sources.items()})
    _audit(receiver, "match", now=now, details={
        "query": query_name, "variant": variant, "pool": None,
        "results": [{k: r.get(k) for k in ("source", "rank", "distance", "bundle_id")} for r in ranking.rows()]})
    return ranking


#: How many of the closest matches get a bootstrap interval and a tie group (the bootstrap
#: costs one dense row per explained source; beyond the first few, readers compare ranks).
EXPLAINED_MATCHES = 20


def _rank(pool: Pool, query: Fingerprint, *, receiver: Receiver, now: datetime, variant: str, top: int | None,
          reverify: bool, key: KeyOnDemand | None, explain: int = 0) -> PoolRanking:
    _check_variant(variant, top)
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
    shape = query.shape
    keys = [(e.bundle_id, e.statement_digest) for e, _ in usable]
    found = None if reverify or not keys else pool.matrix(query.spec_id, keys, shape=shape)
    if found is None and keys:
        extra: dict[tuple[str, str], Fingerprint] = {}
        for i, (entry, data) in enumerate(usable):
            if reverify or pool.cache.read_row(keys[i], spec_id=query.spec_id, shape=shape) is None:
                try:
                    extra[keys[i]] = _reverify(pool, entry, data, receiver=receiver, now=now, key=key)
                    usable[i] = (replace(entry, checks=entry.checks + ("reverified",)), data)
                except SecfpError as exc:
                    skipped.append(Skipped(entry.bundle_id, exc.diagnostics()))
        failed = {s.bundle_id for s in skipped}
        kept = [(i, u) for i, u in enumerate(usable) if u[0].bundle_id not in failed]
        usable, keys = [u for _, u in kept], [keys[i] for i, _ in kept]
        found = pool.matrix(query.spec_id, keys, shape=shape, extra=extra) if keys else None
    matrix, cached = found if found is not None else (None, False)
    by_name = {f"{e.bundle_id}.{e.statement_digest}": e for e, _ in usable}
    results = matrix.rank(query, variant=variant, top=top) if matrix is not None else []
    # Names are "<bundle id>.<digest>": the bundle id decides ties, as for rank_sources.
    matches = tuple(PoolMatch(by_name[r.source].bundle_id, r.distance, r.rank, by_name[r.source]) for r in results)
    uncertainty = {}
    if explain and matrix is not None and results:
        column = {name: i for i, name in enumerate(matrix.names)}
        closest = [(by_name[r.source].bundle_id, matrix.fingerprint(column[r.source])) for r in results[:explain]]
        uncertainty = {u.source: u for u in explain_matches(query, closest, variant=variant)}
    return PoolRanking(spec_id=query.spec_id, variant=variant, matches=matches,
                       skipped=tuple(sorted(skipped, key=lambda s: s.bundle_id)), other_specs=dict(sorted(other.items())),
                       considered=len(same), cached=cached, uncertainty=uncertainty)


def _reverify(pool: Pool, entry: PoolEntry, data: bytes, *, receiver: Receiver, now: datetime,
              key: KeyOnDemand | None) -> Fingerprint:
    the_receiver = key.receiver_for(receiver, data) if key is not None else receiver
    received = the_receiver.receive(data, now=now, label=f"pool {pool.directory} bundle {entry.bundle_id}",
                                    event="pool-read")
    if received.bundle_id != entry.bundle_id or not hmac.compare_digest(received.statement.statement_digest,
                                                                         entry.statement_digest):
        raise VerificationError("pool check failed: the stored bundle no longer holds the statement verified at add")
    pool.keep_row(entry, received.fingerprint)
    return received.fingerprint


def _pool_rows(ranking: PoolRanking) -> list[dict[str, Any]]:
    return [{"source": m.source, "distance": m.distance, "rank": m.rank, "verified": True,
             "issuer": m.entry.issuer_name, "bundle_id": m.entry.bundle_id, "task": m.entry.task_name,
             "privacy": m.entry.privacy_mechanism, "epsilon": m.entry.epsilon} for m in ranking.matches]


def _pool(pool: Pool | str | os.PathLike[str]) -> Pool:
    return pool if isinstance(pool, Pool) else Pool.open(pool)


def rank_pool(pool_dir: Pool | str | os.PathLike[str], query_name: str, query: Fingerprint, *, receiver: Receiver,
              now: datetime, variant: str = "small", top: int | None = None, reverify: bool = False,
              key: KeyOnDemand | None = None) -> PoolRanking:
    """``secfp match QUERY --pool DIR``: rank the usable bundles of the query's spec (audited as ``match``).

    Each :class:`PoolMatch` has ``source`` (the bundle id), ``distance``, ``rank`` and
    ``entry`` (the facts). Raises :class:`~secfp.errors.IncompatibleFingerprints` when no
    bundle shares the query's spec, UsageError for an empty pool.
    """
    pool = _pool(pool_dir)
    ranking = _rank(pool, query, receiver=receiver, now=now, variant=variant, top=top,
                    reverify=reverify, key=key)
    _audit(receiver, "match", now=now, details={
        "query": query_name, "variant": variant, "pool": str(pool.directory),
        "results": [{k: r[k] for k in ("source", "rank", "distance", "bundle_id")} for r in _pool_rows(ranking)]})
    return ranking


def pool_match_rows(ranking: PoolRanking) -> list[dict[str, Any]]:
    """The rows ``secfp match --pool`` shows: rank, bundle id, distance, issuer, privacy, task."""
    return _pool_rows(ranking)


# Planning -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PoolPlan:
    """``secfp plan``: the plan, the ranking it came from, and the purpose the data-use terms were judged by."""

    plan: TransferPlan
    ranking: PoolRanking
    purpose: Purpose
    purpose_from: str
    query_card: TaskCard | None


def plan_from_pool(pool_dir: Pool | str | os.PathLike[str], query_name: str, query: Fingerprint, *, receiver: Receiver,
                   now: datetime, query_card: TaskCard | None = None, top: int | None = None,
                   refuse: Callable[[Candidate, str], str | None] | None = None, reverify: bool = False,
                   key: KeyOnDemand | None = None) -> PoolPlan:
    """Which pooled tasks to learn from, per scenario (small-variant ranking; audited as ``plan``)."""
    pool = _pool(pool_dir)
    ranking = _rank(pool, query, receiver=receiver, now=now, variant="small", top=None,
                    reverify=reverify, key=key, explain=EXPLAINED_MATCHES)
    stated = receiver_purpose(receiver)
    purpose = stated if stated is not None else DEFAULT_PURPOSE
    plan = plan_from_ranking(ranking, query_card=query_card, top=top, refuse=refuse, purpose=purpose)
    _audit(receiver, "plan", now=now, details={
        "query": query_name, "pool": str(pool.directory),
        "suggestions": {scenario: [s.source_id for s in suggestions] for scenario, suggestions in plan.suggestions.items()}})
    source = f"import policy {receiver.import_policy.id}" if stated is not None and receiver.import_policy else \
        "default (no import policy)"
    return PoolPlan(plan, ranking, purpose, source, query_card)
