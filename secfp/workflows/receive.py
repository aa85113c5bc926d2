"""Receiving bundles: verify, re-check the privacy ledger, apply the import policy, audit, record.

Order (each step runs only if every earlier one passed):

1. :func:`secfp.exchange.open_bundle` - size cap, strict parse, suite, decryption,
   one trusted signature, payload type, issuer, audience, validity, replay check;
2. :func:`secfp.exchange.received.receive_statement` - the privacy ledger: well formed,
   for this fingerprint's spec, and its declared epsilon re-derived by our own accountants
   (:func:`secfp.privacy.verify_ledger`); the task card and policy reference parsed;
3. the import policy, if one is given (every reason is reported);
4. the audit record of the outcome;
5. only then, when ``record``, the bundle id in the replay store. An audit append that
   fails therefore leaves no replay record behind; a replay record that fails (another
   process recorded the id first) is audited as a failure.

Every outcome (ok, refused by policy, failed verification) is appended to the audit log;
nothing else is written on failure. What a successful receipt returns is a
:class:`ReceivedBundle`: the verified statement with its privacy ledger, task card (or the
card's problem) and policy reference as types. Only :meth:`Receiver.receive` makes one
(through step 2, which holds the seal: see :mod:`secfp.exchange.received`). The type lives
at the exchange level so that the pool, which stores nothing else, need not import this
workflow; it is re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from secfp.errors import PolicyViolation, SecfpError
from secfp.exchange import PrivateIdentity, ReplayStore, TrustStore, VerifiedStatement, open_bundle
from secfp.exchange.received import PolicyRef, ReceivedBundle, check_privacy_claim, receive_statement
from secfp.governance import AuditEvent, ImportFacts, Party, Policy, append_event, evaluate_import

__all__ = ["Receiver", "ReceivedBundle", "PolicyRef", "import_facts", "check_privacy_claim"]


def import_facts(received: ReceivedBundle, *, now: datetime) -> ImportFacts:
    """The facts an import policy judges, taken from a received bundle."""
    ledger = received.ledger
    return ImportFacts(now=now, issuer=received.issuer, dp_mechanism=str(ledger.mechanism), epsilon=ledger.epsilon,
                       delta=ledger.delta, issued_at=received.statement.issued_at,
                       spec_id=received.fingerprint.spec_id, data_use=received.data_use)


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
            received = receive_statement(statement)
            ledger = received.ledger
            checks = ["privacy-ledger"]
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
