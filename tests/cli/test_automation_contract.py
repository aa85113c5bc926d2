"""What scripts rely on: outputs never overwritten silently, kinds read from content, quiet pipes, clear messages."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

from secfp.exchange.kinds import sniff_kind
from secfp.fingerprint.histogram import load_fingerprint


def test_existing_output_is_refused_without_force_and_replaced_with_it(site):
    out = site.root / "public.bundle"
    out.write_bytes(b"precious")
    refused = site.run("export", site.fp, "--key", site.alice_key, "--public", "-o", out)
    assert refused.exit_code == 2 and "--force" in refused.stderr
    assert out.read_bytes() == b"precious"
    forced = site.run("export", site.fp, "--key", site.alice_key, "--public", "-o", out, "--force")
    assert forced.exit_code == 0, forced.output
    assert sniff_kind(out.read_bytes()) == "secfp.bundle"


def test_export_recognises_a_fingerprint_file_by_content_not_extension(site):
    # site.fp is called task.fp: no .json suffix, yet it is exported as the fingerprint it is.
    out = site.root / "pub.bundle"
    result = site.run("export", site.fp, "--key", site.alice_key, "--public", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == load_fingerprint(site.fp).n


def test_output_that_is_a_folder_or_in_a_missing_folder_is_refused_before_any_work(site):
    # An empty input folder would fail with 3 during the scan: exit 2 shows the output was checked first.
    empty = site.root / "empty"
    empty.mkdir()
    as_dir = site.run("fingerprint", empty, "-o", site.root)
    assert as_dir.exit_code == 2 and "is a folder" in as_dir.stderr
    missing = site.run("fingerprint", empty, "-o", site.root / "no" / "such" / "out.fp")
    assert missing.exit_code == 2 and "does not exist" in missing.stderr


def test_fingerprint_files_are_private(site):
    assert stat.S_IMODE(site.fp.stat().st_mode) == 0o600


def test_re_received_bundle_says_how_to_check_it_again(site):
    first = site.run("verify", site.bundle, "--trust", site.trust, "--key", site.bob_key)
    assert first.exit_code == 0, first.output
    again = site.run("verify", site.bundle, "--trust", site.trust, "--key", site.bob_key)
    assert again.exit_code == 4
    assert "--no-record" in again.stderr and "secfp inspect" in again.stderr
    checked = site.run("verify", site.bundle, "--trust", site.trust, "--key", site.bob_key, "--no-record")
    assert checked.exit_code == 4  # already recorded: --no-record checks, it does not forget
    shown = site.run("inspect", site.bundle, "--trust", site.trust, "--key", site.bob_key, "--json")
    assert shown.exit_code == 0, shown.output  # what the message advises works
    assert json.loads(shown.stdout)["bundle"]["issuer"]["name"] == "alice"


def test_truncated_or_foreign_file_given_to_verify_is_not_a_secfp_bundle(site):
    truncated = site.root / "cut.bundle"
    truncated.write_bytes(site.bundle.read_bytes()[:-200])
    result = site.run("verify", truncated, "--trust", site.trust, "--key", site.bob_key)
    assert result.exit_code == 3 and "not a secfp bundle" in result.stderr
    assert "newline" not in result.stderr
    fingerprint = site.run("verify", site.fp, "--trust", site.trust)
    assert fingerprint.exit_code == 3 and "not a secfp bundle: this is a fingerprint file" in fingerprint.stderr


def test_private_key_given_to_trust_add_is_named(site):
    result = site.run("trust", "add", site.alice_key, "--store", site.root / "t")
    assert result.exit_code == 3
    assert "is a private key file" in result.stderr and "not an identity card" in result.stderr
    assert not (site.root / "t").exists() or not any((site.root / "t").glob("*.card.json"))


def test_card_given_as_key_is_named(site):
    result = site.run("export", site.fp, "--key", site.alice_card, "--public", "-o", site.root / "x.bundle")
    assert result.exit_code == 3 and "is an identity card" in result.stderr and "--key takes NAME.key" in result.stderr
    task_card = site.root / "card.toml"
    task_card.write_text('v = 1\n[task]\nname = "liver"\n')
    result = site.run("export", site.fp, "--key", task_card, "--public", "-o", site.root / "x.bundle")
    assert result.exit_code == 3 and "is a task card" in result.stderr


def test_store_is_an_alias_of_trust(site):
    by_trust = site.run("trust", "list", "--trust", site.trust, "--json")
    by_store = site.run("trust", "list", "--store", site.trust, "--json")
    assert by_trust.exit_code == by_store.exit_code == 0
    assert json.loads(by_trust.stdout) == json.loads(by_store.stdout)


def test_trust_list_shows_full_key_ids(site):
    result = site.run("trust", "list", "--trust", site.trust)
    assert result.exit_code == 0
    assert site.alice.card.signing_key_id in result.stdout.replace("\n", "").replace(" ", "").replace("│", "")


def test_help_is_plain_text(site):
    # Flags show no "<bool>" placeholder and "[dask]" is not eaten as rich markup.
    result = site.run("fingerprint", "--help")
    assert result.exit_code == 0
    assert "secfp[dask]" in result.stdout and "<bool>" not in result.stdout
    assert "<bool>" not in site.run("verify", "--help").stdout


def test_broken_pipe_ends_quietly_with_141(tmp_path):
    # `secfp ... | head -1` where head has already exited: the reader of stdout is gone.
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = dict(os.environ, SECFP_HOME=str(tmp_path / "home"), PYTHONPATH=os.getcwd())
    proc = subprocess.run(
        [sys.executable, "-c", "from secfp.cli import main; main()", "spec", "show", "--json"],
        stdout=write_end, stderr=subprocess.PIPE, env=env, timeout=120,
    )
    os.close(write_end)
    assert proc.returncode == 141
    assert proc.stderr == b""
