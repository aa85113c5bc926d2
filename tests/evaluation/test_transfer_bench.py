"""The transfer benchmark: hand-computed on a tiny study, recomputable from its rankings on the real one."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.stats

from secfp.errors import UsageError
from secfp.evaluation.selectors import PLANNER, PLANNER_LINEAR4, RANDOM, SIZE_ONLY, rank_sources, selector_names
from secfp.evaluation.transfer_bench import run_transfer_bench
from secfp.evaluation.study import SCENARIOS, valid_sources


def _metrics(result, selector, target):
    return result.experiments[0].per_target[selector][target].as_dict()


def test_tiny_study_hand_computed_seeds_averaged(tiny_study):
    result = run_transfer_bench(tiny_study, permutations=100)
    assert result.selectors == (PLANNER, PLANNER_LINEAR4, "bkld_small", "other", SIZE_ONLY, RANDOM)
    # bkld_small on t1@800 ranks t3 (0.60), t4 (0.70), t2 (0.80); baseline 0.65.
    assert result.rankings["bkld_small"]["architecture"]["t1"] == ("t3", "t4", "t2")
    m = _metrics(result, "bkld_small", "t1")
    assert m["gain@1"] == 0.0 and m["gain_best@3"] == 1.0
    assert m["delta@1"] == pytest.approx(-0.05) and m["delta_best@3"] == pytest.approx(0.15)
    assert m["percentile@1"] == pytest.approx(1 / 3) and m["weighted_tau"] == pytest.approx(-1.0)
    # size_only: t4 (500) first, then t2 (1000), then t3 (10000).
    assert result.rankings[SIZE_ONLY]["architecture"]["t1"] == ("t4", "t2", "t3")
    m = _metrics(result, SIZE_ONLY, "t1")
    assert m["gain@1"] == 1.0 and m["delta@1"] == pytest.approx(0.05) and m["percentile@1"] == pytest.approx(2 / 3)
    tau = scipy.stats.weightedtau([3.0, 2.0, 1.0], [0.70, 0.80, 0.60]).statistic
    assert m["weighted_tau"] == pytest.approx(tau)
    # t3 is not shrinkable: full column (t2 0.2 < t1 0.5) and full baseline 0.60.
    assert result.rankings["bkld_small"]["architecture"]["t3"] == ("t2", "t1")
    m = _metrics(result, "bkld_small", "t3")
    assert m["gain@1"] == 0.0 and m["delta@1"] == pytest.approx(0.0) and m["delta_best@3"] == pytest.approx(0.30)
    # NaN distance goes last: 'other' has no value for t4 on t1@800.
    assert result.rankings["other"]["architecture"]["t1"] == ("t3", "t2", "t4")
    # Random: exact expectation on t1.
    m = _metrics(result, RANDOM, "t1")
    assert m["gain@1"] == pytest.approx(2 / 3) and m["delta@1"] == pytest.approx(0.05)
    assert m["percentile@1"] == pytest.approx(2 / 3) and m["weighted_tau"] == 0.0
    # Summary = mean over the two targets.
    summary = result.experiments[0].summary["bkld_small"]
    assert summary["delta_best@3"] == pytest.approx((0.15 + 0.30) / 2)


def test_tiny_study_seeds_scored_separately(tiny_study):
    result = run_transfer_bench(tiny_study, seeds="separate", permutations=100)
    m = _metrics(result, "bkld_small", "t1")
    # Seed 0: t3 0.58 vs 0.64; seed 1: 0.62 vs 0.66. Mean delta -0.05, never a gain.
    assert m["gain@1"] == 0.0 and m["delta@1"] == pytest.approx(-0.05)
    # t3 target: t2 scores 0.50 / 0.70 against 0.55 / 0.65: a gain in one seed of two.
    assert _metrics(result, "bkld_small", "t3")["gain@1"] == pytest.approx(0.5)


def test_bench_options_are_checked(tiny_study):
    with pytest.raises(UsageError, match="size"):
        run_transfer_bench(tiny_study, size="400")
    with pytest.raises(UsageError, match="seeds"):
        run_transfer_bench(tiny_study, seeds="median")
    with pytest.raises(UsageError, match="no outcome files for size full"):
        run_transfer_bench(tiny_study, size="full")


@pytest.fixture(scope="module")
def real_result(real_study):
    return run_transfer_bench(real_study, permutations=200)


def test_real_bench_covers_every_scenario_metric_and_selector(real_study, real_result):
    keys = {(e.scenario, e.metric) for e in real_result.experiments}
    assert keys == {(s, m) for s in SCENARIOS for m in ("AUROC", "BA")}
    assert set(real_result.selectors) == {*selector_names(real_study), RANDOM}
    for exp in real_result.experiments:
        for name in real_result.selectors:
            assert set(exp.summary[name]) == {"gain@1", "gain_best@3", "delta@1", "delta_best@3", "percentile@1",
                                              "weighted_tau", "percentile@3avg", "delta@3avg", "regret@3avg"}
        n = [len(valid_sources(real_study, t)) for t in exp.targets]
        expected = np.mean([(k + 1) / (2 * k) for k in n])
        assert exp.summary[RANDOM]["percentile@1"] == pytest.approx(expected)
    assert any("in-sample" in note for note in real_result.notes)


def test_real_rankings_hold_every_valid_source_once_best_first(real_study, real_result):
    doc = real_result.rankings_json()
    assert set(doc) == {"selectors"}
    assert RANDOM not in doc["selectors"]
    for name, by_scenario in doc["selectors"].items():
        assert set(by_scenario) == set(SCENARIOS)
        for targets in by_scenario.values():
            for target, ranking in targets.items():
                assert "@" not in target
                assert sorted(ranking) == list(valid_sources(real_study, target))
    assert doc["selectors"]["size_only"]["cotraining"]["svhn"][0] == "sklin2_skin_lesions"  # smallest dev task
    assert doc["selectors"][PLANNER]["pretraining"]["svhn"] == list(rank_sources(real_study, PLANNER, "svhn",
                                                                                 shrunk=True, scenario="pretraining"))


def test_real_numbers_recompute_independently_from_written_rankings(real_study, real_result):
    # An independent reimplementation from the rankings JSON and the raw outcome rows.
    doc = json.loads(json.dumps(real_result.rankings_json()))
    for exp in real_result.experiments:
        for name in ("planner", "bkld_small", "size_only"):
            gains, taus, pcts = [], [], []
            for target, ranking in doc["selectors"][name][exp.scenario].items():
                raw = real_study.experiment(exp.scenario, exp.metric, "800")
                score = {s: sum(v.values()) / len(v) for s, v in raw.scores[target].items()}
                base = sum(raw.baselines[target].values()) / len(raw.baselines[target])
                ordered = [score[s] for s in ranking]
                gains.append(float(ordered[0] > base))
                ranks = scipy.stats.rankdata(ordered, method="average") / len(ordered)
                pcts.append(ranks[0])
                tau = scipy.stats.weightedtau(list(range(len(ordered), 0, -1)), ordered).statistic
                if not math.isnan(tau):
                    taus.append(tau)
            assert exp.summary[name]["gain@1"] == pytest.approx(np.mean(gains))
            assert exp.summary[name]["percentile@1"] == pytest.approx(np.mean(pcts))
            assert exp.summary[name]["weighted_tau"] == pytest.approx(np.mean(taus))


def test_real_bench_json_is_strict_and_complete(real_result):
    doc = json.loads(json.dumps(real_result.to_json(), allow_nan=False))
    assert doc["protocol"]["seeds"] == "mean" and doc["protocol"]["size"] == "800"
    assert set(doc["experiments"]) == {f"{s}_{m}_800" for s in SCENARIOS for m in ("AUROC", "BA")}
    assert doc["experiments"]["pretraining_BA_800"]["targets"] == 23


def test_full_size_experiments_use_full_columns(real_study):
    result = run_transfer_bench(real_study, size="full", metrics=("BA",), permutations=50)
    assert [(e.scenario, e.size) for e in result.experiments] == [("architecture", "full"), ("cotraining", "full")]
    assert set(result.rankings["bkld_small"]) == {"architecture", "cotraining"}
    table = real_study.distances["bkld_small"]
    svhn = result.rankings["bkld_small"]["architecture"]["svhn"]
    values = [table.value(s, "svhn") for s in svhn]
    assert values == sorted(values)


def test_study_class_filter_keeps_targets_below_forty_classes(real_study):
    result = run_transfer_bench(real_study, metrics=("BA",), permutations=50, max_target_classes=39)
    arch = result.experiments[0]
    assert len(arch.targets) == 23
    assert "caltech101_object_classification" not in arch.targets
    assert "caltech101_object_classification" not in result.rankings["planner"]["architecture"]
    assert result.to_json()["protocol"]["max_target_classes"] == 39


def test_class_filter_that_keeps_nothing_is_a_usage_error(tiny_study):
    with pytest.raises(UsageError, match="at most 2 classes|at least 2"):
        run_transfer_bench(tiny_study, max_target_classes=1)


def test_planner_ranks_a_source_without_a_distance_last(tiny_path):
    # A study folder of the held-out split may hold NaN (not computed) distances: the frozen
    # planner must still rank every valid source, the unmeasured one last, not crash.
    from secfp.evaluation.study import load_transfer_study

    path = tiny_path / "distances" / "bkld_small.csv"
    path.write_text(path.read_text().replace("t2,0.1,0.3,", "t2,0.1,nan,"))
    study = load_transfer_study(tiny_path)
    for scenario in SCENARIOS:
        ranking = rank_sources(study, PLANNER, "t1", shrunk=True, scenario=scenario)
        assert sorted(ranking) == sorted(valid_sources(study, "t1")) and ranking[-1] == "t2"
