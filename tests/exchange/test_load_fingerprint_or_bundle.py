"""The reader used by `secfp inspect` and `secfp match`: fingerprint files or verified bundles, no replay check."""

from __future__ import annotations

import pytest
from secfp_peers import NOW

from secfp.errors import InvalidBundle, UsageError
from secfp.exchange import load_fingerprint_or_bundle, save_identity, trust_add
from secfp.exchange.errors import UntrustedSigner
from secfp.fingerprint.histogram import save_fingerprint


@pytest.fixture
def setup(peers, tmp_path):
    keys = tmp_path / "keys"
    save_identity(peers.who("bob"), keys, passphrase="bob-pass", scrypt_log2_n=10)
    trust = tmp_path / "trust"
    trust_add(trust, peers.who("alice").card, now=NOW)
    return keys / "bob.key", trust


def test_fingerprint_file_is_returned_as_is(peers, tmp_path):
    path = tmp_path / "fp.json"
    save_fingerprint(peers.fingerprint, path)
    fp, statement = load_fingerprint_or_bundle(path, now=NOW)
    assert fp == peers.fingerprint and statement is None


def test_sealed_bundle_is_verified_without_replay(peers, tmp_path, setup):
    key, trust = setup
    path = tmp_path / "b.bundle"
    path.write_bytes(peers.bundle())
    for _ in range(2):  # read-only use: opening twice is not a replay
        fp, statement = load_fingerprint_or_bundle(path, now=NOW, key_file=key, trust_dir=trust, passphrase="bob-pass")
        assert fp == peers.fingerprint and statement.issuer_name == "alice"
        assert "replay" not in statement.checks


def test_public_bundle_needs_no_key(peers, tmp_path, setup):
    _, trust = setup
    path = tmp_path / "p.bundle"
    path.write_bytes(peers.bundle(public=True))
    fp, statement = load_fingerprint_or_bundle(path, now=NOW, trust_dir=trust)
    assert statement.public


def test_default_trust_dir_is_under_secfp_home(peers, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("SECFP_HOME", str(home))
    path = tmp_path / "p.bundle"
    path.write_bytes(peers.bundle(public=True))
    with pytest.raises(UntrustedSigner):
        load_fingerprint_or_bundle(path, now=NOW)
    trust_add(home / "trust", peers.who("alice").card, now=NOW)
    assert load_fingerprint_or_bundle(path, now=NOW)[1].issuer_name == "alice"


def test_sealed_bundle_without_key_is_a_usage_error(peers, tmp_path, setup):
    _, trust = setup
    path = tmp_path / "b.bundle"
    path.write_bytes(peers.bundle())
    with pytest.raises(UsageError, match="--key"):
        load_fingerprint_or_bundle(path, now=NOW, trust_dir=trust)


def test_other_json_is_rejected(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"kind": "something else"}')
    with pytest.raises(InvalidBundle):
        load_fingerprint_or_bundle(path, now=NOW)
