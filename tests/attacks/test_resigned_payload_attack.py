"""Re-signing: a valid statement is signed again by a different key.

By an untrusted key it is an untrusted signer; by another *trusted* key it is
still rejected, because the statement names its issuer (name and key id) and
the verifier requires them to match the card of the key that signed.
"""

from __future__ import annotations

import pytest

from secfp.exchange.errors import IssuerMismatch, UntrustedSigner


def test_payload_resigned_by_untrusted_key_is_rejected(peers):
    # Re-signing attack by an outsider.
    statement = peers.statement_of(peers.bundle())
    with pytest.raises(UntrustedSigner):
        peers.open(peers.seal_envelope(peers.sign(statement, signer="mallory")))


def test_payload_resigned_by_another_trusted_key_is_rejected(peers):
    # Re-signing attack by an insider: carol (trusted) signs alice's statement as is.
    statement = peers.statement_of(peers.bundle())
    with pytest.raises(IssuerMismatch, match="issuer check failed"):
        peers.open(peers.seal_envelope(peers.sign(statement, signer="carol")))
    assert peers.replay_state() is None


def test_statement_claiming_another_issuer_name_is_rejected(peers):
    # Identity confusion: carol signs a statement that claims to come from alice.
    statement = peers.statement_of(peers.bundle())
    statement["issuer"]["signing_key_id"] = peers.who("carol").card.signing_key_id
    with pytest.raises(IssuerMismatch):
        peers.open(peers.seal_envelope(peers.sign(statement, signer="carol")))
