"""Meta-metrics of a source ranking against measured transfer outcomes (Godau et al., Sec. 4).

For one target, a selector ranks the valid sources; the study then trains each source
and measures the target's score. The meta-metrics here say how useful the ranking was:

* ``gain@1``: 1 if the top suggestion beats the no-transfer baseline, else 0
  (Achille et al. 2019, arXiv 1804.08328); ``gain_best@3``: 1 if any of the top three
  beats it (three shots, keep the best);
* ``delta@1`` / ``delta_best@3``: the score minus the baseline, of the top suggestion /
  of the best of the top three;
* ``percentile@1``: the top suggestion's percentile rank among all valid sources by
  measured score (1.0 = the best source; average ranks for ties, as pandas'
  ``rank(pct=True)`` in the study);
* ``weighted_tau``: :func:`scipy.stats.weightedtau` between the ranking's affinity and the
  measured scores (hyperbolic, additive weights: the top of both lists matters most);
* the paper's Fig. 5 meta-metrics, averaged over the **top-3 suggestions** (the study's
  ``calc_top_k(mode="avg")``): ``percentile@3avg`` (mean percentile rank, 1 = best),
  ``delta@3avg`` (mean score minus baseline) and ``regret@3avg``, the mean normalised regret
  ``|oracle - score| / (1 - min(oracle, score))`` to the best valid source (oracle), where
  **lower is better** (0 = the best source; the study prints it as "1 - regret").

Every metric of a *ranking* is computed from the order alone (affinity = ``n - position``),
so anybody holding the written rankings can recompute them. Strictly greater than the
baseline counts as a gain, as in the study.

The random selector is scored by its expectation over uniformly random rankings, not by
one draw: exact closed forms for everything except weighted tau, whose expectation is 0
exactly when the measured scores have no ties (swap symmetry) but not in closed form with
ties; there it is the mean over a fixed number of seeded permutations (:func:`random_metrics`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import scipy.stats

from secfp.errors import UsageError

__all__ = ["METRICS", "LOWER_IS_BETTER", "K", "regrets", "MetricValues", "percentile_ranks", "ranking_metrics", "random_metrics",
           "weighted_tau_batch"]

K = 3
METRICS: tuple[str, ...] = ("gain@1", "gain_best@3", "delta@1", "delta_best@3", "percentile@1", "weighted_tau",
                            "percentile@3avg", "delta@3avg", "regret@3avg")
LOWER_IS_BETTER: frozenset[str] = frozenset({"regret@3avg"})


@dataclass(frozen=True)
class MetricValues:
    """One value per meta-metric (NaN where undefined, e.g. tau when all scores tie)."""

    gain_at_1: float
    gain_best_at_3: float
    delta_at_1: float
    delta_best_at_3: float
    percentile_at_1: float
    weighted_tau: float
    percentile_avg_3: float = math.nan
    delta_avg_3: float = math.nan
    regret_avg_3: float = math.nan

    def as_dict(self) -> dict[str, float]:
        return dict(zip(METRICS, (self.gain_at_1, self.gain_best_at_3, self.delta_at_1, self.delta_best_at_3,
                                  self.percentile_at_1, self.weighted_tau, self.percentile_avg_3,
                                  self.delta_avg_3, self.regret_avg_3), strict=True))


def _check(scores: np.ndarray, baseline: float) -> np.ndarray:
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise UsageError("scores must be a non-empty 1-D array")
    if not np.all(np.isfinite(arr)) or not math.isfinite(baseline):
        raise UsageError("scores and baseline must be finite")
    return arr


def percentile_ranks(scores: np.ndarray) -> np.ndarray:
    """Average rank divided by n, ascending: the best score gets 1.0 (pandas ``rank(pct=True)``)."""
    arr = np.asarray(scores, dtype=np.float64)
    return scipy.stats.rankdata(arr, method="average") / arr.size


def regrets(scores: np.ndarray) -> np.ndarray:
    """The study's normalised regret of each source: ``|oracle - s| / (1 - min(oracle, s))`` (0 = best)."""
    arr = np.asarray(scores, dtype=np.float64)
    oracle = float(arr.max())
    gap = np.abs(oracle - arr)
    room = 1.0 - np.minimum(oracle, arr)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((gap == 0) & (room == 0), 0.0, gap / room)


def ranking_metrics(ranked_scores: np.ndarray, *, baseline: float) -> MetricValues:
    """Meta-metrics of one ranking; ``ranked_scores`` are the measured scores, best-ranked source first.

    It must hold the score of *every* valid source, because percentile rank and tau
    compare the suggestion with all alternatives.
    """
    s = _check(ranked_scores, baseline)
    top = s[: min(K, s.size)]
    affinity = np.arange(s.size, 0, -1, dtype=np.float64)
    tau = float(scipy.stats.weightedtau(affinity, s).statistic) if s.size > 1 else math.nan
    return MetricValues(
        gain_at_1=float(s[0] > baseline),
        gain_best_at_3=float(np.any(top > baseline)),
        delta_at_1=float(s[0] - baseline),
        delta_best_at_3=float(top.max() - baseline),
        percentile_at_1=float(percentile_ranks(s)[0]),
        weighted_tau=tau,
        percentile_avg_3=float(np.mean(percentile_ranks(s)[: top.size])),
        delta_avg_3=float(top.mean() - baseline),
        regret_avg_3=float(np.mean(regrets(s)[: top.size])),
    )


def random_metrics(scores: np.ndarray, *, baseline: float, permutations: int, rng: np.random.Generator) -> MetricValues:
    """Expected meta-metrics of a uniformly random ranking.

    Closed forms (k = min(3, n), m = number of sources beating the baseline):
    gain@1 = m/n; gain_best@3 = 1 - C(n-m, k)/C(n, k); delta@1 = mean - baseline;
    E[best of k] = sum_i s_(i) C(i-1, k-1)/C(n, k) over ascending order statistics;
    percentile@1 = percentile@3avg = (n+1)/(2n); delta@3avg = mean - baseline; regret@3avg =
    mean regret over all sources (each source is equally likely in any top-3 slot). Weighted tau: 0 without ties in ``scores``; with ties the
    mean over all n! rankings when n! <= ``permutations`` (exact), else over
    ``permutations`` rankings drawn from ``rng`` (Monte Carlo, see module doc).
    """
    s = _check(scores, baseline)
    n = s.size
    k = min(K, n)
    m = int(np.sum(s > baseline))
    asc = np.sort(s)
    order_weights = np.array([math.comb(i, k - 1) for i in range(n)], dtype=np.float64) / math.comb(n, k)
    if n < 2:
        tau = math.nan
    elif np.unique(s).size == n:
        tau = 0.0
    elif np.unique(s).size == 1:
        tau = math.nan
    else:
        if permutations < 1:
            raise UsageError("permutations must be at least 1")
        if math.factorial(n) <= permutations:
            # Few sources: average over every ranking, which is the exact expectation.
            affinities = np.array(list(itertools.permutations(range(n))), dtype=np.float64)
        else:
            affinities = np.argsort(rng.random((permutations, n)), axis=1).astype(np.float64)
        tau = float(np.mean(weighted_tau_batch(affinities, s)))
    return MetricValues(
        gain_at_1=m / n,
        gain_best_at_3=1.0 - math.comb(n - m, k) / math.comb(n, k),
        delta_at_1=float(s.mean() - baseline),
        delta_best_at_3=float(order_weights @ asc - baseline),
        percentile_at_1=(n + 1) / (2 * n),
        weighted_tau=tau,
        percentile_avg_3=(n + 1) / (2 * n),
        delta_avg_3=float(s.mean() - baseline),
        regret_avg_3=float(np.mean(regrets(s))),
    )


def weighted_tau_batch(affinities: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``scipy.stats.weightedtau(a, scores)`` for every row ``a`` of ``affinities``, vectorised.

    Same definition as scipy's default (``rank=True``: the mean of the two one-sided taus,
    ranking by each variable in turn with ties broken by the other; weigher 1/(1+r),
    additive pair weights). Rows must hold distinct values, as random rankings do; the
    tests hold it to scipy. Why it is fast: in either ranking order the pair weights
    depend only on the two positions, so each side is one signed sum over a fixed
    upper-triangular weight matrix.
    """
    a = np.asarray(affinities, dtype=np.float64)
    y = np.asarray(scores, dtype=np.float64)
    b, n = a.shape
    srt = np.sort(a, axis=1)
    if np.any(srt[:, 1:] == srt[:, :-1]):
        raise UsageError("weighted_tau_batch needs distinct affinities in each row")
    w = 1.0 / (1.0 + np.arange(n, dtype=np.float64))
    pair = np.triu(w[:, None] + w[None, :], k=1)
    tot = pair.sum()
    rows = np.arange(b)[:, None]
    # Side 1, ranked by affinity: position p holds the p-th largest affinity; sign(a_p - a_q) = +1.
    y_by_a = y[np.argsort(-a, axis=1)]
    s1 = np.sign(y_by_a[:, :, None] - y_by_a[:, None, :])
    num1 = np.einsum("pq,bpq->b", pair, s1)
    den1 = np.sqrt(tot) * np.sqrt(np.einsum("pq,bpq->b", pair, s1 != 0))
    # Side 2, ranked by score (ties broken by larger affinity): tie blocks sit at fixed positions.
    dense = scipy.stats.rankdata(y, method="dense").astype(np.float64)
    key = dense[None, :] * (n + 1) + scipy.stats.rankdata(a, axis=1)
    order = np.argsort(-key, axis=1, kind="stable")
    y_sorted = y[order[0]]
    strict = np.triu(y_sorted[:, None] > y_sorted[None, :], k=1)
    a_by_y = a[rows, order]
    s2 = np.sign(a_by_y[:, :, None] - a_by_y[:, None, :])
    num2 = np.einsum("pq,bpq->b", pair * strict, s2)
    den2 = np.sqrt(tot) * np.sqrt((pair * strict).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        tau1 = np.clip(num1 / den1, -1.0, 1.0)
        tau2 = np.clip(num2 / den2, -1.0, 1.0)
    return (tau1 + tau2) / 2.0
