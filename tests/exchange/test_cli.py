"""The exchange commands end to end through the real CLI: keygen -> trust add -> export -> verify."""

from __future__ import annotations

import json
import stat

import pytest
from typer.testing import CliRunner

from secfp.cli import app
from secfp.fingerprint.histogram import save_fingerprint


PASSPHRASE = "test passphrase"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """alice (passphrase-protected, production scrypt cost) and bob (--no-passphrase), made once with `secfp keygen`."""
    root = tmp_path_factory.mktemp("keys")
    env = {"SECFP_HOME": str(root / "home"), "SECFP_PASSPHRASE": PASSPHRASE}
    runner = CliRunner()
    result = runner.invoke(app, ["keygen", "alice", "--out", str(root / "alice")], env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["keygen", "bob", "--out", str(root / "bob"), "--no-passphrase", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["name"] == "bob" and json.loads(result.stdout)["encrypted"] is False
    return root / "alice", root / "bob"


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("SECFP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SECFP_PASSPHRASE", PASSPHRASE)
    runner = CliRunner()

    def run(*args: str, env: dict | None = None):
        return runner.invoke(app, [str(a) for a in args], env=env)

    return run


@pytest.fixture
def world(cli, keys, peers, tmp_path):
    """bob trusts alice (his own trust store in this test); alice holds a fingerprint file."""
    a, b = keys
    trust = tmp_path / "bob-trust"
    assert cli("trust", "add", a / "alice.card.json", "--store", trust).exit_code == 0
    fp = tmp_path / "task.fp.json"
    save_fingerprint(peers.fingerprint, fp)
    return a, b, trust, fp


def test_keygen_writes_private_key_and_card(world):
    a, _, _, _ = world
    assert stat.S_IMODE((a / "alice.key").stat().st_mode) == 0o600
    assert json.loads((a / "alice.card.json").read_text())["kind"] == "secfp.identity"


def test_export_then_verify_then_replay(cli, world, tmp_path):
    a, b, trust, fp = world
    bundle = tmp_path / "out.bundle"
    result = cli("export", fp, "--key", a / "alice.key", "--to", b / "bob.card.json", "--expires", "30d", "-o", bundle)
    assert result.exit_code == 0, result.output
    assert bundle.exists()

    result = cli("verify", bundle, "--key", b / "bob.key", "--trust", trust, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # exactly one JSON document on stdout
    assert report["issuer"]["name"] == "alice" and report["fingerprint"]["n"] == 40
    assert "replay-recorded" in report["checks"]

    result = cli("verify", bundle, "--key", b / "bob.key", "--trust", trust)
    assert result.exit_code == 4
    assert "replay check failed" in result.stderr


def test_verify_no_record_leaves_replay_store_alone(cli, world, tmp_path):
    a, b, trust, fp = world
    bundle = tmp_path / "out.bundle"
    assert cli("export", fp, "--key", a / "alice.key", "--to", b / "bob.card.json", "-o", bundle).exit_code == 0
    replay = tmp_path / "replay"
    for _ in range(2):
        assert cli("verify", bundle, "--key", b / "bob.key", "--trust", trust, "--replay-store", replay, "--no-record").exit_code == 0
    assert not (replay / "seen.json").exists()
    assert cli("verify", bundle, "--key", b / "bob.key", "--trust", trust, "--replay-store", replay).exit_code == 0
    assert cli("verify", bundle, "--key", b / "bob.key", "--trust", trust, "--replay-store", replay).exit_code == 4


def test_public_export_verifies_without_key(cli, world, tmp_path):
    a, b, trust, fp = world
    bundle = tmp_path / "public.bundle"
    assert cli("export", fp, "--key", a / "alice.key", "--public", "-o", bundle).exit_code == 0
    result = cli("verify", bundle, "--trust", trust)
    assert result.exit_code == 0, result.output
    assert "alice" in result.stdout


def test_wrong_passphrase_exits_4_and_writes_nothing(cli, world, tmp_path):
    a, b, trust, fp = world
    bundle = tmp_path / "out.bundle"
    result = cli("export", fp, "--key", a / "alice.key", "--to", b / "bob.card.json", "-o", bundle,
                 env={"SECFP_PASSPHRASE": "wrong"})
    assert result.exit_code == 4
    assert "wrong passphrase" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not bundle.exists()


def test_untrusted_signer_exits_4_and_records_nothing(cli, world, tmp_path):
    a, b, trust, fp = world
    bundle = tmp_path / "out.bundle"
    assert cli("export", fp, "--key", a / "alice.key", "--to", b / "bob.card.json", "-o", bundle).exit_code == 0
    result = cli("verify", bundle, "--key", b / "bob.key", "--trust", tmp_path / "empty-trust")
    assert result.exit_code == 4 and "trust check failed" in result.stderr
    assert not (tmp_path / "home" / "replay" / "seen.json").exists()


def test_garbage_bundle_exits_3(cli, world, tmp_path):
    _, b, trust, _ = world
    junk = tmp_path / "junk.bundle"
    junk.write_bytes(b"\x00not a bundle")
    result = cli("verify", junk, "--key", b / "bob.key", "--trust", trust)
    assert result.exit_code == 3


def test_tampered_bundle_exits_nonzero(cli, world, tmp_path):
    a, b, trust, fp = world
    bundle = tmp_path / "out.bundle"
    assert cli("export", fp, "--key", a / "alice.key", "--to", b / "bob.card.json", "-o", bundle).exit_code == 0
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0x01
    bundle.write_bytes(bytes(data))
    assert cli("verify", bundle, "--key", b / "bob.key", "--trust", trust).exit_code in (3, 4)


def test_export_needs_to_or_public(cli, world, tmp_path):
    a, _, _, fp = world
    bundle = tmp_path / "out.bundle"
    assert cli("export", fp, "--key", a / "alice.key", "-o", bundle).exit_code == 2
    assert not bundle.exists()


def test_export_to_trusted_name_and_with_task_card(cli, world, tmp_path):
    a, b, trust, fp = world
    alice_trust = tmp_path / "alice-trust"
    assert cli("trust", "add", b / "bob.card.json", "--store", alice_trust).exit_code == 0
    card = tmp_path / "task.toml"
    card.write_text('v = 1\n[task]\nname = "chest CT"\nmodality = "ct"\n')
    bundle = tmp_path / "out.bundle"
    result = cli("export", fp, "--key", a / "alice.key", "--to", "bob", "--trust", alice_trust, "--card", card, "-o", bundle, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["recipients"][0]["name"] == "bob"
    result = cli("verify", bundle, "--key", b / "bob.key", "--trust", trust, "--json")
    assert json.loads(result.stdout)["card"] == {"v": 1, "task": {"name": "chest CT", "modality": "ct"}}


def test_trust_list_and_remove(cli, world):
    _, b, trust, _ = world
    result = cli("trust", "list", "--store", trust, "--json")
    assert [c["name"] for c in json.loads(result.stdout)["cards"]] == ["alice"]
    assert cli("trust", "remove", "alice", "--store", trust).exit_code == 0
    assert cli("trust", "remove", "alice", "--store", trust).exit_code == 2


def test_trust_store_defaults_to_secfp_home(cli, world, tmp_path):
    a, _, _, _ = world
    assert cli("trust", "add", a / "alice.card.json").exit_code == 0
    assert (tmp_path / "home" / "trust" / "alice.card.json").exists()


def test_export_fingerprints_image_folder(cli, world, sample_tasks, tmp_path):
    # Images in: the fingerprint is computed (small sample) and sealed in one step.
    a, b, trust, _ = world
    folder = next(iter(sample_tasks.values()))[0]
    bundle = tmp_path / "images.bundle"
    result = cli("export", folder, "--key", a / "alice.key", "--to", b / "bob.card.json", "--samples", "16", "-o", bundle, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 16
    result = cli("verify", bundle, "--key", b / "bob.key", "--trust", trust, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["fingerprint"]["n"] == 16
