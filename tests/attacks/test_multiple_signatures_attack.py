"""Signature-count confusion: zero, two or duplicated signatures on one envelope.

The threshold is fixed at exactly one signature (securesystemslib refuses
duplicate key ids; we refuse any second signature), and a missing signature
fails (deny by default).
"""

from __future__ import annotations

import pytest

from secfp.exchange.envelope import Envelope
from secfp.exchange.errors import SignatureInvalid


def test_envelope_with_two_valid_signatures_is_rejected(peers):
    # Two signatures, both valid, by two trusted keys.
    statement = peers.statement_of(peers.bundle())
    by_alice, by_carol = peers.sign(statement), peers.sign(statement, signer="carol")
    both = Envelope(by_alice.payload_type, by_alice.payload, by_alice.signatures + by_carol.signatures)
    with pytest.raises(SignatureInvalid, match="exactly one signature, found 2"):
        peers.open(peers.seal_envelope(both))
    assert peers.replay_state() is None


def test_envelope_with_duplicated_signature_is_rejected(peers):
    # The same signature twice (a naive threshold-of-one check would count it once or twice).
    envelope = peers.envelope_of(peers.bundle())
    doubled = Envelope(envelope.payload_type, envelope.payload, envelope.signatures * 2)
    with pytest.raises(SignatureInvalid, match="found 2"):
        peers.open(peers.seal_envelope(doubled))


def test_envelope_without_signature_is_rejected(peers):
    # Unsigned statement: deny by default.
    envelope = peers.envelope_of(peers.bundle(public=True))
    unsigned = Envelope(envelope.payload_type, envelope.payload, ())
    with pytest.raises(SignatureInvalid, match="found 0"):
        peers.open(peers.publish(unsigned), as_=None)
