"""Arbitrary tampering: an attacker on the wire changes one byte anywhere in the bundle file.

Every position matters: the file is canonical JSON (one spelling per value), the
header and every wrapped key are bound into the content AEAD, and the envelope
is signed. So each single-byte change must be rejected with a secfp error, and
nothing may be recorded in the replay store.
"""

from __future__ import annotations

import random

import pytest

from secfp.errors import InvalidBundle, SecfpError, VerificationError



def _flip_everywhere(peers, data: bytes, *, as_: str | None) -> None:
    rng = random.Random(20250601)
    # Every position of the file (a few thousand; most opens fail in the parser
    # within microseconds), each changed twice: one random bit, one random byte.
    before = peers.replay_state()
    accepted = []
    for pos in range(len(data)):
        for mask in (1 << rng.randrange(8), rng.randrange(1, 256)):
            tampered = bytearray(data)
            tampered[pos] ^= mask
            try:
                peers.open(bytes(tampered), as_=as_)
            except (InvalidBundle, VerificationError):
                continue
            except SecfpError as exc:  # pragma: no cover - would be a bug in the error mapping
                pytest.fail(f"byte {pos}: unexpected error class {type(exc).__name__}")
            accepted.append((pos, mask))
    assert accepted == [], f"tampered bundles accepted at byte positions {accepted}"
    assert peers.replay_state() == before


def test_sealed_bundle_with_any_flipped_byte_is_rejected(peers):
    # Arbitrary-tampering attack on a bundle sealed to two recipients (bob opens it),
    # including the bytes of carol's wrapped key, which bob never uses.
    data = peers.bundle(to=("bob", "carol"), card={"task": "chest x-ray"})
    assert len(data) > 2000
    _flip_everywhere(peers, data, as_="bob")


def test_public_bundle_with_any_flipped_byte_is_rejected(peers):
    # Arbitrary-tampering attack on a signed, unencrypted bundle.
    data = peers.bundle(public=True)
    _flip_everywhere(peers, data, as_=None)


def test_untampered_bundle_is_accepted_after_flip_tests(peers):
    # Control: the same kind of bundle, unmodified, verifies (so the rejections above are real).
    data = peers.bundle(to=("bob", "carol"))
    assert peers.open(data).bundle_id
