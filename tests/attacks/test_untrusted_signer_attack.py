"""Impersonation: someone outside the trust store makes a bundle and seals it to us.

Sealing needs only our public card, so decryption proves nothing about the
sender; the signature, by a key in our trust store, decides. The key id in the
signature is a hint and cannot make a signature count for another key.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from secfp.exchange.errors import SignatureInvalid, UntrustedSigner


def test_bundle_signed_by_untrusted_key_is_rejected(peers):
    # Impersonation attack: mallory (not in bob's trust store) sends a well-formed bundle.
    data = peers.bundle(issuer="mallory", to=("bob",))
    with pytest.raises(UntrustedSigner, match="not in the trust store"):
        peers.open(data)
    assert peers.replay_state() is None


def test_bundle_with_trusted_key_id_hint_but_untrusted_signature_is_rejected(peers):
    # Key-id spoofing: mallory signs alice's statement and labels the signature with alice's key id.
    statement = peers.statement_of(peers.bundle())
    envelope = peers.sign(statement, signer="mallory", hint=peers.who("alice").card.signing_key_id)
    with pytest.raises(SignatureInvalid, match="does not verify"):
        peers.open(peers.seal_envelope(envelope))


def test_bundle_from_signer_whose_card_expired_is_rejected(peers):
    # Stale-key attack: a signature by a key whose identity card is no longer valid.
    alice = peers.who("alice")
    data = peers.bundle(lifetime=timedelta(days=500))
    later = alice.card.not_after + timedelta(days=1)
    assert later < peers.now + timedelta(days=500)  # the bundle itself has not expired
    with pytest.raises(UntrustedSigner, match="identity card"):
        peers.open(data, now=later)


def test_bundle_signed_by_key_removed_from_trust_store_is_rejected(peers):
    # Revocation: alice's card was removed from the trust store.
    from secfp.exchange import TrustStore

    data = peers.bundle()
    without_alice = TrustStore(tuple(c for c in peers.trust if c.name != "alice"))
    with pytest.raises(UntrustedSigner):
        peers.open(data, trust=without_alice)
