"""A small consortium on disk for CLI contract tests: alice issues, bob receives.

Real keys (no passphrase, so no scrypt cost), a real trust store, a real
fingerprint file and a real sealed bundle; every test gets its own SECFP_HOME.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from secfp.cli import app
from secfp.exchange import generate_identity, save_identity, seal_bundle, trust_add
from secfp.exchange.keys import PrivateIdentity
from secfp.fingerprint.histogram import Fingerprint, save_fingerprint

NOW = datetime.now(timezone.utc).replace(microsecond=0)
SPEC_ID = "5eca" * 16
OTHER_SPEC_ID = "0dd5" * 16


def make_fingerprint(*, spec_id: str = SPEC_ID, n: int = 40, seed: int = 7) -> Fingerprint:
    rng = np.random.default_rng(seed)
    counts = np.stack([rng.multinomial(n, rng.dirichlet(np.ones(8))) for _ in range(6)]).astype(np.int64)
    return Fingerprint(spec_id=spec_id, counts=counts, n=n, feature_mean=rng.normal(size=6))


@dataclass
class Site:
    root: Path
    alice: PrivateIdentity
    bob: PrivateIdentity
    alice_key: Path
    alice_card: Path
    bob_key: Path
    bob_card: Path
    trust: Path  # bob's trust store: alice
    fp: Path  # an unsigned fingerprint file
    bundle: Path  # alice -> bob, sealed

    def run(self, *args, env: dict | None = None):
        return CliRunner().invoke(app, [str(a) for a in args], env=env)


@pytest.fixture
def site(tmp_path, monkeypatch) -> Site:
    monkeypatch.setenv("SECFP_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SECFP_PASSPHRASE", raising=False)
    alice = generate_identity("alice", now=NOW - timedelta(days=1), valid_for=timedelta(days=365))
    bob = generate_identity("bob", now=NOW - timedelta(days=1), valid_for=timedelta(days=365))
    a = save_identity(alice, tmp_path / "alice", passphrase=None, unsafe_no_passphrase=True)
    b = save_identity(bob, tmp_path / "bob", passphrase=None, unsafe_no_passphrase=True)
    trust = tmp_path / "bob-trust"
    trust_add(trust, alice.card, now=NOW)
    fp = tmp_path / "task.fp"
    save_fingerprint(make_fingerprint(), fp)
    bundle = tmp_path / "to-bob.bundle"
    bundle.write_bytes(seal_bundle(make_fingerprint(), issuer=alice, recipients=[bob.card], now=NOW).data)
    return Site(tmp_path, alice, bob, a.key_file, a.card_file, b.key_file, b.card_file, trust, fp, bundle)
