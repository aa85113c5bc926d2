"""Receiving bundles: verify, re-check the privacy ledger, apply the import policy, record, audit.

Order (each step runs only if every earlier one passed):

1. :func:`secfp.exchange.open_bundle` - size cap, strict parse, suite, decryption,
   one trusted signature, payload type, issuer, audience, validity, replay check;
2. the privacy ledger: well formed, for this fingerprint's spec, and its declared
   epsilon re-derived by our own accountants (:func:`secfp.privacy.verify_ledger`);
3. the import policy, if one is given (every reason is reported);
4. only then is the bundle id recorded in the replay store (when ``record``).

Every outcome (ok, refused by policy, failed verification) is appended to the
audit log; nothing else is written on failure.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from secfp.errors import BadInput, PolicyViolation, SecfpError, VerificationError
from secfp.exchange import PrivateIdentity, ReplayStore, TrustStore, VerifiedStatement, open_bundle
from secfp.governance import AuditEvent, ImportFacts, Party, Policy, append_event, evaluate_import
from secfp.privacy import PrivacyLedger, verify_ledger

__all__ = ["Receiver", "import_facts", "check_privacy_claim"]


def import_facts(statement: VerifiedStatement, *, now: datetime) -> ImportFacts:
    """The facts an import policy judges, taken from a verified statement."""
    privacy = statement.privacy
    policy = statement.policy or {}
    return ImportFacts(
        now=now,
        issuer=Party(statement.issuer_name, statement.issuer_key_id),
        dp_mechanism=str(privacy.get("mechanism", "none")),
        epsilon=privacy.get("epsilon"),
        delta=privacy.get("delta"),
        issued_at=statement.issued_at,
        spec_id=statement.fingerprint.spec_id,
        data_use=tuple(policy.get("data_use", ())),
    )


@functools.lru_cache(maxsize=256)
def _verified_ledger(ledger: PrivacyLedger, rows: int) -> PrivacyLedger:
    return verify_ledger(ledger, rows=rows)


def check_privacy_claim(statement: VerifiedStatement) -> PrivacyLedger:
    """Parse the signed privacy ledger and re-derive its epsilon; VerificationError if it under-declares."""
    if statement.privacy == {"mechanism": "none"}:
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
    ) -> VerifiedStatement:
        """Verify one bundle end to end; return the verified statement or raise (and log either way)."""
        policy = self.import_policy
        statement: VerifiedStatement | None = None
        try:
            statement = open_bundle(unverified_bytes, identity=self.identity, trust_store=self.trust_store, now=now,
                                    replay_store=replay_store, record=False)
            ledger = check_privacy_claim(statement)
            checks = ["privacy-ledger"]
            if policy is not None:
                evaluate_import(policy, import_facts(statement, now=now)).raise_if_refused()
                checks.append("import-policy")
            if replay_store is not None and record:
                replay_store.record(statement.bundle_id, digest=statement.statement_digest, now=now, expires_at=statement.expires_at)
                checks.append("replay-recorded")
            statement = replace(statement, checks=statement.checks + tuple(checks))
        except PolicyViolation as exc:
            self._log(event, "refused", now=now, label=label, reasons=exc.reasons, statement=statement)
            raise
        except SecfpError as exc:
            self._log(event, "failed", now=now, label=label, reasons=(exc.diagnostics(),), statement=None)
            raise
        if self.audit_ok:
            self._log(event, "ok", now=now, label=label, reasons=(), statement=statement,
                      epsilon=ledger.epsilon if ledger.is_private else None)
        return statement

    def _log(self, event: str, outcome: str, *, now: datetime, label: str, reasons, statement, epsilon=None) -> None:
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
                details={"file": label},
            ),
            now=now,
        )
