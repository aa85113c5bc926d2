"""The trust store: add, list, remove, rotation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from secfp_peers import NOW

from secfp.errors import UsageError
from secfp.exchange import generate_identity, load_trust_store, trust_add, trust_remove


def test_missing_store_trusts_no_one(tmp_path):
    assert len(load_trust_store(tmp_path / "nope")) == 0


def test_add_list_remove(tmp_path):
    alice, bob = generate_identity("alice", now=NOW), generate_identity("bob", now=NOW)
    trust_add(tmp_path, alice.card, now=NOW)
    trust_add(tmp_path, bob.card, now=NOW)
    trust_add(tmp_path, alice.card, now=NOW)  # idempotent
    store = load_trust_store(tmp_path)
    assert [c.name for c in store] == ["alice", "bob"]
    assert store.by_signing_key_id(alice.card.signing_key_id).name == "alice"
    trust_remove(tmp_path, "alice")
    assert [c.name for c in load_trust_store(tmp_path)] == ["bob"]
    with pytest.raises(UsageError, match="not in the trust store"):
        trust_remove(tmp_path, "alice")


def test_second_card_for_same_name_needs_replace(tmp_path):
    old, new = generate_identity("alice", now=NOW), generate_identity("alice", now=NOW)
    trust_add(tmp_path, old.card, now=NOW)
    with pytest.raises(UsageError, match="--replace"):
        trust_add(tmp_path, new.card, now=NOW)
    assert load_trust_store(tmp_path).by_name("alice").same_keys(old.card)
    trust_add(tmp_path, new.card, now=NOW, replace=True)
    assert load_trust_store(tmp_path).by_name("alice").same_keys(new.card)


def test_same_key_under_two_names_is_refused(tmp_path):
    alice = generate_identity("alice", now=NOW)
    trust_add(tmp_path, alice.card, now=NOW)
    from secfp.exchange.keys import _self_signed_card

    alias = _self_signed_card("alias", alice.signing_key, alice.encryption_key, alice.card.created, alice.card.not_after)
    with pytest.raises(UsageError, match="already trusted under the name alice"):
        trust_add(tmp_path, alias, now=NOW)


def test_expired_card_is_not_added(tmp_path):
    card = generate_identity("alice", now=NOW, valid_for=timedelta(days=1)).card
    with pytest.raises(UsageError, match="not valid now"):
        trust_add(tmp_path, card, now=NOW + timedelta(days=2))
    assert not (tmp_path / "alice.card.json").exists()
