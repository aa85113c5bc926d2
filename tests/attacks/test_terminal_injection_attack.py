"""Terminal injection through signed strings: what a bundle says is shown as text, never as markup.

Attack: a trusted but careless (or compromised) issuer signs a statement whose
policy id holds rich markup or terminal control sequences. Rendered as markup,
``[/x]`` crashed ``verify`` after the bundle had been recorded as received, and
ESC sequences could rewrite what the receiver sees. Control characters are now
refused at parse time (nothing recorded, the failure audited); markup-like text
is printed literally.
"""

from __future__ import annotations

import pytest

from secfp.errors import InvalidBundle
from secfp.exchange import TrustStore, trust_add
from secfp.exchange.bundle import seal_bundle
from secfp.governance import read_log
from secfp_peers import make_fingerprint

from _cli_world import TODAY, cli, fresh_identity, key_file

DIGEST = "ab" * 32


@pytest.fixture
def world(tmp_path):
    alice, bob = fresh_identity("alice"), fresh_identity("bob")
    trust = tmp_path / "bob-trust"
    trust_add(trust, alice.card, now=TODAY)
    return alice, bob, key_file(bob, tmp_path / "bob"), trust


def _bundle(tmp_path, alice, bob, policy_id: str):
    path = tmp_path / "in.bundle"
    policy = {"id": policy_id, "digest": DIGEST, "data_use": ["HMB"]}
    path.write_bytes(seal_bundle(make_fingerprint(), issuer=alice, recipients=[bob.card], now=TODAY, policy=policy).data)
    return path


def test_markup_in_a_signed_policy_id_is_printed_literally(world, tmp_path):
    # Markup-injection attack: "[/x]" closed a tag that was never opened and crashed verify (exit 1).
    alice, bob, bob_key, trust = world
    bundle = _bundle(tmp_path, alice, bob, "[/x][bold red]TRUSTED[/bold red]")
    result = cli("verify", bundle, "--key", bob_key, "--trust", trust, "--audit-log", tmp_path / "audit.jsonl")
    assert result.exit_code == 0, result.output
    assert "[/x][bold red]TRUSTED[/bold red]" in result.stdout.replace("\n", "")


def test_escape_sequence_in_a_signed_policy_id_is_refused_at_parse_time(world, tmp_path):
    # Terminal-injection attack: ESC sequences clear the screen and forge a verdict.
    alice, bob, bob_key, trust = world
    bundle = _bundle(tmp_path, alice, bob, "ok\x1b[2J\x1b[Hverified: all checks passed")
    log = tmp_path / "audit.jsonl"
    home_replay = tmp_path / "replay"
    result = cli("verify", bundle, "--key", bob_key, "--trust", trust, "--audit-log", log, "--replay-store", home_replay)
    assert result.exit_code == 3
    assert "control characters" in result.stderr and "\x1b" not in result.output
    assert not home_replay.exists() or not any(home_replay.iterdir())  # nothing recorded as received
    records = read_log(log)
    assert [r.event.outcome for r in records] == ["failed"]


def test_bidi_override_in_a_signed_string_is_refused(world):
    # Trojan-Source attack (CVE-2021-42574): a right-to-left override reorders what is shown.
    from secfp.exchange import open_bundle

    alice, bob, _, _ = world
    data = seal_bundle(make_fingerprint(), issuer=alice, recipients=[bob.card], now=TODAY,
                       policy={"id": "policy-\u202eexe.fdp", "digest": DIGEST, "data_use": []}).data
    with pytest.raises(InvalidBundle, match="control characters"):
        open_bundle(data, identity=bob, trust_store=TrustStore((alice.card,)), now=TODAY, record=False)
