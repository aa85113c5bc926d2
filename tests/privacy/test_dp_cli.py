"""``secfp privacy explain`` through the real app: JSON document, human table, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dp_helpers import make_spec
from typer.testing import CliRunner

from secfp.fingerprint.spec import save_spec


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "spec.json"
    save_spec(make_spec(features=16, bins=20), path)
    return path


def _run(*args: str):
    from secfp.cli import app

    return CliRunner().invoke(app, ["privacy", "explain", *args])


def test_explain_json_prints_one_document_with_every_accountant(spec_file: Path) -> None:
    result = _run("--dp-epsilon", "1", "--dp-delta", "1e-6", "--sample-rate", "0.1", "--spec", str(spec_file),
                  "--samples", "2000", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["target_epsilon"] == 1.0 and doc["epsilon"] <= 1.0 and doc["mean_bin_count"] == 100.0
    assert doc["noise_std_relative"] == pytest.approx(doc["sigma"] / 100.0)
    assert [a["name"] for a in doc["accountants"]] == [
        "secfp.analytic_gaussian_poisson", "opacus.PRVAccountant", "dp_accounting.discrete_gaussian_pld"]
    assert doc["sample_rate"] == 0.1 and doc["sample_rate_source"] == "flag" and doc["max_images_per_unit"] == 4


def test_explain_defaults_to_rate_one_never_to_samples_over_images(spec_file: Path) -> None:
    # q is public: without --sample-rate or a policy it is 1, whatever --samples says.
    result = _run("--dp-epsilon", "2", "--spec", str(spec_file), "--samples", "300", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["sample_rate"] == 1.0 and doc["sample_rate_source"] == "default"
    assert doc["useless"] is (doc["noise_std_relative"] > 5)


def test_explain_table_names_the_noise_scale_and_accountants(spec_file: Path) -> None:
    result = _run("--dp-epsilon", "2", "--spec", str(spec_file))
    assert result.exit_code == 0, result.output
    for text in ("noise sigma per count", "mean bin count n/B", "opacus.PRVAccountant", "declared epsilon"):
        assert text in result.stdout


@pytest.mark.parametrize("args", [("--dp-epsilon", "-1"), ("--dp-epsilon", "1", "--dp-delta", "0.5"),
                                  ("--dp-epsilon", "1", "--sample-rate", "0")])
def test_explain_with_impossible_target_exits_2(spec_file: Path, args: tuple[str, ...]) -> None:
    result = _run(*args, "--spec", str(spec_file))
    assert result.exit_code == 2


def test_explain_with_unknown_spec_exits_3() -> None:
    assert _run("--dp-epsilon", "1", "--spec", "no-such-spec").exit_code == 3


def test_budget_list_and_show_report_spent_and_left(tmp_path: Path) -> None:
    from secfp.cli import app
    from secfp.privacy import BudgetStore

    store = BudgetStore(tmp_path / "budgets", total_epsilon=10.0)
    store.charge("content:abc", epsilon=1.5, delta=1e-6, label="export to a.bundle")
    store.charge("content:abc", epsilon=2.0, delta=1e-6, label="export to b.bundle")
    store.charge("ct-2024", epsilon=4.0, delta=1e-6)
    listed = CliRunner().invoke(app, ["privacy", "budget", "list", "--budgets", str(tmp_path / "budgets"),
                                      "--dp-budget", "5", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {d["dataset"]: d for d in json.loads(listed.stdout)["datasets"]}
    assert rows["content:abc"]["spent_epsilon"] == 3.5 and rows["content:abc"]["remaining_epsilon"] == 1.5
    assert rows["ct-2024"]["remaining_epsilon"] == 1.0 and rows["ct-2024"]["releases"] == 1
    shown = CliRunner().invoke(app, ["privacy", "budget", "show", "content:abc", "--budgets", str(tmp_path / "budgets")])
    assert shown.exit_code == 0 and "3.5 of 10 spent" in shown.stdout and "b.bundle" in shown.stdout
