"""Audit gaps: every receiving outcome leaves a record, parse and suite failures included.

Attack: a probing peer sends malformed or downgraded bundles to learn how a
receiver reacts. When parse and suite failures were raised before the receiver
ran, they left no audit record, so the probing was invisible to the auditors.
Every failure of ``verify`` is now appended to the audit log, and nothing else
is written.
"""

from __future__ import annotations

import json

import pytest

from secfp.exchange.bundle import seal_bundle
from secfp.exchange import trust_add
from secfp.governance import read_log
from secfp_peers import make_fingerprint

from _cli_world import TODAY, cli, fresh_identity, key_file


@pytest.fixture
def world(tmp_path):
    alice, bob = fresh_identity("alice"), fresh_identity("bob")
    trust = tmp_path / "bob-trust"
    trust_add(trust, alice.card, now=TODAY)
    data = seal_bundle(make_fingerprint(), issuer=alice, recipients=[bob.card], now=TODAY).data
    return data, key_file(bob, tmp_path / "bob"), trust


def _verify(tmp_path, data: bytes, key, trust):
    bundle = tmp_path / "probe.bundle"
    bundle.write_bytes(data)
    log = tmp_path / "audit.jsonl"
    result = cli("verify", bundle, "--key", key, "--trust", trust, "--audit-log", log,
                 "--replay-store", tmp_path / "replay", "--json")
    return result, log


def test_truncated_bundle_is_audited(world, tmp_path):
    # Probing attack with a malformed file (parse failure).
    data, key, trust = world
    result, log = _verify(tmp_path, data[: len(data) // 2], key, trust)
    assert result.exit_code == 3 and json.loads(result.stdout)["error"]["kind"] == "invalid_bundle"
    (record,) = read_log(log)
    assert record.event.outcome == "failed" and "not a secfp bundle" in record.event.reasons[0]
    assert not (tmp_path / "replay").exists()


def test_suite_downgrade_is_audited(world, tmp_path):
    # Downgrade probe: a bundle that names another cipher suite.
    data, key, trust = world
    outer = json.loads(data)
    outer["suite"] = "HPKE-X25519-HKDF-SHA256-CHACHA20POLY1305"
    probe = json.dumps(outer, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    result, log = _verify(tmp_path, probe, key, trust)
    assert result.exit_code == 4 and json.loads(result.stdout)["error"]["kind"] == "suite_mismatch"
    (record,) = read_log(log)
    assert record.event.outcome == "failed" and "suite check failed" in record.event.reasons[0]


def test_unreadable_bundle_file_is_audited(world, tmp_path):
    _, key, trust = world
    log = tmp_path / "audit.jsonl"
    result = cli("verify", tmp_path / "missing.bundle", "--key", key, "--trust", trust, "--audit-log", log)
    assert result.exit_code == 3
    (record,) = read_log(log)
    assert record.event.outcome == "failed" and "missing.bundle" in record.event.reasons[0]
