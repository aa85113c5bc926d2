"""Honest use: bundles made by secfp open to exactly what was put in."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
from secfp_peers import NOW, make_fingerprint

from secfp.errors import BadInput, UsageError
from secfp.exchange import Statement, export_bundle, seal_bundle
from secfp.exchange.envelope import STATEMENT_PAYLOAD_TYPE
from secfp.fingerprint.histogram import Fingerprint


def test_round_trip_to_one_recipient(peers):
    verified = peers.open(peers.bundle(to=("bob",), card={"modality": "CT"}))
    assert verified.fingerprint == peers.fingerprint
    assert verified.issuer_name == "alice"
    assert verified.issuer_key_id == peers.who("alice").card.signing_key_id
    assert verified.audience == (peers.who("bob").card.encryption_key_id,)
    assert verified.recipient_key_id == peers.who("bob").card.encryption_key_id
    assert verified.card == {"modality": "CT"}
    assert verified.privacy == {"mechanism": "none"}
    assert verified.policy is None
    assert verified.public is False
    assert verified.issued_at == NOW and verified.expires_at == NOW + timedelta(days=90)
    assert verified.checks == ("size-cap", "strict-parse", "suite", "decryption", "one-signature", "trusted-signer",
                               "payload-type", "issuer", "audience", "validity", "replay", "replay-recorded")


def test_round_trip_to_three_recipients(peers):
    data = peers.bundle(to=("bob", "carol", "dave"))
    ids = []
    for who in ("bob", "carol", "dave"):
        verified = peers.open(data, as_=who, replay=False)
        assert verified.fingerprint == peers.fingerprint
        ids.append(verified.bundle_id)
    assert len(set(ids)) == 1


def test_public_bundle_opens_without_a_key(peers):
    verified = peers.open(peers.bundle(public=True), as_=None)
    assert verified.public and verified.audience == () and verified.recipient_key_id is None
    assert "decryption" not in verified.checks and "public-audience" in verified.checks


def test_public_bundle_shows_signed_statement_in_clear(peers):
    outer = json.loads(peers.bundle(public=True))
    assert outer["sealed"] is False and outer["envelope"]["payloadType"] == STATEMENT_PAYLOAD_TYPE


def test_bundle_ids_are_fresh(peers):
    assert peers.open(peers.bundle(), replay=False).bundle_id != peers.open(peers.bundle(), replay=False).bundle_id


def test_policy_and_privacy_travel_signed(peers):
    policy = {"id": "hospital-a/export-v1", "digest": "ab" * 32, "data_use": ["HMB", "NCU"]}
    verified = peers.open(peers.bundle(policy=policy))
    assert verified.policy == policy


def test_noisy_fingerprint_requires_privacy_statement(peers):
    fp = peers.fingerprint
    noisy = Fingerprint(spec_id=fp.spec_id, counts=fp.counts - 1, n=fp.n, feature_mean=fp.feature_mean, noisy=True)
    with pytest.raises(UsageError, match="privacy statement"):
        seal_bundle(noisy, issuer=peers.who("alice"), recipients=[peers.who("bob").card], now=NOW)
    ledger = {"mechanism": "discrete_gaussian", "epsilon": 1.0, "delta": 1e-6, "sigma": 3.5}
    data = seal_bundle(noisy, issuer=peers.who("alice"), recipients=[peers.who("bob").card], now=NOW, privacy=ledger).data
    verified = peers.open(data)
    assert verified.privacy == ledger and verified.fingerprint.noisy


def test_privacy_none_with_noisy_fingerprint_is_refused(peers):
    fp = peers.fingerprint
    noisy = Fingerprint(spec_id=fp.spec_id, counts=fp.counts, n=fp.n, feature_mean=fp.feature_mean, noisy=True)
    with pytest.raises(BadInput, match="mechanism 'none'"):
        seal_bundle(noisy, issuer=peers.who("alice"), recipients=[peers.who("bob").card], now=NOW, privacy={"mechanism": "none"})


def test_export_needs_recipients_or_public(peers):
    with pytest.raises(UsageError):
        seal_bundle(peers.fingerprint, issuer=peers.who("alice"), now=NOW)
    with pytest.raises(UsageError):
        seal_bundle(peers.fingerprint, issuer=peers.who("alice"), recipients=[peers.who("bob").card], public=True, now=NOW)


def test_export_refuses_expired_issuer_card_and_writes_nothing(peers, tmp_path):
    out = tmp_path / "out.bundle"
    late = peers.who("alice").card.not_after + timedelta(days=1)
    with pytest.raises(UsageError, match="not valid now"):
        export_bundle(peers.fingerprint, out, issuer=peers.who("alice"), recipients=[peers.who("bob").card], now=late)
    assert not out.exists()


def test_export_refuses_duplicate_recipient(peers):
    bob = peers.who("bob").card
    with pytest.raises(UsageError, match="twice"):
        seal_bundle(peers.fingerprint, issuer=peers.who("alice"), recipients=[bob, bob], now=NOW)


def test_export_writes_file_atomically(peers, tmp_path):
    out = tmp_path / "sub" / "x.bundle"
    sealed = export_bundle(peers.fingerprint, out, issuer=peers.who("alice"), recipients=[peers.who("bob").card], now=NOW)
    assert out.read_bytes() == sealed.data
    assert [p.name for p in out.parent.iterdir()] == ["x.bundle"]


def test_task_card_with_non_json_values_is_refused(peers):
    with pytest.raises(BadInput):
        seal_bundle(peers.fingerprint, issuer=peers.who("alice"), public=True, now=NOW, card={"when": NOW})


def test_statement_json_round_trip():
    fp = make_fingerprint()
    s = Statement(bundle_id="0" * 32, issuer_name="alice", issuer_key_id="1" * 64, audience=("2" * 64,),
                  issued_at=NOW, expires_at=NOW + timedelta(days=1), fingerprint=fp, card={"a": [1, 2.5, None]})
    again = Statement.from_json(json.loads(s.payload()))
    assert again.to_json() == s.to_json() and again.fingerprint == fp


def test_verified_statement_json_has_envelope_facts(peers):
    out = peers.open(peers.bundle()).to_json()
    assert {"bundle_id", "issuer", "audience", "issued_at", "expires_at", "checks", "card", "privacy", "policy", "public", "fingerprint"} <= set(out)
    assert out["fingerprint"]["kind"] == "secfp.fingerprint"
    assert np.array_equal(np.array(out["fingerprint"]["counts"]), peers.fingerprint.counts)
    json.dumps(out, allow_nan=False)


def test_privacy_statement_with_numpy_floats_is_normalised(peers):
    fp = peers.fingerprint
    noisy = Fingerprint(spec_id=fp.spec_id, counts=fp.counts, n=fp.n, feature_mean=fp.feature_mean, noisy=True)
    ledger = {"mechanism": "discrete_gaussian", "epsilon": np.float64(0.5)}
    data = seal_bundle(noisy, issuer=peers.who("alice"), recipients=[peers.who("bob").card], now=NOW, privacy=ledger).data
    assert type(peers.open(data).privacy["epsilon"]) is float
