"""Uncertainty of the transfer benchmark: bootstrap over targets, paired comparisons, aggregate-then-rank.

With 23-28 targets per scenario one target moves a mean by 0.04, so a table without
intervals invites over-reading. Here, per scenario (both metrics, BA and AUROC, pooled):

* :func:`bootstrap_scenarios` resamples the *targets* with replacement (a target keeps
  both its metric rows, because they are not independent) and reports, per selector and
  meta-metric, the mean and its 95 % percentile interval;
* the same resamples give a **paired** comparison of every selector with each reference
  (``size_only``, ``bkld_small``): the observed difference and the share of resamples in
  which the selector is better (``p_better``; "better" is lower for ``regret@3avg``);
* :func:`aggregate_then_rank` is the study's ranking of selectors: per experiment
  (scenario x metric) and meta-metric, aggregate over targets first (mean), rank the
  selectors (1 = best, ties share the smallest rank), then average the ranks.

Resampling is seeded, so two runs print the same intervals.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats

from secfp.evaluation.metrics import LOWER_IS_BETTER, METRICS, MetricValues

__all__ = ["REFERENCES", "RANK_METRICS", "Interval", "ScenarioStats", "bootstrap_scenarios", "aggregate_then_rank"]

REFERENCES: tuple[str, ...] = ("size_only", "bkld_small")
RANK_METRICS: tuple[str, ...] = ("percentile@3avg", "delta@3avg", "regret@3avg", "weighted_tau")
DEFAULT_RESAMPLES = 1000


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float

    def to_json(self) -> dict[str, Any]:
        return {"mean": _num(self.mean), "ci95": [_num(self.low), _num(self.high)]}


@dataclass(frozen=True)
class ScenarioStats:
    """One scenario: intervals per selector and metric; paired comparisons with the references."""

    scenario: str
    targets: int
    resamples: int
    intervals: Mapping[str, Mapping[str, Interval]]
    paired: Mapping[str, Mapping[str, Mapping[str, Mapping[str, float]]]]

    def to_json(self) -> dict[str, Any]:
        return {"targets": self.targets, "resamples": self.resamples,
                "selectors": {s: {m: iv.to_json() for m, iv in by_m.items()} for s, by_m in self.intervals.items()},
                "paired": {s: {r: {m: {k: _num(v) for k, v in d.items()} for m, d in by_m.items()}
                               for r, by_m in by_r.items()} for s, by_r in self.paired.items()}}


def _num(value: float) -> float | None:
    return round(float(value), 6) if math.isfinite(value) else None


def bootstrap_scenarios(per_experiment: Sequence[tuple[str, Mapping[str, Mapping[str, MetricValues]]]], *,
                        resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                        references: Sequence[str] = REFERENCES) -> tuple[ScenarioStats, ...]:
    """``per_experiment`` = [(scenario, {selector: {target: MetricValues}})], one entry per experiment."""
    by_scenario: dict[str, list[Mapping[str, Mapping[str, MetricValues]]]] = {}
    for scenario, per_target in per_experiment:
        by_scenario.setdefault(scenario, []).append(per_target)
    out = []
    for scenario, exps in by_scenario.items():
        selectors = list(exps[0])
        targets = sorted({t for e in exps for t in e[selectors[0]]})
        # values[selector, metric, target]: mean over the scenario's experiments holding that target.
        values = np.full((len(selectors), len(METRICS), len(targets)), np.nan)
        for i, sel in enumerate(selectors):
            for k, t in enumerate(targets):
                rows = [e[sel][t].as_dict() for e in exps if t in e[sel]]
                arr = np.array([[r[m] for m in METRICS] for r in rows], dtype=np.float64)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column (tau when scores tie)
                    values[i, :, k] = np.nanmean(arr, axis=0)
        rng = np.random.default_rng([seed, len(targets)])
        idx = rng.integers(0, len(targets), size=(resamples, len(targets)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            boot = np.nanmean(values[:, :, idx], axis=-1)  # (selector, metric, resample)
            observed = np.nanmean(values, axis=-1)
        intervals = {sel: {m: Interval(float(observed[i, j]), *map(float, np.nanpercentile(boot[i, j], [2.5, 97.5])))
                           for j, m in enumerate(METRICS)} for i, sel in enumerate(selectors)}
        paired: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
        for i, sel in enumerate(selectors):
            for ref in references:
                if ref not in selectors or ref == sel:
                    continue
                r = selectors.index(ref)
                by_m = {}
                for j, m in enumerate(METRICS):
                    sign = -1.0 if m in LOWER_IS_BETTER else 1.0
                    diff = sign * (boot[i, j] - boot[r, j])
                    ok = np.isfinite(diff)
                    by_m[m] = {"diff": float(observed[i, j] - observed[r, j]),
                               "p_better": float(np.mean(diff[ok] > 0)) if ok.any() else math.nan}
                paired.setdefault(sel, {})[ref] = by_m
        out.append(ScenarioStats(scenario, len(targets), resamples, intervals, paired))
    return tuple(out)


def aggregate_then_rank(summaries: Sequence[Mapping[str, Mapping[str, float]]], *,
                        metrics: Sequence[str] = RANK_METRICS) -> dict[str, float]:
    """Mean rank of each selector over (experiment, meta-metric) setups; 1 = best. Sorted best first."""
    ranks: dict[str, list[float]] = {}
    for summary in summaries:
        selectors = list(summary)
        for m in metrics:
            vals = np.array([summary[s][m] for s in selectors], dtype=np.float64)
            if not np.all(np.isfinite(vals)):
                continue
            key = vals if m in LOWER_IS_BETTER else -vals
            for s, rank in zip(selectors, scipy.stats.rankdata(key, method="min"), strict=True):
                ranks.setdefault(s, []).append(float(rank))
    mean = {s: float(np.mean(r)) for s, r in ranks.items()}
    return dict(sorted(mean.items(), key=lambda kv: (kv[1], kv[0])))
