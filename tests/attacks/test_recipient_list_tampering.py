"""Recipient-list tampering: the cleartext list of recipients and wrapped keys is edited.

The list is bound twice: each HPKE-wrapped key's ``info`` holds the digest of
the header (which lists every recipient key id), and the content AEAD's
associated data covers the header and every wrapped key. Any edit makes our
unwrap or the content tag fail, which is one opaque DecryptionError.
"""

from __future__ import annotations

import pytest

from secfp.errors import DecryptionError


def test_bundle_with_a_recipient_removed_is_rejected(peers):
    # Recipient-list tampering: drop carol, keep bob.
    outer = peers.outer(peers.bundle(to=("bob", "carol")))
    carol = peers.who("carol").card.encryption_key_id
    outer["recipients"] = [r for r in outer["recipients"] if r["key_id"] != carol]
    with pytest.raises(DecryptionError):
        peers.open(peers.encode(outer))
    assert peers.replay_state() is None


def test_bundle_with_a_recipient_key_id_replaced_is_rejected(peers):
    # Recipient-list tampering: carol's entry relabelled as mallory's.
    outer = peers.outer(peers.bundle(to=("bob", "carol")))
    carol, mallory = peers.who("carol").card.encryption_key_id, peers.who("mallory").card.encryption_key_id
    for r in outer["recipients"]:
        if r["key_id"] == carol:
            r["key_id"] = mallory
    outer["recipients"].sort(key=lambda r: r["key_id"])
    with pytest.raises(DecryptionError):
        peers.open(peers.encode(outer))


def test_bundle_with_a_recipient_added_is_rejected(peers):
    # Recipient-list tampering: mallory appends an entry (with a wrapped key from another bundle).
    outer = peers.outer(peers.bundle(to=("bob",)))
    other = peers.outer(peers.bundle(to=("mallory",)))
    outer["recipients"] = outer["recipients"] + other["recipients"]
    with pytest.raises(DecryptionError):
        peers.open(peers.encode(outer))


def test_bundle_with_wrapped_key_swapped_from_another_bundle_is_rejected(peers):
    # Mix-and-match attack: bob's wrapped key taken from a different bundle sealed to bob.
    first, second = peers.outer(peers.bundle()), peers.outer(peers.bundle())
    first["recipients"] = second["recipients"]
    with pytest.raises(DecryptionError):
        peers.open(peers.encode(first))


def test_bundle_with_ciphertext_from_another_bundle_is_rejected(peers):
    # Mix-and-match attack: the header of one bundle with the ciphertext of another.
    first, second = peers.outer(peers.bundle()), peers.outer(peers.bundle())
    first["ciphertext"] = second["ciphertext"]
    with pytest.raises(DecryptionError):
        peers.open(peers.encode(first))


def test_other_recipients_wrapped_key_edited_is_rejected(peers):
    # Tampering with bytes meant for someone else: the AEAD's associated data covers all wrapped keys.
    import base64

    outer = peers.outer(peers.bundle(to=("bob", "carol")))
    carol = peers.who("carol").card.encryption_key_id
    for r in outer["recipients"]:
        if r["key_id"] == carol:
            raw = bytearray(base64.b64decode(r["wrapped_key"]))
            raw[40] ^= 1
            r["wrapped_key"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(DecryptionError):
        peers.open(peers.encode(outer))
