"""Freeze and time attacks: an old bundle presented after it expired, or one dated in the future."""

from __future__ import annotations

from datetime import timedelta

import pytest

from secfp.exchange.errors import Expired, NotYetValid


def test_expired_bundle_is_rejected(peers):
    # Freeze attack: a bundle replayed after its validity ended.
    data = peers.bundle(now=peers.now - timedelta(days=100), lifetime=timedelta(days=90))
    with pytest.raises(Expired, match="validity check failed: expired"):
        peers.open(data)
    assert peers.replay_state() is None


def test_bundle_just_past_expiry_and_skew_is_rejected(peers):
    # Freeze attack at the boundary: one second beyond expiry plus the 5-minute skew.
    data = peers.bundle(lifetime=timedelta(days=1))
    with pytest.raises(Expired):
        peers.open(data, now=peers.now + timedelta(days=1, minutes=5, seconds=1))


def test_bundle_within_clock_skew_of_expiry_is_accepted(peers):
    # Control: small clock differences are tolerated.
    data = peers.bundle(lifetime=timedelta(days=1))
    assert peers.open(data, now=peers.now + timedelta(days=1, minutes=4)).bundle_id


def test_future_dated_bundle_is_rejected(peers):
    # Time-shift attack: a statement issued an hour from now.
    data = peers.bundle(now=peers.now + timedelta(hours=1))
    with pytest.raises(NotYetValid, match="issued in the future"):
        peers.open(data)
    assert peers.replay_state() is None
