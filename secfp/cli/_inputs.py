"""Load what `inspect` and `match` are given: a fingerprint file or a bundle (verified first)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secfp.cli._render import rfc3339
from secfp.fingerprint.histogram import Fingerprint

__all__ = ["LoadedInput", "InputLoader", "load_input"]


@dataclass(frozen=True)
class LoadedInput:
    """A fingerprint and, when it came in a bundle, the verified statement around it."""

    path: Path
    fingerprint: Fingerprint
    statement: Any = None  # secfp.exchange VerifiedStatement for bundles

    def to_json(self) -> dict[str, Any]:
        out = self.fingerprint.to_json()
        if self.statement is None:
            out["privacy"] = {"mechanism": "none"}
            return out
        envelope = self.statement.to_json()
        out["privacy"] = envelope.get("privacy", {"mechanism": "none"})
        out["bundle"] = envelope
        return out

    def facts(self) -> list[tuple[str, str]]:
        if self.statement is None:
            return [("source", "fingerprint file (unsigned)")]
        s = self.statement
        return [
            ("issuer", f"{s.issuer_name} ({s.issuer_key_id})"),
            ("bundle id", s.bundle_id),
            ("issued / expires", f"{rfc3339(s.issued_at)} / {rfc3339(s.expires_at)}"),
            ("privacy", str(s.privacy.get("mechanism", "none"))),
            ("checked", ", ".join(s.checks)),
        ]

    def match_facts(self) -> dict[str, Any]:
        if self.statement is None:
            return {"verified": False}
        s = self.statement
        return {
            "verified": True,
            "issuer": s.issuer_name,
            "bundle_id": s.bundle_id,
            "privacy": s.privacy.get("mechanism", "none"),
            "epsilon": s.privacy.get("epsilon"),
        }


class InputLoader:
    """Loads many inputs with one unlocked key, one trust store and one import policy.

    Bundles go through :class:`secfp.workflows.receive.Receiver` (crypto checks, DP
    ledger re-derivation, import policy) without the replay check: ``match`` and
    ``inspect`` analyse files already held, re-reading is not a new receipt. Only
    failures and refusals are audited here; the command audits its own result.

    Under an import policy an unsigned fingerprint file is refused
    (:class:`PolicyViolation`): the policy judges signed facts, and a file
    carries none. ``allow_unsigned`` lets it through, marked ``verified: false``.
    Input kinds are recognised by content (:mod:`secfp.exchange.kinds`).
    """

    def __init__(self, *, key: Path | None = None, trust: Path | None = None, policy: Any = None,
                 audit_log: Path | None = None, allow_unsigned: bool = False) -> None:
        self._allow_unsigned = allow_unsigned
        self._key = key
        self._trust_dir = trust
        self._policy = policy
        self._audit_log = audit_log
        self._receiver = None

    def _get_receiver(self) -> Any:
        if self._receiver is None:
            from secfp.exchange import default_trust_dir, load_identity, load_trust_store
            from secfp.governance import default_actor, resolve_audit_log
            from secfp.workflows.receive import Receiver

            identity = None
            if self._key is not None:
                from secfp.cli.exchange_cmds import passphrase_source

                identity = load_identity(self._key, passphrase=passphrase_source())
            trust = load_trust_store(self._trust_dir if self._trust_dir is not None else default_trust_dir())
            log = resolve_audit_log(self._audit_log, self._policy.audit_log if self._policy is not None else None)
            self._receiver = Receiver(identity=identity, trust_store=trust, audit_log=log, actor=default_actor(),
                                      import_policy=self._policy, audit_ok=False)
        return self._receiver

    def load(self, path: Path, *, ours: bool = False) -> LoadedInput:
        """Read a fingerprint file as is, or open and verify a bundle.

        ``ours``: the file is our own task (the query), to which the import policy does not apply.
        """
        from datetime import datetime, timezone

        from secfp.exchange import read_bundle_file
        from secfp.fingerprint.histogram import FINGERPRINT_KIND, MAX_FINGERPRINT_BYTES
        from secfp.errors import PolicyViolation, UsageError
        from secfp._io import strict_json_loads

        from secfp.exchange.kinds import sniff_kind

        now = datetime.now(timezone.utc)
        data = read_bundle_file(path)
        kind = sniff_kind(data)
        if kind == FINGERPRINT_KIND and len(data) <= MAX_FINGERPRINT_BYTES:
            if self._policy is not None and not self._allow_unsigned and not ours:
                raise PolicyViolation([f"{path} is an unsigned fingerprint file: the import policy applies only to "
                                       "signed bundles (pass --allow-unsigned to rank it anyway, marked unverified)"],
                                      policy_id=self._policy.id)
            return LoadedInput(Path(path), Fingerprint.from_json(strict_json_loads(data, what=str(path))), None)
        receiver = self._get_receiver()
        if _is_sealed(data) and receiver.identity is None:
            raise UsageError(f"{path} is sealed to named recipients: give our private key (--key) to open it")
        # A file that does not parse as a bundle reaches the receiver too: it refuses it and audits the failure.
        statement = receiver.receive(data, now=now, label=str(path), event="read").statement
        return LoadedInput(Path(path), statement.fingerprint, statement)


def _is_sealed(data: bytes) -> bool:
    from secfp.errors import SecfpError
    from secfp.exchange.bundle import parse_bundle

    try:
        return parse_bundle(data).sealed is not None
    except SecfpError:
        return False


def load_input(path: Path, *, key: Path | None = None, trust: Path | None = None) -> LoadedInput:
    """One input (see :class:`InputLoader`)."""
    return InputLoader(key=key, trust=trust).load(path)
