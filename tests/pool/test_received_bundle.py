"""The receive journey's typed values: only the verifier makes a ReceivedBundle, the pool stores only that,
each use is audited, and a failed audit append leaves no replay record behind."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pool_helpers import card, make_fingerprint

from secfp.cards.task_card import TaskCard
from secfp.errors import AuditChainBroken
from secfp.exchange import ReplayStore, open_bundle
from secfp.privacy import PrivacyLedger
from secfp.exchange.received import PolicyRef, ReceivedBundle, receive_statement


def test_a_received_bundle_cannot_be_forged_outside_the_verifier(world):
    # An attacker (or a careless caller) builds the "verified" value by hand around an unverified statement.
    data = world.bundle()
    statement = open_bundle(data, identity=world.receiver.identity, trust_store=world.peers.trust, now=world.now)
    with pytest.raises(TypeError, match="only by Receiver.receive"):
        ReceivedBundle(statement, PrivacyLedger.none(spec_id=statement.fingerprint.spec_id), None, "none", None)
    received = world.receiver.receive(data, now=world.now, label="x")
    with pytest.raises(TypeError):
        replace(received, _seal=None)
    # The one constructor takes only what open_bundle returned, not a look-alike of its fields.
    with pytest.raises(TypeError, match="only from what open_bundle returned"):
        receive_statement(statement.to_json())


def test_the_receive_workflow_hands_out_the_exchange_level_type(world):
    # The pool imports the type from secfp.exchange.received; the workflow re-exports the same class.
    from secfp.workflows import receive

    assert receive.ReceivedBundle is ReceivedBundle and receive.PolicyRef is PolicyRef
    assert type(world.receiver.receive(world.bundle(), now=world.now, label="x")) is ReceivedBundle


def test_the_pool_stores_only_a_received_bundle(world):
    data = world.bundle()
    statement = open_bundle(data, identity=world.receiver.identity, trust_store=world.peers.trust, now=world.now)
    with pytest.raises(TypeError, match="only a ReceivedBundle"):
        world.pool.store(statement, data, now=world.now, label="x", audit_log=world.audit_log, actor="bob@test")
    assert world.pool.entries() == []


def test_received_bundle_carries_ledger_card_and_policy_as_types(world):
    data = world.bundle(card=card("ct"), policy={"id": "hospital-a", "digest": "ab" * 32, "data_use": ["HMB"]})
    received = world.receiver.receive(data, now=world.now, label="x")
    assert isinstance(received.card, TaskCard) and received.card.name == "ct" and received.card_error is None
    assert received.policy == PolicyRef("hospital-a", "ab" * 32, ("HMB",))
    assert received.ledger.mechanism == "none" and not received.ledger.is_private
    plain = world.receiver.receive(world.bundle(make_fingerprint(seed=2)), now=world.now, label="y")
    assert plain.card is None and plain.card_error == "the bundle carries no task card" and plain.policy is None


def test_a_failed_audit_append_leaves_no_replay_record(world, tmp_path):
    # The audit log is tampered with, so appending to it fails: the receipt must not be recorded as seen.
    receiver = world.with_receiver(audit_log=tmp_path / "broken.jsonl")
    world.receiver.receive(world.bundle(make_fingerprint(seed=3)), now=world.now, label="first")  # a good log ...
    world.receiver.receive(world.bundle(make_fingerprint(seed=5)), now=world.now, label="second")  # ... chained
    (tmp_path / "broken.jsonl").write_bytes(world.audit_log.read_bytes().replace(b'"first"', b'"forged"'))
    store = ReplayStore(tmp_path / "replay")
    data = world.bundle(make_fingerprint(seed=4))
    with pytest.raises(AuditChainBroken):
        receiver.receive(data, now=world.now, label="bundle", replay_store=store, record=True)
    assert store.entries() == {}
    # With a sound log the same bundle is received and recorded, after its audit record.
    received = world.receiver.receive(data, now=world.now, label="bundle", replay_store=store, record=True)
    assert set(store.entries()) == {received.bundle_id}
    assert "replay-recorded" in received.checks
    assert world.audit()[-1].event.bundle_id == received.bundle_id


def test_ranking_and_planning_each_write_their_audit_record(world):
    a = world.add(world.bundle(make_fingerprint(seed=1), card=card("a"))).entry
    world.add(world.bundle(make_fingerprint(seed=2), card=card("b")))
    ranking = world.rank(make_fingerprint(seed=9), top=1)
    match = world.audit()[-1].event
    assert match.event == "match" and match.details["results"][0]["bundle_id"] == ranking.matches[0].source
    world.plan(make_fingerprint(seed=9))
    plan = world.audit()[-1].event
    assert plan.event == "plan" and a.bundle_id in {s for ids in plan.details["suggestions"].values() for s in ids}
