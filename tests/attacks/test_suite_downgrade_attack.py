"""Downgrade: the bundle names another suite or format version, hoping the verifier follows it.

The suite string is compared with the one constant of format version 1 and
never used to pick an algorithm; an unknown version is malformed.
"""

from __future__ import annotations

import pytest

from secfp.errors import InvalidBundle
from secfp.exchange._internal.format import SUITE
from secfp.exchange.errors import SuiteMismatch


def test_bundle_with_changed_suite_string_is_rejected(peers):
    # Algorithm-downgrade attack: the suite names weaker primitives.
    outer = peers.outer(peers.bundle())
    outer["suite"] = SUITE.replace("aes-256-gcm", "aes-128-gcm")
    with pytest.raises(SuiteMismatch, match="suite check failed"):
        peers.open(peers.encode(outer))
    assert peers.replay_state() is None


def test_public_bundle_with_changed_suite_string_is_rejected(peers):
    # Algorithm-downgrade attack on a public bundle (no encryption to break it otherwise).
    outer = peers.outer(peers.bundle(public=True))
    outer["suite"] = "none"
    with pytest.raises(SuiteMismatch):
        peers.open(peers.encode(outer), as_=None)


def test_bundle_with_other_format_version_is_rejected(peers):
    # Version-rollback attack: "v" changed.
    outer = peers.outer(peers.bundle())
    outer["v"] = 0
    with pytest.raises(InvalidBundle, match="not a version-1 secfp bundle"):
        peers.open(peers.encode(outer))
