"""Recipient substitution by a planted card: ``--to bob`` must mean the bob we trust.

Attack: mallory drops a file called ``bob`` (her own card, under bob's name) into
the shared folder an exporter works in. If ``--to NAME`` preferred a file of that
name over the trust store, the bundle would be sealed to mallory. Names resolve
in the trust store only; a card file needs an explicit path, and a card file for
a name the trust store holds with a different key is refused.
"""

from __future__ import annotations

import pytest

from secfp.errors import DecryptionError, UsageError
from secfp.exchange import TrustStore, open_bundle, trust_add
from secfp.exchange.keys import save_card
from secfp.exchange.trust import resolve_recipient
from secfp.fingerprint.histogram import save_fingerprint
from secfp_peers import make_fingerprint

from _cli_world import TODAY, cli, fresh_identity, key_file


@pytest.fixture
def world(tmp_path, monkeypatch):
    alice, bob, mallory = fresh_identity("alice"), fresh_identity("bob"), fresh_identity("bob")
    alice_key = key_file(alice, tmp_path / "alice")
    trust = tmp_path / "alice-trust"
    trust_add(trust, bob.card, now=TODAY)
    fp = tmp_path / "task.fp"
    save_fingerprint(make_fingerprint(), fp)
    shared = tmp_path / "shared-drive"
    shared.mkdir()
    save_card(mallory.card, shared / "bob")  # the planted card, a file called exactly "bob"
    monkeypatch.chdir(shared)
    return alice_key, trust, fp, bob, mallory, shared


def test_name_planted_as_a_file_does_not_receive_the_bundle(world, tmp_path):
    # Recipient-substitution attack: a file named like the recipient sits in the working folder.
    alice_key, trust, fp, bob, mallory, _ = world
    out = tmp_path / "out.bundle"
    result = cli("export", fp, "--key", alice_key, "--to", "bob", "--trust", trust, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    store = TrustStore((fresh_identity("alice").card,))  # who signed does not matter for decryption below
    with pytest.raises(DecryptionError):
        open_bundle(data, identity=mallory, trust_store=store, now=TODAY, record=False)
    import json

    assert json.loads(result.stdout)["recipients"] == [{"name": "bob", "encryption_key_id": bob.card.encryption_key_id}]


def test_explicit_card_path_for_a_trusted_name_with_another_key_is_refused(world, tmp_path):
    # Recipient-substitution attack through an explicit path: the trust store knows a different bob.
    alice_key, trust, fp, _, _, shared = world
    out = tmp_path / "out.bundle"
    result = cli("export", fp, "--key", alice_key, "--to", "./bob", "--trust", trust, "-o", out)
    assert result.exit_code == 2
    assert "holds a different key for bob" in result.stderr
    assert not out.exists()


def test_unknown_name_is_refused_and_points_to_the_path_form(world, tmp_path):
    alice_key, _, fp, _, _, _ = world
    empty = tmp_path / "empty-trust"
    result = cli("export", fp, "--key", alice_key, "--to", "bob", "--trust", empty, "-o", tmp_path / "x.bundle")
    assert result.exit_code == 2
    assert "no card of that name in the trust store" in result.stderr and "./bob" in result.stderr


def test_resolver_never_reads_a_bare_name_from_disk(world):
    _, _, _, bob, mallory, _ = world
    store = TrustStore((bob.card,))
    assert resolve_recipient("bob", store).signing_key_id == bob.card.signing_key_id
    with pytest.raises(UsageError):
        resolve_recipient("bob", TrustStore(()))
