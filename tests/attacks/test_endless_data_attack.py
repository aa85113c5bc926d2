"""Endless data: oversized or deeply nested input meant to exhaust memory, time or the stack.

The size cap is checked before reading (file) or parsing (bytes); nesting is
bounded; only secfp errors come out.
"""

from __future__ import annotations

import pytest
from secfp_peers import NOW

from secfp.errors import InvalidBundle
from secfp.exchange import load_fingerprint_or_bundle, read_bundle_file
from secfp.exchange._internal.format import MAX_BUNDLE_BYTES


def test_oversized_bundle_bytes_are_rejected(peers):
    # Endless-data attack: one byte over the cap, rejected before parsing.
    with pytest.raises(InvalidBundle, match="more than the limit"):
        peers.open(bytes(MAX_BUNDLE_BYTES + 1))
    assert peers.replay_state() is None


def test_oversized_bundle_file_is_rejected_before_reading(tmp_path):
    # Endless-data attack on disk: a sparse file larger than the cap is never read.
    path = tmp_path / "huge.bundle"
    with path.open("wb") as fh:
        fh.truncate(MAX_BUNDLE_BYTES + 1)
    with pytest.raises(InvalidBundle, match="more than the limit"):
        read_bundle_file(path)
    with pytest.raises(InvalidBundle):
        load_fingerprint_or_bundle(path, now=NOW)


def test_deeply_nested_bundle_is_rejected(peers):
    # Stack-exhaustion attack: 100 000 nested arrays.
    with pytest.raises(InvalidBundle):
        peers.open(b"[" * 100_000 + b"]" * 100_000 + b"\n")


def test_deeply_nested_task_card_in_signed_statement_is_rejected(peers):
    # Stack-exhaustion attack through a trusted signer's card field.
    statement = peers.statement_of(peers.bundle())
    nested: dict = {}
    for _ in range(200):
        nested = {"x": nested}
    statement["card"] = nested
    with pytest.raises(InvalidBundle, match="nested"):
        peers.open(peers.seal_envelope(peers.sign(statement)))
