"""An in-memory set of institutions that make real bundles a test can tamper with.

Modelled on python-tuf's ``RepositorySimulator``: the adversary works on bytes
in memory, changes one thing and hands the result to the real verifier. All
cryptography is real; nothing is mocked. Shared by tests/exchange and tests/attacks.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from secfp._io import canonical_json
from secfp.exchange import (
    PrivateIdentity,
    ReplayStore,
    TrustStore,
    VerifiedStatement,
    generate_identity,
    open_bundle,
    seal_bundle,
)
from secfp.exchange.bundle import parse_bundle, parse_envelope
from secfp.exchange.envelope import STATEMENT_PAYLOAD_TYPE, Envelope, Signature, sign_envelope
from secfp.exchange.seal import seal, unseal
from secfp.exchange._internal.format import BUNDLE_KIND, FORMAT_VERSION, SUITE
from secfp.fingerprint.histogram import Fingerprint

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
SPEC_ID = "5eca" * 16


def make_fingerprint(*, features: int = 6, bins: int = 8, n: int = 40, seed: int = 7) -> Fingerprint:
    """A real noise-free fingerprint: every row a multinomial draw summing to ``n``."""
    rng = np.random.default_rng(seed)
    counts = np.stack([rng.multinomial(n, rng.dirichlet(np.ones(bins))) for _ in range(features)]).astype(np.int64)
    return Fingerprint(spec_id=SPEC_ID, counts=counts, n=n, feature_mean=rng.normal(size=features))


_IDENTITIES: dict[str, PrivateIdentity] = {}


def identity(name: str) -> PrivateIdentity:
    """One identity per name per test session (key generation is cheap, but stable ids help debugging)."""
    if name not in _IDENTITIES:
        _IDENTITIES[name] = generate_identity(name, now=NOW - timedelta(days=365), valid_for=timedelta(days=730))
    return _IDENTITIES[name]


class PeerSimulator:
    """alice issues; bob and carol receive; dave is a bystander who also trusts alice; mallory is trusted by no one.

    Every receiver's trust store holds alice, carol and dave (not mallory).
    """

    def __init__(self, tmp_path: Path, *, now: datetime = NOW) -> None:
        self.now = now
        self.tmp_path = tmp_path
        self.fingerprint = make_fingerprint()
        self.trust = TrustStore(tuple(identity(n).card for n in ("alice", "carol", "dave")))
        self.replay = ReplayStore(tmp_path / "replay")

    def who(self, name: str) -> PrivateIdentity:
        return identity(name)

    # Honest behaviour -------------------------------------------------------------
    def bundle(self, *, issuer: str = "alice", to: tuple[str, ...] = ("bob",), public: bool = False,
               now: datetime | None = None, lifetime: timedelta = timedelta(days=90), **kwargs: Any) -> bytes:
        recipients = [] if public else [identity(n).card for n in to]
        return seal_bundle(self.fingerprint, issuer=identity(issuer), recipients=recipients, public=public,
                           now=now or self.now, lifetime=lifetime, **kwargs).data

    def open(self, data: bytes, *, as_: str | None = "bob", now: datetime | None = None, replay: bool = True,
             record: bool = True, trust: TrustStore | None = None) -> VerifiedStatement:
        return open_bundle(data, identity=identity(as_) if as_ else None, trust_store=trust or self.trust,
                           now=now or self.now, replay_store=self.replay if replay else None, record=record)

    # Adversary's tools --------------------------------------------------------------
    @staticmethod
    def outer(data: bytes) -> dict[str, Any]:
        return json.loads(data)

    @staticmethod
    def encode(obj: Any) -> bytes:
        """Re-serialise canonically, so a tampered bundle gets past the parser to the checks."""
        return canonical_json(obj) + b"\n"

    def envelope_of(self, data: bytes, *, as_: str = "bob") -> Envelope:
        """What a recipient sees after decryption (a recipient can always do this)."""
        unverified = parse_bundle(data)
        if unverified.envelope is not None:
            return unverified.envelope
        return parse_envelope(unseal(unverified.sealed, identity=identity(as_)))

    def statement_of(self, data: bytes, *, as_: str = "bob") -> dict[str, Any]:
        return json.loads(self.envelope_of(data, as_=as_).payload)

    @staticmethod
    def sign(payload: bytes | dict[str, Any], *, signer: str = "alice", payload_type: str = STATEMENT_PAYLOAD_TYPE,
             hint: str | None = None) -> Envelope:
        body = payload if isinstance(payload, bytes) else canonical_json(payload)
        me = identity(signer)
        env = sign_envelope(body, payload_type=payload_type, key=me.signing_key, key_id=me.card.signing_key_id)
        if hint is not None:
            env = Envelope(env.payload_type, env.payload, (Signature(hint, env.signatures[0].sig),))
        return env

    @staticmethod
    def seal_envelope(envelope: Envelope | dict[str, Any] | bytes, *, to: tuple[str, ...] = ("bob",)) -> bytes:
        """Seal any envelope to anyone: needs only their public cards."""
        if isinstance(envelope, Envelope):
            plaintext = canonical_json(envelope.to_json())
        elif isinstance(envelope, dict):
            plaintext = canonical_json(envelope)
        else:
            plaintext = envelope
        return canonical_json(seal(plaintext, recipients=[identity(n).card for n in to]).to_json()) + b"\n"

    @staticmethod
    def publish(envelope: Envelope | dict[str, Any]) -> bytes:
        env = envelope.to_json() if isinstance(envelope, Envelope) else envelope
        return canonical_json({"v": FORMAT_VERSION, "kind": BUNDLE_KIND, "suite": SUITE, "sealed": False, "envelope": env}) + b"\n"

    def replay_state(self) -> bytes | None:
        return self.replay.path.read_bytes() if self.replay.path.exists() else None
