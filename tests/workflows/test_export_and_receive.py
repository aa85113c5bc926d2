"""The full journeys through the real CLI: DP export with a policy and a budget, receipt with an import policy.

Real images (sample tasks), real probe weights, real keys and cryptography, real DP
accounting; each test names the behaviour or the attack it checks, and checks that
nothing is written or charged when an operation is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from secfp.cli import app
from secfp.exchange import PrivateIdentity, export_bundle, load_identity
from secfp.governance import read_log, verify_log

runner = CliRunner()
DP_TASK = "ct"


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("SECFP_HOME", str(tmp_path / "home"))

    def run(*args):
        return runner.invoke(app, [str(a) for a in args])

    return run


@pytest.fixture
def world(cli, tmp_path):
    """alice (data holder) and bob (receiver), each trusting the other; unencrypted key files for speed."""
    for name in ("alice", "bob"):
        assert cli("keygen", name, "--out", tmp_path / name, "--no-passphrase").exit_code == 0
    for me, other in (("alice", "bob"), ("bob", "alice")):
        assert cli("trust", "add", tmp_path / other / f"{other}.card.json", "--store", tmp_path / f"{me}-trust").exit_code == 0
    return tmp_path


def _card_key_id(world: Path, name: str, field: str) -> str:
    return json.loads((world / name / f"{name}.card.json").read_text())[field]


def _policy(world: Path, *, recipient_key_id: str, max_epsilon: float = 4.0, budget: float = 5.0) -> Path:
    path = world / "export-policy.toml"
    path.write_text(f"""
[policy]
id = "test-hospital"
version = 1
valid_from = 2026-01-01
valid_until = 2099-01-01

[export]
min_source_images = 1
min_sampled_images = 1
dp_required = true
max_epsilon = {max_epsilon}
max_delta = 1e-5
dataset_epsilon_budget = {budget}
allow_public = false
max_lifetime_days = 365
data_use = ["HMB", "NCU"]

[[export.recipients]]
name = "bob"
key_id = "{recipient_key_id}"

[export.card]
allow = ["v", "task.name", "task.modality", "task.images", "task.images_kind", "knowledge"]
never = ["task.body_region"]
""")
    return path


def _card(world: Path) -> Path:
    path = world / "task.toml"
    path.write_text('v = 1\n[task]\nname = "abdominal CT"\nmodality = "ct"\nbody_region = "abdomen"\nimages = 42\n'
                    '[knowledge.architecture]\nname = "resnet50"\nscore = 0.81\nmetric = "BA"\n')
    return path


def _dp_export(cli, world, sample_tasks, out, *extra):
    return cli("export", sample_tasks[DP_TASK][0], "--key", world / "alice" / "alice.key", "--to", "bob",
               "--trust", world / "alice-trust", "--samples", 30, "-o", out, *extra)


def test_dp_export_carries_a_verifiable_ledger_and_no_exact_statistics(cli, world, sample_tasks):
    out = world / "dp.bundle"
    result = _dp_export(cli, world, sample_tasks, out, "--dp-epsilon", 2, "--card", _card(world), "--json")
    assert result.exit_code == 0, result.output
    verified = cli("verify", out, "--key", world / "bob" / "bob.key", "--trust", world / "bob-trust", "--json")
    assert verified.exit_code == 0, verified.output
    assert "privacy-ledger" in json.loads(verified.stdout)["checks"]
    shown = cli("inspect", out, "--key", world / "bob" / "bob.key", "--trust", world / "bob-trust", "--json")
    assert shown.exit_code == 0, shown.output
    obj = json.loads(shown.stdout)
    privacy = obj["privacy"]
    assert privacy["mechanism"] == "discrete_gaussian" and privacy["epsilon"] <= 2.0 + 1e-9
    assert {"sensitivity_l2", "sigma", "sample_rate", "delta", "accountants", "spec_id"} <= set(privacy)
    # The CT tiles carry a DICOM PatientID: the unit is the patient, at most 4 images each.
    assert privacy["privacy_unit"] == "patient" and privacy["max_images_per_unit"] == 4
    assert privacy["sensitivity_l2"] == pytest.approx(4 * 1280**0.5)
    assert {a["name"] for a in privacy["accountants"]} >= {"opacus.PRVAccountant"}
    assert obj["noisy"] is True
    # Noise is on the counts: rows no longer sum to one common n, and some counts are negative.
    sums = {sum(row) for row in obj["counts"]}
    assert len(sums) > 1 and min(min(row) for row in obj["counts"]) < 0
    # Under DP the card's exact image count is replaced by the estimate.
    assert obj["bundle"]["card"]["task"]["images_kind"] == "dp_estimate"


def test_dp_export_from_a_fingerprint_file_is_a_usage_error(cli, world, task_fingerprints):
    from secfp.fingerprint.histogram import save_fingerprint

    save_fingerprint(task_fingerprints[("ct", "a")], world / "fp.json")
    result = cli("export", world / "fp.json", "--key", world / "alice" / "alice.key", "--to", "bob",
                 "--trust", world / "alice-trust", "--dp-epsilon", 1, "-o", world / "x.bundle")
    assert result.exit_code == 2 and "needs the images" in result.stderr
    assert not (world / "x.bundle").exists()


def test_budget_exhaustion_refuses_with_what_is_left_and_writes_nothing(cli, world, sample_tasks):
    first = _dp_export(cli, world, sample_tasks, world / "1.bundle", "--dp-epsilon", 2, "--dp-budget", 3, "--dataset", "ct-local")
    assert first.exit_code == 0, first.output
    second = _dp_export(cli, world, sample_tasks, world / "2.bundle", "--dp-epsilon", 2, "--dp-budget", 3, "--dataset", "ct-local")
    assert second.exit_code == 7
    assert "only 1" in second.stderr and "left" in second.stderr
    assert not (world / "2.bundle").exists()
    records = read_log(world / "home" / "audit.jsonl")
    assert [(r.event.event, r.event.outcome) for r in records] == [("export", "ok"), ("export", "refused")]


def test_export_policy_refusal_lists_every_reason_and_is_audited(cli, world, sample_tasks):
    bob_key = _card_key_id(world, "bob", "encryption_key_id")
    policy = _policy(world, recipient_key_id=bob_key, max_epsilon=1.0)
    # Two rules broken at once: epsilon above the cap and a lifetime above a year.
    result = _dp_export(cli, world, sample_tasks, world / "p.bundle", "--dp-epsilon", 3, "--expires", "400d", "--policy", policy)
    assert result.exit_code == 5
    assert "export.max_epsilon" in result.stderr and "export.max_lifetime_days" in result.stderr
    assert not (world / "p.bundle").exists()
    log = world / "home" / "audit.jsonl"
    assert read_log(log)[-1].event.outcome == "refused"
    assert cli("audit", "verify", log).exit_code == 0


def test_export_policy_allows_filters_the_card_and_binds_the_policy_digest(cli, world, sample_tasks):
    bob_key = _card_key_id(world, "bob", "encryption_key_id")
    policy = _policy(world, recipient_key_id=bob_key)
    dry = _dp_export(cli, world, sample_tasks, world / "d.bundle", "--dp-epsilon", 2, "--policy", policy,
                     "--card", _card(world), "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    shown = json.loads(dry.stdout)
    assert shown["allowed"] is True and not (world / "d.bundle").exists()
    assert "task.body_region" in shown["withheld_card_fields"]
    assert shown["would_release"]["policy"]["data_use"] == ["HMB", "NCU"]
    result = _dp_export(cli, world, sample_tasks, world / "ok.bundle", "--dp-epsilon", 2, "--policy", policy, "--card", _card(world))
    assert result.exit_code == 0, result.output
    verified = json.loads(cli("verify", world / "ok.bundle", "--key", world / "bob" / "bob.key", "--trust", world / "bob-trust", "--json").stdout)
    import hashlib

    assert verified["policy"]["digest"] == hashlib.sha256(policy.read_bytes()).hexdigest()
    assert "body_region" not in verified["card"]["task"]


def test_export_to_a_recipient_the_policy_does_not_list_is_refused(cli, world, sample_tasks):
    policy = _policy(world, recipient_key_id="ab" * 32)
    result = _dp_export(cli, world, sample_tasks, world / "r.bundle", "--dp-epsilon", 2, "--policy", policy)
    assert result.exit_code == 5 and "recipient" in result.stderr


def test_import_policy_requiring_dp_refuses_a_plain_bundle_and_does_not_record_it(cli, world, task_fingerprints):
    from secfp.fingerprint.histogram import save_fingerprint

    save_fingerprint(task_fingerprints[("mr", "a")], world / "fp.json")
    bundle = world / "plain.bundle"
    assert cli("export", world / "fp.json", "--key", world / "alice" / "alice.key", "--to", "bob",
               "--trust", world / "alice-trust", "-o", bundle).exit_code == 0
    alice_sign = _card_key_id(world, "alice", "signing_key_id")
    import_policy = world / "import.toml"
    import_policy.write_text(f"""
[policy]
id = "test-import"
version = 1
valid_from = 2026-01-01
valid_until = 2099-01-01

[import]
allow_any_issuer = false
dp_required = true
max_epsilon = 4.0
max_age_days = 30
accept_any_spec = true

[import.purpose]
research_area = "biomedical"
methods_development = true
commercial = false
for_profit_organisation = false
ethics_approval = true

[[import.issuers]]
name = "alice"
key_id = "{alice_sign}"
""")
    args = (bundle, "--key", world / "bob" / "bob.key", "--trust", world / "bob-trust")
    refused = cli("verify", *args, "--policy", import_policy)
    assert refused.exit_code == 5 and "dp" in refused.stderr.lower()
    # Not recorded as received: the same bundle still verifies without the policy.
    assert cli("verify", *args).exit_code == 0
    assert cli("match", world / "fp.json", bundle, "--key", world / "bob" / "bob.key", "--trust", world / "bob-trust",
               "--policy", import_policy).exit_code == 5
    summary = verify_log(world / "home" / "audit.jsonl")
    assert summary.count >= 4


def test_bundle_with_an_under_declared_privacy_ledger_is_rejected(cli, world, sample_tasks, default_spec, task_fingerprints):
    # Attack: a trusted but dishonest (or buggy) issuer claims epsilon 0.1 for noise that only buys epsilon ~8.
    import warnings
    from datetime import datetime, timezone

    import numpy as np

    from secfp.privacy import privatize

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        noisy, ledger = privatize(task_fingerprints[("ct", "a")], epsilon=8.0, delta=1e-6, sample_rate=1.0,
                                  spec=default_spec, rng=np.random.default_rng(0))
    claim = ledger.to_json()
    claim["epsilon"] = 0.1
    claim["accountants"] = [dict(a, epsilon=0.1) for a in claim["accountants"]]
    alice: PrivateIdentity = load_identity(world / "alice" / "alice.key")
    from secfp.exchange import load_card

    export_bundle(noisy, world / "lie.bundle", issuer=alice, recipients=[load_card(world / "bob" / "bob.card.json")],
                  now=datetime.now(timezone.utc), privacy=claim)
    result = cli("verify", world / "lie.bundle", "--key", world / "bob" / "bob.key", "--trust", world / "bob-trust")
    assert result.exit_code == 4 and "privacy ledger" in result.stderr


def test_match_over_bundles_is_audited(cli, world, task_fingerprints):
    from secfp.fingerprint.histogram import save_fingerprint

    for name in ("ct", "us"):
        save_fingerprint(task_fingerprints[(name, "b")], world / f"{name}.json")
        assert cli("export", world / f"{name}.json", "--key", world / "alice" / "alice.key", "--to", "bob",
                   "--trust", world / "alice-trust", "-o", world / f"{name}.bundle").exit_code == 0
    save_fingerprint(task_fingerprints[("us", "a")], world / "query.json")
    result = cli("match", world / "query.json", world / "ct.bundle", world / "us.bundle", "--json",
                 "--key", world / "bob" / "bob.key", "--trust", world / "bob-trust")
    assert result.exit_code == 0, result.output
    obj = json.loads(result.stdout)
    assert obj["results"][0]["source"].endswith("us.bundle") and obj["results"][0]["verified"] is True
    assert obj["results"][0]["issuer"] == "alice"
    last = read_log(world / "home" / "audit.jsonl")[-1]
    assert last.event.event == "match" and last.event.details["results"][0]["rank"] == 1
