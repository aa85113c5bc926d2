"""Local disclosure through file modes: private files are 0600, a readable private key is refused.

Attack: another user on a shared analysis server reads what secfp wrote.
Exact fingerprints and reports (which may hold fingerprints decrypted from
sealed bundles) were written 0644 whatever the umask, and a private key file
left world-readable was loaded silently. Private outputs are now 0600 and a
group- or world-readable key is refused with the ``chmod`` to run (as OpenSSH
refuses an unprotected key).
"""

from __future__ import annotations

import os
import stat

import pytest

from secfp.errors import BadInput
from secfp.exchange import load_identity, trust_add
from secfp.exchange.bundle import seal_bundle
from secfp.fingerprint.histogram import save_fingerprint
from secfp_peers import make_fingerprint

from _cli_world import TODAY, cli, fresh_identity, key_file


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_group_or_world_readable_private_key_is_refused_with_the_chmod_to_run(tmp_path, mode):
    # Key-disclosure attack: a key others can read is as good as leaked; refuse to use it.
    key = key_file(fresh_identity("alice"), tmp_path / "alice")
    os.chmod(key, mode)
    with pytest.raises(BadInput, match=rf"chmod 600 {key}"):
        load_identity(key)
    os.chmod(key, 0o600)
    assert load_identity(key).name == "alice"


def test_exact_fingerprint_file_is_private_whatever_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "exact.fp"
        save_fingerprint(make_fingerprint(), path)
    finally:
        os.umask(old)
    assert _mode(path) == 0o600


def test_report_and_heat_map_of_a_decrypted_bundle_are_private(tmp_path):
    # Disclosure attack on outputs: a sealed bundle's fingerprint ends up in an HTML report and a PNG.
    alice, bob = fresh_identity("alice"), fresh_identity("bob")
    trust = tmp_path / "trust"
    trust_add(trust, alice.card, now=TODAY)
    bob_key = key_file(bob, tmp_path / "bob")
    bundle = tmp_path / "in.bundle"
    bundle.write_bytes(seal_bundle(make_fingerprint(), issuer=alice, recipients=[bob.card], now=TODAY).data)
    query = tmp_path / "query.fp"
    save_fingerprint(make_fingerprint(seed=9), query)
    html, png = tmp_path / "report.html", tmp_path / "heat.png"
    old = os.umask(0o022)
    try:
        matched = cli("match", query, bundle, "--key", bob_key, "--trust", trust, "--html", html,
                      "--audit-log", tmp_path / "audit.jsonl")
        shown = cli("inspect", bundle, "--key", bob_key, "--trust", trust, "--plot", png)
    finally:
        os.umask(old)
    assert matched.exit_code == 0, matched.output
    assert shown.exit_code == 0, shown.output
    assert _mode(html) == 0o600 and _mode(png) == 0o600
