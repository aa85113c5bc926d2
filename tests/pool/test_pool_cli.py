"""The pool commands through the real CLI: outcomes per bundle, exit codes, JSON documents."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import typer
from pool_helpers import card, make_fingerprint
from typer.testing import CliRunner

from secfp.cli import _SecfpGroup
from secfp.cli import pool_cmds
from secfp.exchange import generate_identity, save_identity, seal_bundle, trust_add
from secfp.fingerprint.histogram import save_fingerprint
from secfp.governance import read_log
from secfp.privacy import PrivacyLedger
from policy_texts import dp_import_policy  # noqa: E402

CLI_NOW = datetime.now(timezone.utc)

POLICY = dp_import_policy("cli-import")


@pytest.fixture(scope="module")
def people():
    """Identities valid today (the CLI reads the real clock)."""
    born = CLI_NOW - timedelta(days=1)
    return {n: generate_identity(n, now=born, valid_for=timedelta(days=30)) for n in ("alice", "bob", "mallory")}


@pytest.fixture
def site(tmp_path, people):
    """bob's key file and trust store (alice only), and helpers to write bundles and run the CLI."""
    save_identity(people["bob"], tmp_path / "bob", passphrase=None, unsafe_no_passphrase=True)
    trust = tmp_path / "trust"
    trust_add(trust, people["alice"].card, now=CLI_NOW)
    app = typer.Typer(cls=_SecfpGroup)
    pool_cmds.register(app)
    runner = CliRunner()

    class Site:
        key = tmp_path / "bob" / "bob.key"
        pool = tmp_path / "pool"
        audit = tmp_path / "secfp-home" / "audit.jsonl"

        def __init__(self):
            self.trust = trust

        def bundle(self, name, *, issuer="alice", seed=1, public=False, **card_kwargs):
            fp = make_fingerprint(seed=seed)
            data = seal_bundle(fp, issuer=people[issuer], recipients=[] if public else [people["bob"].card],
                               public=public, now=CLI_NOW, card=card(name, **card_kwargs),
                               privacy=PrivacyLedger.none(spec_id=fp.spec_id).to_json()).data
            path = tmp_path / f"{name}.bundle"
            path.write_bytes(data)
            return path

        def run(self, *args):
            return runner.invoke(app, [str(a) for a in args])

        def add(self, *paths, extra=()):
            return self.run("pool", "add", *paths, "--pool", self.pool, "--key", self.key, "--trust", self.trust, *extra)

    return Site()


def test_pool_add_list_show_remove_round_trip(site):
    a, b = site.bundle("lung", seed=1), site.bundle("liver", seed=2, public=True)
    result = site.add(a, b)
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["added", "added"]
    again = site.add(a, extra=("--json",))
    assert again.exit_code == 0
    doc = json.loads(again.stdout)
    assert doc["exit_code"] == 0 and doc["results"][0]["outcome"] == "present"
    listed = json.loads(site.run("pool", "list", "--pool", site.pool, "--trust", site.trust, "--json").stdout)
    assert sorted(b["task"]["name"] for b in listed["bundles"]) == ["liver", "lung"]
    assert {b["status"] for b in listed["bundles"]} == {"usable"}
    bundle_id = doc["results"][0]["bundle_id"]
    shown = site.run("pool", "show", bundle_id[:8], "--pool", site.pool, "--trust", site.trust, "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["card"]["task"]["name"] == "lung"
    table = site.run("pool", "list", "--pool", site.pool, "--trust", site.trust)
    assert table.exit_code == 0 and "lung" in table.stdout
    removed = site.run("pool", "remove", bundle_id, "--pool", site.pool)
    assert removed.exit_code == 0 and "removed bundle" in removed.stderr
    assert site.run("pool", "show", bundle_id, "--pool", site.pool).exit_code == 2
    events = [r.event.event for r in read_log(site.audit)]
    assert events.count("pool-add") == 3 and events[-1] == "pool-remove"


def test_pool_add_untrusted_bundle_exits_4_and_adds_the_rest(site):
    good, bad = site.bundle("good", seed=1), site.bundle("evil", issuer="mallory", seed=2)
    result = site.add(good, bad)
    assert result.exit_code == 4
    lines = result.stdout.splitlines()
    assert lines[0].startswith("added") and lines[1].startswith("refused") and "trust" in lines[1]
    listed = json.loads(site.run("pool", "list", "--pool", site.pool, "--trust", site.trust, "--json").stdout)
    assert [b["task"]["name"] for b in listed["bundles"]] == ["good"]


def test_pool_add_partly_refused_reports_every_outcome_and_keeps_what_was_added(site, tmp_path):
    # Mixed batch: a good bundle, one already pooled, one from an untrusted signer (mallory). The good ones stay
    # added and audited; --json prints the one error document with every file's outcome in details.
    first, good, evil = site.bundle("first", seed=3), site.bundle("good", seed=1), site.bundle("evil", issuer="mallory",
                                                                                               seed=2)
    assert site.add(first).exit_code == 0
    result = site.add(first, good, evil, extra=("--json",))
    assert result.exit_code == 4, result.output
    doc = json.loads(result.stdout)  # one document
    assert set(doc) == {"error"}
    error = doc["error"]
    assert error["code"] == 4 and error["kind"] == "untrusted_signer"
    assert error["message"].startswith(f"pool add: 1 of 3 bundles refused, 1 added, 1 already present; {evil}: ")
    details = error["details"]
    assert details["counts"] == {"added": 1, "present": 1, "refused": 1}
    first_out, good_out, evil_out = details["outcomes"]
    assert (first_out["file"], first_out["outcome"]) == (str(first), "present")
    assert (good_out["file"], good_out["outcome"], good_out["task"]["name"]) == (str(good), "added", "good")
    assert (evil_out["file"], evil_out["outcome"], evil_out["exit_code"], evil_out["kind"]) == (
        str(evil), "refused", 4, "untrusted_signer")
    assert "trust" in evil_out["reason"]
    # What was added stays added, and each outcome has its audit record.
    listed = json.loads(site.run("pool", "list", "--pool", site.pool, "--trust", site.trust, "--json").stdout)
    assert sorted(b["bundle_id"] for b in listed["bundles"]) == sorted([first_out["bundle_id"], good_out["bundle_id"]])
    adds = [r.event for r in read_log(site.audit) if r.event.event == "pool-add"]
    assert [(e.outcome, e.details["file"]) for e in adds[-3:]] == [("ok", str(first)), ("ok", str(good)),
                                                                 ("failed", str(evil))]
    assert adds[-2].bundle_id == good_out["bundle_id"]
    # Without --json: a line per file on stdout, the one error line on stderr.
    again = site.add(good, evil)
    assert again.exit_code == 4
    assert [line.split()[0] for line in again.stdout.splitlines()] == ["present", "refused"]
    assert again.stderr.startswith("secfp: error: pool add: 1 of 2 bundles refused, 0 added, 1 already present")


def test_pool_add_exit_code_is_the_most_severe_failure(site, tmp_path):
    junk = tmp_path / "junk.bundle"
    junk.write_bytes(b"\x00not a bundle")
    policy = tmp_path / "import.toml"
    policy.write_text(POLICY)
    no_dp = site.bundle("no-dp", seed=1)
    assert site.add(junk).exit_code == 3
    assert site.add(no_dp, extra=("--policy", policy)).exit_code == 5
    mixed = site.add(junk, no_dp, extra=("--policy", policy, "--json"))
    assert mixed.exit_code == 5  # policy (5) outranks malformed (3)
    error = json.loads(mixed.stdout)["error"]
    assert (error["code"], error["kind"]) == (5, "policy_violation")
    junk_out, no_dp_out = error["details"]["outcomes"]
    assert (junk_out["exit_code"], junk_out["kind"]) == (3, "invalid_bundle")
    assert no_dp_out["policy_id"] == "cli-import" and no_dp_out["reasons"]
    assert all(r in no_dp_out["reason"] for r in no_dp_out["reasons"])
    evil = site.bundle("evil", issuer="mallory", seed=2)
    assert site.add(junk, no_dp, evil, extra=("--policy", policy)).exit_code == 4  # verification outranks both
    assert not (site.pool / "bundles").exists() or not any((site.pool / "bundles").iterdir())
    assert any(r.event.outcome == "refused" and r.event.policy_id == "cli-import" for r in read_log(site.audit))


def test_sealed_bundle_without_key_is_a_usage_error(site):
    path = site.bundle("sealed", seed=1)
    result = site.run("pool", "add", path, "--pool", site.pool, "--trust", site.trust)
    assert result.exit_code == 2 and "--key" in result.stdout


def test_plan_prints_scenarios_and_json(site, tmp_path):
    assert site.add(site.bundle("open", seed=1), site.bundle("closed", seed=2, shareable=False)).exit_code == 0
    query = tmp_path / "query.fp.json"
    save_fingerprint(make_fingerprint(seed=9), query)
    args = ("plan", query, "--pool", site.pool, "--key", site.key, "--trust", site.trust)
    text = site.run(*args)
    assert text.exit_code == 0, text.output
    assert "Co-training:" in text.stdout and "cannot be shared" in text.stdout
    doc = json.loads(site.run(*args, "--json", "--top", "1").stdout)
    assert set(doc) >= {"v", "weights", "scenarios", "excluded", "query", "pool", "data_use_purpose"}
    assert len(doc["scenarios"]["architecture"]) == 1 and doc["query"]["verified"] is False
    assert doc["pool"]["used"] == 2 and doc["data_use_purpose"]["from"] == "default (no import policy)"
    html = tmp_path / "plan.html"
    result = site.run(*args, "--html", html)
    assert result.exit_code == 0, result.output
    assert html.exists() and "closed" in html.read_text()


def test_plan_against_pool_without_the_query_spec_exits_6(site, tmp_path):
    from secfp.fingerprint.histogram import Fingerprint

    assert site.add(site.bundle("open", seed=1)).exit_code == 0
    fp = make_fingerprint(seed=9)
    query = tmp_path / "query.fp.json"
    save_fingerprint(Fingerprint(spec_id="ab" * 32, counts=fp.counts, n=fp.n, feature_mean=fp.feature_mean), query)
    result = site.run("plan", query, "--pool", site.pool, "--trust", site.trust)
    assert result.exit_code == 6 and "ab" * 32 in result.stderr


def test_commands_on_a_folder_that_is_not_a_pool_exit_2(site, tmp_path):
    assert site.run("pool", "list", "--pool", tmp_path / "nothing").exit_code == 2
