"""Forwarding: a recipient passes a bundle on as if the issuer had sent it to someone else.

Sign, then encrypt, with the audience inside the signed statement: a
recipient can decrypt and re-seal the signed envelope to a third party, but
the third party is not in the audience. Publishing it unencrypted as a
"public" bundle is caught the same way (a public statement has no audience).
"""

from __future__ import annotations

import pytest

from secfp.exchange.errors import NotARecipient


def test_bundle_forwarded_to_third_party_is_rejected(peers):
    # Forwarding attack: bob re-seals alice's bundle to dave, who trusts alice.
    data = peers.bundle(to=("bob",))
    forwarded = peers.seal_envelope(peers.envelope_of(data, as_="bob"), to=("dave",))
    with pytest.raises(NotARecipient, match="not in the signed audience"):
        peers.open(forwarded, as_="dave")
    assert peers.replay_state() is None


def test_sealed_statement_published_as_public_bundle_is_rejected(peers):
    # Stripping attack: bob publishes the decrypted envelope as a public bundle.
    data = peers.bundle(to=("bob",))
    published = peers.publish(peers.envelope_of(data, as_="bob"))
    with pytest.raises(NotARecipient, match="unencrypted"):
        peers.open(published, as_=None)


def test_bundle_resealed_with_audience_trimmed_from_header_is_rejected(peers):
    # Forwarding within the audience but with a different recipient list than signed.
    data = peers.bundle(to=("bob", "carol"))
    resealed = peers.seal_envelope(peers.envelope_of(data), to=("bob",))
    with pytest.raises(NotARecipient, match="does not match the signed audience"):
        peers.open(resealed)


def test_public_statement_sealed_to_recipient_is_rejected(peers):
    # Re-addressing a public statement as if it had been sent privately to bob.
    data = peers.bundle(public=True)
    with pytest.raises(NotARecipient):
        peers.open(peers.seal_envelope(peers.envelope_of(data)))
