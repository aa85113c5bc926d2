"""Eavesdropping: someone who is not a recipient tries to read a sealed bundle."""

from __future__ import annotations

import pytest

from secfp.errors import DecryptionError, UsageError


def test_non_recipient_cannot_decrypt(peers):
    # Eavesdropping attack: mallory holds the file but is not a recipient.
    data = peers.bundle(to=("bob", "carol"))
    with pytest.raises(DecryptionError) as info:
        peers.open(data, as_="mallory")
    assert info.value.diagnostics().startswith("decryption failed")


def test_non_recipient_relabelling_own_key_id_cannot_decrypt(peers):
    # Eavesdropping with a forged hint: mallory's key id written over bob's entry.
    outer = peers.outer(peers.bundle(to=("bob",)))
    outer["recipients"][0]["key_id"] = peers.who("mallory").card.encryption_key_id
    with pytest.raises(DecryptionError):
        peers.open(peers.encode(outer), as_="mallory")


def test_sealed_bundle_without_private_key_is_refused(peers):
    # No key given: nothing is decrypted or guessed.
    with pytest.raises(UsageError, match="sealed"):
        peers.open(peers.bundle(), as_=None)


def test_sealed_bundle_does_not_contain_fingerprint_in_clear(peers):
    # Confidentiality smoke check: the spec id and counts are not visible in the file.
    data = peers.bundle()
    assert peers.fingerprint.spec_id.encode() not in data
    assert b"counts" not in data and b"alice" not in data
