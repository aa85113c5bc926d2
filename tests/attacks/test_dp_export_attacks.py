"""Attacks on a DP export through what travels next to the noise: the sampling rate, the
policy gates, the task card, the numeric path, the budget, and a non-DP release under a
policy that requires DP. Real images (sample tasks), the real probe, real policies."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from secfp.governance import load_policy, read_log
from secfp.workflows.export import DPRequest, prepare_export

NOW = datetime.now(timezone.utc)
CARD = {"v": 1, "task": {"name": "retina", "modality": "fundus", "images": 21},
        "knowledge": {"architecture": {"name": "resnet50", "score": 0.81, "metric": "BA"}}}


def _plan(folder: Path, spec, *, policy=None, card=None, dp=DPRequest(epsilon=4.0), samples: int = 30):
    return prepare_export([folder], spec=spec, samples=samples, seed=0, dp=dp, recipients=(), public=True,
                          lifetime=timedelta(days=30), card=card, policy=policy, dataset=None, budget=None, now=NOW)


def _policy(tmp_path: Path, *, dp: bool, extra: str = "", card_allow: str = '"v", "task", "knowledge"') -> Path:
    dp_lines = "dp_required = true\nmax_epsilon = 8.0\nmax_delta = 1e-5\n" if dp else "dp_required = false\n"
    path = tmp_path / "policy.toml"
    path.write_text(f"""
[policy]
id = "attack-test"
version = 1
valid_from = 2026-01-01
valid_until = 2099-01-01

[export]
min_source_images = 1
min_sampled_images = 1
{dp_lines}{extra}
allow_public = true
max_lifetime_days = 365
data_use = ["HMB"]

[export.card]
allow = [{card_allow}]
""")
    return path


@pytest.fixture
def n_and_n_plus_one(sample_tasks, tmp_path) -> tuple[Path, Path]:
    full = sample_tasks["fundus"][0]
    smaller = tmp_path / "minus-one"
    shutil.copytree(full, smaller)
    sorted(p for p in smaller.iterdir() if p.is_file())[0].unlink()
    return smaller, full


def test_ledgers_of_n_and_n_plus_one_units_cannot_be_told_apart(n_and_n_plus_one, default_spec, torch_home) -> None:
    # Attack: q = samples / N was signed into the ledger, so 10000 / q gave N exactly.
    plans = [_plan(folder, default_spec) for folder in n_and_n_plus_one]
    ledgers = [p.ledger.to_json() for p in plans]
    assert ledgers[0] == ledgers[1]
    assert ledgers[0]["sample_rate"] == 1.0 and plans[0].sample_rate_source == "default"
    # The numeric path is fixed for DP, not chosen from the realised n.
    assert plans[0].numerics == plans[1].numerics == "channels-last"
    # Gates see only the noisy estimates.
    assert all(p.counts_kind == "dp_estimate" and p.source_image_count == round(p.fingerprint.n / 1.0) for p in plans)
    # --dry-run shows all of it: the gates' inputs, the numeric path, q's origin, what is not covered, the warnings.
    shown = plans[0].to_json(now=NOW)
    assert shown["gates"]["counts"] == "dp_estimate" and shown["numerics"] == "channels-last"
    assert shown["sample_rate_source"] == "default" and shown["not_covered_by_privacy"] == []
    assert any("not one patient" in w for w in shown["warnings"])


def test_private_card_fields_are_withheld_under_dp_and_the_ledger_names_what_it_does_not_cover(
    sample_tasks, default_spec, tmp_path, torch_home
) -> None:
    # Attack: an architecture score measured on the private data travelled un-noised next to the noise.
    folder = sample_tasks["fundus"][0]
    plan = _plan(folder, default_spec, card=CARD)
    assert "knowledge" not in (plan.card or {}) and plan.withheld_card_fields == ("knowledge.architecture",)
    assert plan.card["task"]["images_kind"] == "dp_estimate"
    assert set(plan.ledger.not_covered) == {"card.v", "card.task.name", "card.task.modality"}
    # A policy that names the field explicitly releases it, and the ledger says it is not covered.
    policy = load_policy(_policy(tmp_path, dp=True, card_allow='"v", "task", "knowledge.architecture"'), now=NOW)
    released = _plan(folder, default_spec, card=CARD, policy=policy)
    assert released.card["knowledge"]["architecture"]["score"] == 0.81
    assert "card.knowledge.architecture.score" in released.ledger.not_covered
    # A broad allow ("knowledge") is not an explicit release.
    broad = load_policy(_policy(tmp_path, dp=True), now=NOW)
    assert "knowledge" not in (_plan(folder, default_spec, card=CARD, policy=broad).card or {})


def test_a_fingerprint_file_cannot_satisfy_min_source_images(sample_tasks, default_spec, tmp_path, torch_home) -> None:
    # Attack: a fingerprint file (sampled with replacement, any n) bypassed the dataset-size gate.
    from secfp.fingerprint.histogram import save_fingerprint
    from secfp.fingerprint.pipeline import fingerprint_paths

    run = fingerprint_paths([sample_tasks["histology"][0]], spec=default_spec, samples=20)
    save_fingerprint(run.fingerprint, tmp_path / "fp.json")
    policy = load_policy(_policy(tmp_path, dp=False), now=NOW)
    plan = _plan(tmp_path / "fp.json", default_spec, policy=policy, dp=None)
    assert not plan.allowed
    assert any(r.startswith("export.min_source_images") and "unknown" in r for r in plan.verdict.reasons)


def test_policy_requiring_patients_refuses_a_volume_level_release(sample_tasks, default_spec, tmp_path, torch_home) -> None:
    policy = load_policy(_policy(tmp_path, dp=True, extra='privacy_unit = "patient"\nrequire_dataset = true\n'), now=NOW)
    plan = _plan(sample_tasks["fundus"][0], default_spec, policy=policy)
    reasons = " ".join(plan.verdict.reasons)
    assert "export.privacy_unit" in reasons and "export.require_dataset" in reasons


def test_dp_required_policy_refuses_a_non_dp_export_with_exit_5_and_an_audit_record(alice_cli, sample_tasks, tmp_path) -> None:
    policy = _policy(tmp_path, dp=True)
    out = tmp_path / "x.bundle"
    result = alice_cli("export", sample_tasks["histology"][0], "--key", tmp_path / "alice" / "alice.key", "--public",
                       "--samples", 20, "--policy", policy, "-o", out)
    assert result.exit_code == 5, result.output
    assert "export.dp_required" in result.stderr and not out.exists()
    last = read_log(tmp_path / "home" / "audit.jsonl")[-1].event
    assert last.event == "export" and last.outcome == "refused" and "export.dp_required" in " ".join(last.reasons)


def test_a_copied_folder_shares_the_budget_and_exhaustion_is_exit_7_without_a_policy(alice_cli, sample_tasks, tmp_path) -> None:
    # Attack: a copy of the folder started at zero spent.
    original = sample_tasks["histology"][0]
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    args = ("--key", tmp_path / "alice" / "alice.key", "--public", "--dp-epsilon", 2, "--dp-budget", 3, "--json")
    first = alice_cli("export", original, *args, "-o", tmp_path / "1.bundle")
    assert first.exit_code == 0, first.output
    doc = json.loads(first.stdout)
    assert doc["privacy"]["privacy_unit"] == "volume" and doc["privacy"]["max_images_per_unit"] == 4
    assert any("not one patient" in w for w in doc["warnings"]) and "warning:" in first.stderr
    second = alice_cli("export", copy, *args, "-o", tmp_path / "2.bundle")
    assert second.exit_code == 7 and not (tmp_path / "2.bundle").exists()
    listed = alice_cli("privacy", "budget", "list", "--dp-budget", 3, "--json")
    datasets = json.loads(listed.stdout)["datasets"]
    assert len(datasets) == 1 and datasets[0]["spent_epsilon"] <= 2.0 and datasets[0]["releases"] == 1


def test_the_policy_budget_binds_even_when_dp_budget_is_larger(alice_cli, sample_tasks, tmp_path) -> None:
    policy = _policy(tmp_path, dp=True, extra="dataset_epsilon_budget = 8.0\n")
    args = ("--key", tmp_path / "alice" / "alice.key", "--public", "--dp-epsilon", 5, "--dp-budget", 100,
            "--policy", policy)
    assert alice_cli("export", sample_tasks["histology"][0], *args, "-o", tmp_path / "1.bundle").exit_code == 0
    second = alice_cli("export", sample_tasks["histology"][0], *args, "-o", tmp_path / "2.bundle")
    assert second.exit_code == 7, second.output  # budget exhaustion is exit 7 with a policy too
    assert not (tmp_path / "2.bundle").exists()
    assert read_log(tmp_path / "home" / "audit.jsonl")[-1].event.outcome == "refused"


def test_an_empty_poisson_sample_is_released_as_noise_not_refused(sample_tasks, default_spec, torch_home) -> None:
    # Attack: a release refused when the sample is empty happens with probability (1-q)^N, a function of N
    # that no accountant charges; and retrying until it succeeds conditions the sample on being non-empty.
    # At q = 1e-5 the sample of this folder (about 20 units) is empty except with probability about 2e-4.
    folder = sample_tasks["fundus"][0]
    plan = _plan(folder, default_spec, dp=DPRequest(epsilon=0.01, sample_rate=1e-5))
    assert plan.ledger.sample_rate == 1e-5 and plan.fingerprint.noisy
    # Pure noise: every row sums to noise only, so the estimate of n is tiny next to the noise.
    assert plan.fingerprint.n < plan.ledger.sigma * default_spec.bins
    assert plan.numerics == "channels-last"


def test_poisson_counts_of_an_empty_sample_are_zero_and_carry_no_exact_n_or_mean(sample_tasks, default_spec,
                                                                                   torch_home) -> None:
    import numpy as np

    from secfp.fingerprint.pipeline import fingerprint_poisson

    folder = sample_tasks["fundus"][0]
    paths = sorted(str(p) for p in folder.iterdir() if p.is_file())
    run = fingerprint_poisson(paths, spec=default_spec, sample_rate=1e-9, rng=np.random.default_rng(0))
    assert run.counts.shape == (default_spec.num_features, default_spec.bins) and not run.counts.any()
    assert not hasattr(run, "fingerprint") and not hasattr(run, "n")
    full = fingerprint_poisson(paths, spec=default_spec, sample_rate=1.0, rng=np.random.default_rng(0))
    assert np.all(full.counts.sum(axis=1) == len(paths))


def test_a_refusal_that_read_the_noisy_counts_is_charged_with_its_audit_record(alice_cli, sample_tasks, tmp_path) -> None:
    # Attack: a gate on the noisy image count refused for free, so retrying until it passed published a draw
    # conditioned on passing, and the budget never saw the attempts.
    policy = _policy(tmp_path, dp=True).read_text().replace("min_source_images = 1", "min_source_images = 100000")
    (tmp_path / "gate.toml").write_text(policy)
    args = ("--key", tmp_path / "alice" / "alice.key", "--public", "--dp-epsilon", 2, "--dp-budget", 5,
            "--policy", tmp_path / "gate.toml")
    for attempt in (1, 2):
        result = alice_cli("export", sample_tasks["histology"][0], *args, "-o", tmp_path / f"{attempt}.bundle")
        assert result.exit_code == 5, result.output
        assert "export.min_source_images" in result.stderr and not (tmp_path / f"{attempt}.bundle").exists()
        event = read_log(tmp_path / "home" / "audit.jsonl")[-1].event
        assert event.outcome == "refused" and event.epsilon_spent == pytest.approx(2.0, abs=0.01)
        assert "the refusal read the noisy counts" in " ".join(event.reasons)
    listed = json.loads(alice_cli("privacy", "budget", "list", "--dp-budget", 5, "--json").stdout)["datasets"]
    assert len(listed) == 1 and listed[0]["spent_epsilon"] == pytest.approx(4.0, abs=0.02)
    # The third attempt cannot be paid for: exit 7, audited, still nothing written.
    third = alice_cli("export", sample_tasks["histology"][0], *args, "-o", tmp_path / "3.bundle")
    assert third.exit_code == 7 and not (tmp_path / "3.bundle").exists()
    assert read_log(tmp_path / "home" / "audit.jsonl")[-1].event.outcome == "refused"


def test_a_refusal_that_read_no_noise_costs_nothing(alice_cli, sample_tasks, tmp_path) -> None:
    policy = _policy(tmp_path, dp=True, extra="require_dataset = true\n")
    result = alice_cli("export", sample_tasks["histology"][0], "--key", tmp_path / "alice" / "alice.key", "--public",
                       "--dp-epsilon", 2, "--dp-budget", 5, "--policy", policy, "-o", tmp_path / "x.bundle")
    assert result.exit_code == 5, result.output
    assert "export.require_dataset" in result.stderr and "min_source_images" not in result.stderr
    event = read_log(tmp_path / "home" / "audit.jsonl")[-1].event
    assert event.outcome == "refused" and event.epsilon_spent is None
    listed = json.loads(alice_cli("privacy", "budget", "list", "--dp-budget", 5, "--json").stdout)["datasets"]
    assert all(d["spent_epsilon"] == 0 for d in listed)
