"""Attacks on local key material: guessing the passphrase, editing the key file or a trusted card."""

from __future__ import annotations

import json

import pytest
from secfp_peers import NOW

from secfp.errors import BadInput
from secfp.exchange import generate_identity, load_identity, load_trust_store, save_identity, trust_add
from secfp.exchange.errors import WrongPassphrase

CHEAP = 10  # scrypt cost for tests only (production default is 2^17)


def _saved(tmp_path, name="alice", passphrase="correct horse"):
    identity = generate_identity(name, now=NOW)
    return identity, save_identity(identity, tmp_path / "keys", passphrase=passphrase, scrypt_log2_n=CHEAP)


def test_key_file_with_wrong_passphrase_is_rejected(tmp_path):
    # Passphrase guessing: a wrong passphrase gets one clear line and exit code 4.
    _, files = _saved(tmp_path)
    with pytest.raises(WrongPassphrase, match="wrong passphrase") as info:
        load_identity(files.key_file, passphrase="battery staple")
    assert info.value.exit_code == 4


def test_key_file_with_swapped_card_is_rejected(tmp_path):
    # Key-substitution attack: the card inside the key file replaced by mallory's card,
    # so that the victim would sign under the wrong name. The header is AEAD-authenticated.
    _, files = _saved(tmp_path)
    mallory = generate_identity("mallory", now=NOW)
    obj = json.loads(files.key_file.read_text())
    obj["card"] = mallory.card.to_json()
    files.key_file.write_text(json.dumps(obj))
    with pytest.raises(WrongPassphrase):
        load_identity(files.key_file, passphrase="correct horse")


def test_key_file_with_changed_kdf_cost_is_rejected(tmp_path):
    # Editing the key file's scrypt cost (for example lowering it to speed up guessing) breaks the tag.
    _, files = _saved(tmp_path)
    obj = json.loads(files.key_file.read_text())
    obj["kdf"]["log2_n"] = CHEAP + 1
    files.key_file.write_text(json.dumps(obj))
    with pytest.raises(WrongPassphrase):
        load_identity(files.key_file, passphrase="correct horse")


def test_unencrypted_key_file_with_mismatched_card_is_rejected(tmp_path):
    # Key-substitution in an unencrypted key file: the keys no longer match the card.
    identity = generate_identity("alice", now=NOW)
    files = save_identity(identity, tmp_path / "keys", passphrase=None, unsafe_no_passphrase=True)
    obj = json.loads(files.key_file.read_text())
    obj["card"] = generate_identity("alice", now=NOW).card.to_json()
    files.key_file.write_text(json.dumps(obj))
    with pytest.raises(BadInput, match="do not match"):
        load_identity(files.key_file)


def test_trusted_card_edited_in_store_is_rejected(tmp_path):
    # Trust-store tampering: the encryption key in a trusted card swapped for mallory's.
    alice, mallory = generate_identity("alice", now=NOW), generate_identity("mallory", now=NOW)
    store = tmp_path / "trust"
    trust_add(store, alice.card, now=NOW)
    path = store / "alice.card.json"
    obj = json.loads(path.read_text())
    obj["encryption_key"] = mallory.card.to_json()["encryption_key"]
    obj["encryption_key_id"] = mallory.card.encryption_key_id
    path.write_text(json.dumps(obj))
    with pytest.raises(BadInput, match="self-signature does not verify"):
        load_trust_store(store)


def test_card_file_renamed_to_another_name_in_store_is_rejected(tmp_path):
    # Trust-store confusion: mallory's card saved under alice's file name.
    mallory = generate_identity("mallory", now=NOW)
    store = tmp_path / "trust"
    store.mkdir()
    (store / "alice.card.json").write_text(json.dumps(mallory.card.to_json()))
    with pytest.raises(BadInput, match="holds the card of mallory"):
        load_trust_store(store)
