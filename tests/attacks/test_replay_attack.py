"""Replay: the same bundle delivered again (by an attacker or by mistake) is accepted once.

``secfp verify`` is the act of receiving; the bundle id is recorded only after
every other check passed, so a rejected bundle never burns its id.
"""

from __future__ import annotations

import threading

import pytest

from secfp.exchange.errors import Expired, Replayed


def test_replayed_bundle_is_rejected(peers):
    # Replay attack: the same file verified twice.
    data = peers.bundle()
    peers.open(data)
    recorded = peers.replay_state()
    with pytest.raises(Replayed, match="replay check failed: bundle .* already received"):
        peers.open(data)
    assert peers.replay_state() == recorded


def test_bundle_resealed_by_recipient_to_itself_is_a_replay(peers):
    # Replay attack with fresh ciphertext: bob re-seals the same signed envelope to himself.
    data = peers.bundle()
    peers.open(data)
    again = peers.seal_envelope(peers.envelope_of(data))
    assert again != data
    with pytest.raises(Replayed):
        peers.open(again)


def test_rejected_bundle_does_not_burn_its_id(peers):
    # A bundle first presented too late (rejected) then presented in time is not a replay.
    from datetime import timedelta

    data = peers.bundle(lifetime=timedelta(days=1))
    with pytest.raises(Expired):
        peers.open(data, now=peers.now + timedelta(days=3))
    assert peers.replay_state() is None
    assert peers.open(data).bundle_id


def test_check_without_record_leaves_store_unchanged(peers):
    # `secfp verify --no-record`: checks the store, writes nothing.
    data = peers.bundle()
    peers.open(data, record=False)
    peers.open(data, record=False)
    assert peers.replay_state() is None
    peers.open(data)
    with pytest.raises(Replayed):
        peers.open(data, record=False)


def test_concurrent_replay_is_accepted_exactly_once(peers):
    # Race: the same bundle received by several processes at once; the lock makes one win.
    data = peers.bundle()
    outcomes: list[str] = []

    def receive() -> None:
        try:
            peers.open(data)
            outcomes.append("ok")
        except Replayed:
            outcomes.append("replayed")

    threads = [threading.Thread(target=receive) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok"] + ["replayed"] * 5
