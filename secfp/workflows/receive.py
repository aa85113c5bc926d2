"""Receiving bundles: verify, re-check the privacy ledger, apply the import policy, audit, record.

Order (each step runs only if every earlier one passed):

1. :func:`secfp.exchange.open_bundle` - size cap, strict parse, suite, decryption,
   one trusted signature, payload type, issuer, audience, validity, replay check;
2. the privacy ledger: well formed, for this fingerprint's spec, and its declared
   epsilon re-derived by our own accountants (:func:`secfp.privacy.verify_ledger`);
3. the import policy, if one is given (every reason is reported);
4. the audit record of the outcome;
5. only then, when ``record``, the bundle id in the replay store. An audit append that
   fails therefore leaves no replay record behind; a replay record that fails (another
   process recorded the id first) is audited as a failure.

Every outcome (ok, refused by policy, failed verification) is appended to the audit log;
nothing else is written on failure. What a successful receipt returns is a
:class:`ReceivedBundle`: the verified statement with its privacy ledger, task card (or the
card's problem) and policy reference as types. Only :meth:`Receiver.receive` makes one.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from secfp.cards.task_card import TaskCard
from secfp.errors import BadInput, PolicyViolation, SecfpError, VerificationError
from secfp.exchange import PrivateIdentity, ReplayStore, TrustStore, VerifiedStatement, open_bundle
from secfp.fingerprint.histogram import Fingerprint
from secfp.governance import AuditEvent, ImportFacts, Party, Policy, append_event, evaluate_import
from secfp.mechanisms import Mechanism
from secfp.privacy import PrivacyLedger, verify_ledger

__all__ = ["Receiver", "ReceivedBundle", "PolicyRef", "import_facts", "check_privacy_claim"]

_VERIFIER = object()  # held only by this module: the one key that constructs a ReceivedBundle


@dataclass(frozen=True)
class PolicyRef:
    """The issuer's export policy as the statement names it: id, digest and DUO data-use codes."""

    id: str | None
    digest: str | None
    data_use: tuple[str, ...]

    @classmethod
    def of(cls, policy: Mapping[str, Any] | None) -> PolicyRef | None:
        if not policy:
            return None
        data_use = policy.get("data_use", ())
        return cls(id=_text(policy.get("id")), digest=_text(policy.get("digest")),
                   data_use=tuple(str(c) for c in data_use) if isinstance(data_use, list | tuple) else ())


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class ReceivedBundle:
    """A bundle that passed every receiving check; only :meth:`Receiver.receive` constructs one.

    ``statement`` is what the verifier returned, ``ledger`` its privacy claim re-derived by
    our accountants, ``card`` the task card parsed against the schema (None with
    ``card_error`` saying why when it is missing or does not follow it), ``policy`` the
    issuer's export-policy reference. There is no ``from_json``: keep the bundle bytes.
    """

    statement: VerifiedStatement
    ledger: PrivacyLedger
    card: TaskCard | None
    card_error: str | None
    policy: PolicyRef | None
    _seal: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._seal is not _VERIFIER:
            raise TypeError("a ReceivedBundle is made only by Receiver.receive (verify the bundle)")

    @property
    def bundle_id(self) -> str:
        return self.statement.bundle_id

    @property
    def fingerprint(self) -> Fingerprint:
        return self.statement.fingerprint

    @property
    def issuer(self) -> Party:
        return Party(self.statement.issuer_name, self.statement.issuer_key_id)

    @property
    def checks(self) -> tuple[str, ...]:
        return self.statement.checks

    @property
    def data_use(self) -> tuple[str, ...]:
        return self.policy.data_use if self.policy is not None else ()


def _card(card: Mapping[str, Any]) -> tuple[TaskCard | None, str | None]:
    if not card:
        return None, "the bundle carries no task card"
    try:
        return TaskCard.from_json(card), None
    except BadInput as exc:
        return None, exc.diagnostics()


def import_facts(received: ReceivedBundle, *, now: datetime) -> ImportFacts:
    """The facts an import policy judges, taken from a received bundle."""
    ledger = received.ledger
    return ImportFacts(now=now, issuer=received.issuer, dp_mechanism=str(ledger.mechanism), epsilon=ledger.epsilon,
                       delta=ledger.delta, issued_at=received.statement.issued_at,
                       spec_id=received.fingerprint.spec_id, data_use=received.data_use)


@functools.lru_cache(maxsize=256)
def _verified_ledger(ledger: PrivacyLedger, rows: int) -> PrivacyLedger:
    return verify_ledger(ledger, rows=rows)


def check_privacy_claim(statement: VerifiedStatement) -> PrivacyLedger:
    """Parse the signed privacy ledger and re-derive its epsilon; VerificationError if it under-declares."""
    if statement.privacy == {"mechanism": Mechanism.NONE}:
        # The minimal explicit non-DP claim (what exchange writes when given no ledger).
        return PrivacyLedger.none(spec_id=statement.fingerprint.spec_id)
    try:
        ledger = PrivacyLedger.from_json(statement.privacy)
    except BadInput as exc:
        raise VerificationError(f"privacy ledger check failed: {exc.diagnostics()}") from None
    if ledger.is_private and ledger.spec_id != statement.fingerprint.spec_id:
        raise VerificationError("privacy ledger check failed: the ledger is for another spec than the fingerprint")
    return _verified_ledger(ledger, int(statement.fingerprint.shape[0]))


@dataclass(frozen=True)
class Receiver:
    """Who we are when receiving: our key, whom we trust, our import policy, where we log."""

    identity: PrivateIdentity | None
    trust_store: TrustStore
    audit_log: Path
    actor: str
    import_policy: Policy | None = None
    audit_ok: bool = True  # False: log only failures and refusals (read-only uses such as match)

    def receive(
        self,
        unverified_bytes: bytes,
        *,
        now: datetime,
        label: str,
        replay_store: ReplayStore | None = None,
        record: bool = False,
        event: str = "import",
        details: Mapping[str, Any] | None = None,
    ) -> ReceivedBundle:
        """Verify one bundle end to end; return it received or raise (and log either way)."""
        policy = self.import_policy
        statement: VerifiedStatement | None = None
        try:
            statement = open_bundle(unverified_bytes, identity=self.identity, trust_store=self.trust_store, now=now,
                                    replay_store=replay_store, record=False)
            ledger = check_privacy_claim(statement)
            card, card_error = _card(statement.card)
            checks = ["privacy-ledger"]
            received = ReceivedBundle(statement, ledger, card, card_error, PolicyRef.of(statement.policy), _VERIFIER)
            if policy is not None:
                evaluate_import(policy, import_facts(received, now=now)).raise_if_refused()
                checks.append("import-policy")
        except PolicyViolation as exc:
            self._log(event, "refused", now=now, label=label, reasons=exc.reasons, statement=statement, details=details)
            raise
        except SecfpError as exc:
            self._log(event, "failed", now=now, label=label, reasons=(exc.diagnostics(),), statement=None,
                      details=details)
            raise
        recording = replay_store is not None and record
        if recording:
            checks.append("replay-recorded")
        statement = replace(statement, checks=statement.checks + tuple(checks))
        received = replace(received, statement=statement)
        if self.audit_ok or recording:
            self._log(event, "ok", now=now, label=label, reasons=(), statement=statement, details=details,
                      epsilon=ledger.epsilon if ledger.is_private else None)
        if recording:
            assert replay_store is not None
            try:
                replay_store.record(statement.bundle_id, digest=statement.statement_digest, now=now,
                                    expires_at=statement.expires_at)
            except SecfpError as exc:
                self._log(event, "failed", now=now, label=label, reasons=(exc.diagnostics(),), statement=statement,
                          details=details)
                raise
        return received

    def log_failure(self, exc: SecfpError, *, now: datetime, label: str, event: str = "import") -> None:
        """Audit a failure met before :meth:`receive` could run (the file could not even be read)."""
        self._log(event, "failed", now=now, label=label, reasons=(exc.diagnostics(),), statement=None, details=None)

    def _log(self, event: str, outcome: str, *, now: datetime, label: str, reasons: Any, statement: Any,
             details: Mapping[str, Any] | None, epsilon: float | None = None) -> None:
        policy = self.import_policy
        append_event(
            self.audit_log,
            AuditEvent(
                event=event,
                outcome=outcome,
                actor=self.actor,
                bundle_id=statement.bundle_id if statement is not None else None,
                issuer=Party(statement.issuer_name, statement.issuer_key_id) if statement is not None else None,
                policy_id=policy.id if policy is not None else None,
                policy_digest=policy.digest if policy is not None else None,
                epsilon_spent=epsilon,
                reasons=tuple(reasons),
                details={"file": label, **(details or {})},
            ),
            now=now,
        )
