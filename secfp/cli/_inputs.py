"""Load what `inspect` and `match` are given: a fingerprint file or a bundle (verified first)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
            ("issuer", f"{s.issuer_name} ({s.issuer_key_id[:16]}...)"),
            ("bundle id", s.bundle_id),
            ("issued / expires", f"{s.issued_at.isoformat()} / {s.expires_at.isoformat()}"),
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
    """Loads many inputs with one unlocked key and one trust store (unlocking costs ~0.3 s)."""

    def __init__(self, *, key: Path | None = None, trust: Path | None = None) -> None:
        self._key = key
        self._trust_dir = trust
        self._identity = None
        self._trust_store = None

    def load(self, path: Path) -> LoadedInput:
        """Read a fingerprint file as is, or open and verify a bundle (no replay check: read-only use)."""
        from secfp.exchange import load_fingerprint_or_bundle

        if self._key is not None and self._identity is None:
            from secfp.cli.exchange_cmds import passphrase_source
            from secfp.exchange import load_identity

            self._identity = load_identity(self._key, passphrase=passphrase_source())
        if self._trust_store is None:
            from secfp.exchange import default_trust_dir, load_trust_store

            self._trust_store = load_trust_store(self._trust_dir if self._trust_dir is not None else default_trust_dir())
        fingerprint, statement = load_fingerprint_or_bundle(path, identity=self._identity, trust_store=self._trust_store)
        return LoadedInput(Path(path), fingerprint, statement)


def load_input(path: Path, *, key: Path | None = None, trust: Path | None = None) -> LoadedInput:
    """One input (see :class:`InputLoader`)."""
    return InputLoader(key=key, trust=trust).load(path)
