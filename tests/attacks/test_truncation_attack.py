"""Truncation: a bundle cut short on the wire or on disk, or its ciphertext shortened."""

from __future__ import annotations

import base64

import pytest

from secfp.errors import DecryptionError, InvalidBundle


@pytest.mark.parametrize("keep", [0, 1, 10, 0.5, -2, -1])
def test_truncated_bundle_file_is_rejected(peers, keep):
    # Truncation attack: the file ends early (anywhere, including just before the final newline).
    data = peers.bundle()
    cut = data[: int(len(data) * keep)] if isinstance(keep, float) else data[:keep]
    with pytest.raises(InvalidBundle):
        peers.open(cut)
    assert peers.replay_state() is None


def test_truncated_ciphertext_is_rejected(peers):
    # Truncation attack on the ciphertext, re-encoded so that the file still parses.
    data = peers.bundle()
    outer = peers.outer(data)
    outer["ciphertext"] = base64.b64encode(base64.b64decode(outer["ciphertext"])[:-1]).decode()
    with pytest.raises(DecryptionError):
        peers.open(peers.encode(outer))
    assert peers.replay_state() is None


def test_ciphertext_extended_with_junk_is_rejected(peers):
    # Extension attack: bytes appended to the ciphertext.
    data = peers.bundle()
    outer = peers.outer(data)
    outer["ciphertext"] = base64.b64encode(base64.b64decode(outer["ciphertext"]) + b"\x00" * 16).decode()
    with pytest.raises(DecryptionError):
        peers.open(peers.encode(outer))
