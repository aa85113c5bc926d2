"""Attack: use `--dry-run` to see noisy draws of the data for free, or to pick the draw that gets
released. Pinned behaviour (SECURITY.md, "What the ledger does not cover"): a dry run draws its own
secret sample and noise, shows only what the release would show (the noisy estimates, never the
counts), charges nothing and writes nothing; the release that follows draws afresh, so no dry run's
draw can be chosen for release. The dry run's output is for the data custodian, who holds the exact
data anyway; published, it would be a release outside the accounting. Real images, the real probe,
the real CLI."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from typer.testing import CliRunner

from secfp.cli import app
from secfp.exchange import generate_identity
from secfp.privacy import BudgetStore
from secfp.workflows.export import DPRequest, prepare_export, release

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def test_a_dry_run_shows_no_counts_charges_nothing_and_writes_nothing(sample_tasks, tmp_path, monkeypatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("SECFP_HOME", str(home))
    runner = CliRunner()
    assert runner.invoke(app, ["keygen", "alice", "--out", str(tmp_path / "alice"), "--no-passphrase"]).exit_code == 0
    audit_before = (home / "audit.jsonl").read_bytes() if (home / "audit.jsonl").exists() else b""
    shown = runner.invoke(app, ["export", str(sample_tasks["histology"][0]), "--key", str(tmp_path / "alice" / "alice.key"),
                                "--public", "--dp-epsilon", "4", "--privacy-unit", "image", "--dry-run", "--json",
                                "-o", str(tmp_path / "x.bundle")])
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.stdout)
    fingerprint = doc["would_release"]["fingerprint"]
    assert fingerprint["noisy"] and "counts" not in fingerprint and doc["gates"]["counts"] == "dp_estimate"
    assert not (tmp_path / "x.bundle").exists()
    assert not (home / "budgets").exists() or not any((home / "budgets").glob("*.json"))
    after = (home / "audit.jsonl").read_bytes() if (home / "audit.jsonl").exists() else b""
    assert after == audit_before


def test_every_plan_draws_its_own_noise_and_the_release_is_the_plan_it_is_given(sample_tasks, default_spec, tmp_path,
                                                                                 torch_home) -> None:
    def plan():
        return prepare_export([sample_tasks["histology"][0]], spec=default_spec, samples=10, seed=0,
                              dp=DPRequest(epsilon=4.0, privacy_unit="image"), recipients=(), public=True,
                              lifetime=timedelta(days=30), card=None, policy=None, dataset=None, budget=None, now=NOW)

    dry, real = plan(), plan()
    # A dry run's draw is not the release's: each plan samples and adds noise from the OS CSPRNG.
    assert not np.array_equal(dry.fingerprint.counts, real.fingerprint.counts)
    budget = BudgetStore(tmp_path / "budgets", total_epsilon=10.0)
    sealed = release(real, tmp_path / "x.bundle", issuer=generate_identity("alice", now=NOW - timedelta(days=1)),
                     budget=budget, audit_log=tmp_path / "audit.jsonl", actor="test", now=NOW)
    assert np.array_equal(sealed.statement.fingerprint.counts, real.fingerprint.counts)
    assert budget.state(real.dataset).spent_epsilon == pytest.approx(real.ledger.epsilon)
