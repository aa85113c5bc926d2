"""``secfp bench transfer`` through the command line runner."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner
from transfer_helpers import real_study_path

from secfp.errors import BadInput


def _app():
    """The real ``secfp`` app if it imports; else ``bench`` registered on a bare app.

    The fallback keeps these tests independent of the other command modules: it loads
    ``bench_cmds.py`` by path, so a broken sibling module cannot hide a broken bench.
    """
    try:
        from secfp.cli import app

        return app, True
    except ImportError:
        path = Path(__file__).resolve().parents[2] / "secfp" / "cli" / "bench_cmds.py"
        spec = importlib.util.spec_from_file_location("_secfp_bench_cmds_standalone", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        app = typer.Typer()

        @app.callback()
        def _root() -> None:
            """Bare root for the fallback."""

        module.register(app)
        return app, False


APP, REAL_APP = _app()


def invoke(*args):
    return CliRunner().invoke(APP, list(args))


def test_bench_transfer_prints_tables_and_writes_rankings(tiny_path, tmp_path):
    out = tmp_path / "rankings.json"
    result = invoke("bench", "transfer", "--data", str(tiny_path), "--rankings-out", str(out))
    assert result.exit_code == 0, result.output
    assert "architecture / BA / 800" in result.stdout
    for name in ("planner", "bkld_small", "other", "size_only", "random"):
        assert name in result.stdout
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["selectors"]["bkld_small"]["architecture"] == {"t1": ["t3", "t4", "t2"], "t3": ["t2", "t1"]}
    assert "random" not in doc["selectors"]


def test_bench_transfer_json_is_one_document(tiny_path):
    result = invoke("bench", "transfer", "--data", str(tiny_path), "--json", "--seeds", "separate")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["protocol"]["seeds"] == "separate"
    assert doc["experiments"]["architecture_BA_800"]["selectors"]["bkld_small"]["delta@1"] == pytest.approx(
        (-0.05 + 0.0) / 2)


def test_bench_transfer_on_the_real_study_as_json(real_study):
    result = invoke("bench", "transfer", "--data", str(real_study_path()), "--json", "--metric", "BA",
                    "--permutations", "50")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc["experiments"]) == {"architecture_BA_800", "pretraining_BA_800", "augmentation_BA_800",
                                       "cotraining_BA_800"}
    assert doc["notes"]


def test_bench_transfer_bad_folder(tmp_path):
    result = invoke("bench", "transfer", "--data", str(tmp_path / "missing"))
    if REAL_APP:
        assert result.exit_code == 3
        assert "does not exist" in result.stderr
    else:
        assert isinstance(result.exception, BadInput)


def test_bench_transfer_bad_size_is_a_usage_error(tiny_path):
    result = invoke("bench", "transfer", "--data", str(tiny_path), "--size", "400")
    if REAL_APP:
        assert result.exit_code == 2
    else:
        assert "--size must be 800 or full" in str(result.exception)


def test_rankings_out_planner_comes_from_the_frozen_model_on_a_folder_it_never_saw(tiny_path, tmp_path):
    # The tiny study's tasks are not in the study the model was fitted on; the bench must rank
    # them with the frozen model as shipped, per scenario, and write the documented shape.
    from secfp.evaluation.selectors import study_pool
    from secfp.evaluation.study import load_transfer_study
    from secfp.planning.learned import load_frozen_model

    out = tmp_path / "r.json"
    result = invoke("bench", "transfer", "--data", str(tiny_path), "--json", "--rankings-out", str(out),
                    "--permutations", "20", "--resamples", "30")
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert set(doc) == {"selectors"}
    study = load_transfer_study(tiny_path)
    model = load_frozen_model()
    for scenario, by_target in doc["selectors"]["planner"].items():
        for target, ranking in by_target.items():
            sources, feats = study_pool(study, target, shrunk=True)
            scores = model.score(scenario, feats)
            expected = [s for _, s in sorted(zip(-scores, sources, strict=True))]
            assert ranking == expected
    printed = json.loads(result.stdout)
    assert printed["v"] == 2 and "regret@3avg" in printed["lower_is_better"]
    assert set(printed["scenarios"]["architecture"]["selectors"]["planner"]) >= {"percentile@3avg", "delta@3avg",
                                                                                "regret@3avg", "weighted_tau"}
    assert printed["aggregate_then_rank"]["mean_rank"]


def test_bench_tables_show_intervals_and_paired_shares(tiny_path):
    result = CliRunner().invoke(APP, ["bench", "transfer", "--data", str(tiny_path), "--permutations", "20",
                                      "--resamples", "30"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for text in ("95% CI", "better than size_only", "better than bkld_small", "Aggregate then rank", "pct@3avg",
                 "regret@3avg"):
        assert text in result.stdout
