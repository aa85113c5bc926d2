"""Format malleability: ``"v": true`` and ``"v": 1.0`` are not version 1.

Attack: in Python ``True == 1 == 1.0``, so a parser comparing with ``==``
accepted three spellings of the same version field. The outer bundle is not
signed, so anyone could re-spell it and get a different file that still
verifies (different bytes, same meaning: a malleable format, which breaks
deduplication by digest and any later format switch on ``v``). Types are exact.
"""

from __future__ import annotations

import pytest

from secfp.errors import InvalidBundle


@pytest.mark.parametrize("spelling", [True, 1.0])
def test_outer_version_of_another_type_is_rejected(peers, spelling):
    # Malleability attack on the unsigned outer bundle.
    outer = peers.outer(peers.bundle())
    outer["v"] = spelling
    with pytest.raises(InvalidBundle, match="not a version-1 secfp bundle"):
        peers.open(peers.encode(outer))
    assert peers.replay_state() is None


@pytest.mark.parametrize("spelling", [True, 1.0])
def test_signed_statement_version_of_another_type_is_rejected(peers, spelling):
    # Malleability attack inside the signature: the issuer's own software wrote a wrong type.
    statement = peers.statement_of(peers.bundle())
    statement["v"] = spelling
    with pytest.raises(InvalidBundle, match="version-1 secfp statement"):
        peers.open(peers.seal_envelope(peers.sign(statement)))
    assert peers.replay_state() is None


def test_identity_card_version_of_another_type_is_rejected(peers):
    from secfp.errors import BadInput
    from secfp.exchange import IdentityCard

    card = peers.who("alice").card.to_json()
    card["v"] = True
    with pytest.raises(BadInput, match="version-1 secfp identity card"):
        IdentityCard.from_json(card)
