"""Meta-metrics against hand-computed answers, scipy, and brute-force expectations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from secfp.errors import UsageError
from secfp.evaluation.metrics import percentile_ranks, random_metrics, ranking_metrics, weighted_tau_batch


def test_ranking_metrics_hand_computed():
    # Ranking t3, t4, t2 with scores 0.60, 0.70, 0.80 and baseline 0.65.
    m = ranking_metrics(np.array([0.60, 0.70, 0.80]), baseline=0.65)
    assert m.gain_at_1 == 0.0  # 0.60 does not beat 0.65
    assert m.gain_best_at_3 == 1.0  # 0.80 does
    assert m.delta_at_1 == pytest.approx(-0.05)
    assert m.delta_best_at_3 == pytest.approx(0.15)
    assert m.percentile_at_1 == pytest.approx(1 / 3)  # the worst of three
    assert m.weighted_tau == pytest.approx(-1.0)  # exactly reversed


def test_gain_needs_strictly_more_than_the_baseline():
    m = ranking_metrics(np.array([0.5, 0.5]), baseline=0.5)
    assert m.gain_at_1 == 0.0 and m.gain_best_at_3 == 0.0 and m.delta_best_at_3 == 0.0


def test_percentile_ranks_average_ties_best_is_one():
    assert percentile_ranks(np.array([0.2, 0.9, 0.2, 0.5])).tolist() == [0.375, 1.0, 0.375, 0.75]


def test_only_top_three_count_for_best_of_three():
    m = ranking_metrics(np.array([0.1, 0.2, 0.3, 0.9]), baseline=0.5)
    assert m.gain_best_at_3 == 0.0
    assert m.delta_best_at_3 == pytest.approx(-0.2)


def test_tau_is_scipys_weightedtau_of_the_order():
    scores = np.array([0.7, 0.8, 0.6, 0.8, 0.1])
    expected = scipy.stats.weightedtau(np.array([5.0, 4, 3, 2, 1]), scores).statistic
    assert ranking_metrics(scores, baseline=0.0).weighted_tau == pytest.approx(expected)


def test_tau_is_nan_when_every_source_scores_the_same():
    assert math.isnan(ranking_metrics(np.array([0.5, 0.5, 0.5]), baseline=0.1).weighted_tau)


def test_bad_scores_are_a_usage_error():
    with pytest.raises(UsageError, match="finite"):
        ranking_metrics(np.array([0.5, math.nan]), baseline=0.1)
    with pytest.raises(UsageError, match="non-empty"):
        ranking_metrics(np.array([]), baseline=0.1)


@pytest.mark.parametrize("scores", [[0.8, 0.6, 0.7], [1.0, 1.0, 1.0, 2.0, 3.0, 3.0], [0.3, 0.9, 0.1, 0.5, 0.7],
                                    [0.5, 0.5]])
def test_random_is_the_exact_expectation_over_all_rankings(scores):
    s = np.array(scores)
    baseline = 0.65 if max(scores) <= 1 else 1.5
    every = [ranking_metrics(s[list(p)], baseline=baseline).as_dict() for p in itertools.permutations(range(len(s)))]
    rnd = random_metrics(s, baseline=baseline, permutations=1000, rng=np.random.default_rng(0)).as_dict()
    for name, value in rnd.items():
        brute = [e[name] for e in every]
        if all(math.isnan(b) for b in brute):
            assert math.isnan(value)
        else:
            # n! <= 1000 here, so even tau under ties is enumerated exactly.
            assert value == pytest.approx(np.mean(brute), abs=1e-12), name


def test_random_hand_computed():
    r = random_metrics(np.array([0.80, 0.60, 0.70]), baseline=0.65, permutations=10, rng=np.random.default_rng(0))
    assert r.gain_at_1 == pytest.approx(2 / 3)
    assert r.gain_best_at_3 == 1.0
    assert r.delta_at_1 == pytest.approx(0.05)
    assert r.delta_best_at_3 == pytest.approx(0.15)
    assert r.percentile_at_1 == pytest.approx(2 / 3)
    assert r.weighted_tau == 0.0  # no ties: zero by symmetry, no sampling


def test_random_best_of_three_uses_the_hypergeometric_chance():
    # 10 sources, 2 beat the baseline: P(none of 3 random ones does) = C(8,3)/C(10,3).
    s = np.array([0.9, 0.8] + [0.1] * 8)
    r = random_metrics(s, baseline=0.5, permutations=10, rng=np.random.default_rng(0))
    assert r.gain_best_at_3 == pytest.approx(1 - 56 / 120)


def test_random_tau_under_ties_is_close_to_brute_force_when_sampled():
    s = np.array([1.0, 1, 1, 2, 3, 3, 4, 4])  # 8! = 40320 > permutations: sampled
    # The exact mean over all 8! rankings, with the batch version held to scipy below.
    exact = np.mean(weighted_tau_batch(np.array(list(itertools.permutations(range(8))), dtype=float), s))
    assert exact != pytest.approx(0.0, abs=1e-3)  # ties: not zero, hence the sampling
    r = random_metrics(s, baseline=0.0, permutations=20000, rng=np.random.default_rng(1))
    assert r.weighted_tau == pytest.approx(exact, abs=0.01)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=4), min_size=2, max_size=10), st.randoms(use_true_random=False))
def test_batched_weighted_tau_equals_scipy(values, rnd):
    y = np.array(values, dtype=float)
    perms = np.array([rnd.sample(range(len(y)), len(y)) for _ in range(4)], dtype=float) * 0.5 + 1.0
    got = weighted_tau_batch(perms, y)
    want = np.array([scipy.stats.weightedtau(p, y).statistic for p in perms])
    assert np.allclose(got, want, equal_nan=True, atol=1e-12)


def test_batched_weighted_tau_refuses_tied_affinities():
    with pytest.raises(UsageError, match="distinct"):
        weighted_tau_batch(np.array([[1.0, 1.0, 2.0]]), np.array([0.1, 0.2, 0.3]))
