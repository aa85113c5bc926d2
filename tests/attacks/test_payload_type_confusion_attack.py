"""Type confusion: a signature made for one kind of document is presented as another.

DSSE signs PAE(type, body), so changing the type breaks the signature; and a
document legitimately signed under another type (for example an identity
card's self-signature) is refused by the payload type check.
"""

from __future__ import annotations

import base64

import pytest

from secfp._io import canonical_json
from secfp.exchange.envelope import Envelope
from secfp.exchange.errors import SignatureInvalid, WrongPayloadType


def test_bundle_with_swapped_payload_type_is_rejected(peers):
    # Type-confusion attack: payloadType edited after signing.
    envelope = peers.envelope_of(peers.bundle())
    swapped = Envelope("application/json", envelope.payload, envelope.signatures)
    with pytest.raises(SignatureInvalid):
        peers.open(peers.seal_envelope(swapped))


def test_statement_signed_under_another_payload_type_is_rejected(peers):
    # Type-confusion attack: alice really signed these bytes, but as a different document type.
    statement = peers.statement_of(peers.bundle())
    envelope = peers.sign(statement, payload_type="application/vnd.in-toto+json")
    with pytest.raises(WrongPayloadType, match="payload type check failed"):
        peers.open(peers.seal_envelope(envelope))
    assert peers.replay_state() is None


def test_identity_card_self_signature_replayed_as_statement_is_rejected(peers):
    # Cross-protocol attack: alice's card self-signature is a valid DSSE signature by alice.
    card = peers.who("alice").card
    body = {k: v for k, v in card.to_json().items() if k != "self_signature"}
    envelope = {
        "payload": base64.b64encode(canonical_json(body)).decode(),
        "payloadType": "application/vnd.secfp.identity.v1+json",
        "signatures": [{"keyid": card.signing_key_id, "sig": card.to_json()["self_signature"]}],
    }
    with pytest.raises(WrongPayloadType):
        peers.open(peers.seal_envelope(envelope))
