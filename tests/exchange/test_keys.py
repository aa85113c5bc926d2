"""Identities, key ids, cards and the key file."""

from __future__ import annotations

import hashlib
import json
import stat
from datetime import timedelta

import pytest
from secfp_peers import NOW

from secfp.errors import BadInput, UsageError
from secfp.exchange import IdentityCard, generate_identity, key_id, load_card, load_identity, save_identity
from secfp.exchange._internal import crypto

CHEAP = 10


def test_key_id_is_sha256_of_raw_public_key():
    identity = generate_identity("alice", now=NOW)
    raw = crypto.raw_public(identity.card.signing_key)
    assert len(raw) == 32
    assert identity.card.signing_key_id == hashlib.sha256(raw).hexdigest() == key_id(identity.card.signing_key)


def test_signing_and_encryption_keys_differ():
    card = generate_identity("alice", now=NOW).card
    assert card.signing_key_id != card.encryption_key_id


def test_save_and_load_encrypted_identity(tmp_path):
    identity = generate_identity("alice", now=NOW, valid_for=timedelta(days=30))
    files = save_identity(identity, tmp_path, passphrase="pässwörd", scrypt_log2_n=CHEAP)
    assert files.key_file.name == "alice.key" and files.card_file.name == "alice.card.json"
    assert stat.S_IMODE(files.key_file.stat().st_mode) == 0o600
    loaded = load_identity(files.key_file, passphrase="pässwörd")
    assert loaded.card.to_json() == identity.card.to_json()
    assert crypto.raw_private(loaded.signing_key) == crypto.raw_private(identity.signing_key)
    assert load_card(files.card_file).to_json() == identity.card.to_json()
    assert b"p\xc3\xa4ssw" not in files.key_file.read_bytes()
    assert crypto.raw_private(identity.signing_key).hex() not in files.key_file.read_text()


def test_passphrase_from_environment(tmp_path, monkeypatch):
    identity = generate_identity("alice", now=NOW)
    files = save_identity(identity, tmp_path, passphrase="from-env", scrypt_log2_n=CHEAP)
    monkeypatch.setenv("SECFP_PASSPHRASE", "from-env")
    assert load_identity(files.key_file).name == "alice"


def test_missing_passphrase_is_a_usage_error(tmp_path):
    files = save_identity(generate_identity("alice", now=NOW), tmp_path, passphrase="x", scrypt_log2_n=CHEAP)
    with pytest.raises(UsageError, match="SECFP_PASSPHRASE"):
        load_identity(files.key_file)


def test_unencrypted_key_file_needs_explicit_request(tmp_path):
    identity = generate_identity("alice", now=NOW)
    with pytest.raises(UsageError):
        save_identity(identity, tmp_path, passphrase=None)
    files = save_identity(identity, tmp_path, passphrase=None, unsafe_no_passphrase=True)
    assert load_identity(files.key_file).card.to_json() == identity.card.to_json()


def test_keygen_never_overwrites(tmp_path):
    save_identity(generate_identity("alice", now=NOW), tmp_path, passphrase="x", scrypt_log2_n=CHEAP)
    before = (tmp_path / "alice.key").read_bytes()
    with pytest.raises(UsageError, match="already exists"):
        save_identity(generate_identity("alice", now=NOW), tmp_path, passphrase="x", scrypt_log2_n=CHEAP)
    assert (tmp_path / "alice.key").read_bytes() == before


def test_empty_passphrase_is_refused(tmp_path):
    with pytest.raises(UsageError):
        save_identity(generate_identity("alice", now=NOW), tmp_path, passphrase="", scrypt_log2_n=CHEAP)


@pytest.mark.parametrize("name", ["", "../evil", "a/b", ".hidden", "x" * 65, "space name"])
def test_unsafe_identity_names_are_refused(name):
    with pytest.raises(UsageError):
        generate_identity(name, now=NOW)


def test_card_round_trip_and_key_id_mismatch():
    card = generate_identity("alice", now=NOW).card
    assert IdentityCard.from_json(card.to_json()).to_json() == card.to_json()
    obj = card.to_json()
    obj["signing_key_id"] = "0" * 64
    with pytest.raises(BadInput, match="signing_key_id does not match"):
        IdentityCard.from_json(obj)


def test_card_with_changed_validity_fails_self_signature():
    obj = generate_identity("alice", now=NOW).card.to_json()
    obj["not_after"] = "2099-01-01T00:00:00Z"
    with pytest.raises(BadInput, match="self-signature"):
        IdentityCard.from_json(obj)


def test_key_file_is_strict_json(tmp_path):
    files = save_identity(generate_identity("alice", now=NOW), tmp_path, passphrase="x", scrypt_log2_n=CHEAP)
    text = files.key_file.read_text()
    files.key_file.write_text(text.replace('{"card":', '{"v":1,"card":', 1))
    with pytest.raises(BadInput, match="duplicate key"):
        load_identity(files.key_file, passphrase="x")


def test_private_identity_repr_holds_no_key_material():
    identity = generate_identity("alice", now=NOW)
    text = repr(identity)
    assert crypto.raw_private(identity.signing_key).hex() not in text and "signing_key=" not in text
    json.dumps(identity.card.to_json())
