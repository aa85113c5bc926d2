"""``secfp bench transfer``: score source selectors on a study's measured transfer outcomes.

Protocol (the study's, Godau et al. arXiv 2412.08763 and ``paper-transfer-dev/README.md``):

* for each experiment (scenario x metric x target size) and each of its targets, every
  selector ranks the target's *valid* sources (:func:`secfp.evaluation.study.valid_sources`);
* shrunk experiments (``--size 800``, the study's main protocol and the default) rank by the
  target's ``@800`` distance column and compare with its 800-image baseline where they
  exist; full-size experiments use the full columns and baselines;
* seeds: ``mean`` (default, the study's ``AggregateStrategy.MEAN``) averages each source's
  score and the baseline over seeds first, then scores once; ``separate`` scores each seed
  against the same seed's baseline and averages the meta-metrics over seeds;
* each meta-metric (:mod:`secfp.evaluation.metrics`) is averaged over targets; NaN values
  (tau when every source scores the same) are left out of that mean and counted.

Unlike the study's development evaluation, targets with 40 or more classes are *not*
dropped by default: the data folder's README states no such filter, so the tool scores
every target that has outcomes; ``max_target_classes=39`` reproduces the study's filter.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from secfp.errors import UsageError
from secfp.evaluation.bootstrap import DEFAULT_RESAMPLES, ScenarioStats, aggregate_then_rank, bootstrap_scenarios
from secfp.evaluation.metrics import LOWER_IS_BETTER, METRICS, MetricValues, random_metrics, ranking_metrics
from secfp.evaluation.selectors import RANDOM, rank_sources, selector_names
from secfp.evaluation.study import SCENARIOS, Experiment, TransferStudy
from secfp.planning.learned import frozen_model

__all__ = ["SEED_MODES", "ExperimentResult", "BenchResult", "run_transfer_bench"]

SEED_MODES = ("mean", "separate")
DEFAULT_PERMUTATIONS = 2000


@dataclass(frozen=True)
class ExperimentResult:
    """Per selector: mean of each meta-metric over targets, and how many targets had a value."""

    scenario: str
    metric: str
    size: str
    targets: tuple[str, ...]
    summary: Mapping[str, Mapping[str, float]]
    defined: Mapping[str, Mapping[str, int]]
    per_target: Mapping[str, Mapping[str, MetricValues]]

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "metric": self.metric, "size": self.size, "targets": len(self.targets),
                "selectors": {s: {m: _finite_or_none(v) for m, v in vals.items()} for s, vals in self.summary.items()},
                "defined": {s: dict(v) for s, v in self.defined.items()}}


@dataclass(frozen=True)
class BenchResult:
    data: str
    size: str
    seeds: str
    permutations: int
    selectors: tuple[str, ...]
    experiments: tuple[ExperimentResult, ...]
    rankings: Mapping[str, Mapping[str, Mapping[str, tuple[str, ...]]]]
    notes: tuple[str, ...] = ()
    max_target_classes: int | None = None
    scenarios: tuple[ScenarioStats, ...] = ()
    aggregate_rank: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def to_json(self) -> dict[str, Any]:
        return {
            "v": 2,
            "data": self.data,
            "protocol": {"size": self.size, "seeds": self.seeds, "top_k": 3, "gain": "score > baseline",
                         "max_target_classes": self.max_target_classes,
                         "random": f"exact expectation; weighted tau by {self.permutations} seeded "
                                   "permutations per target where scores tie (0 exactly without ties)",
                         "ties": "ties and NaN affinities broken by source name (NaN last)"},
            "selectors": list(self.selectors),
            "metrics": list(METRICS),
            "lower_is_better": sorted(LOWER_IS_BETTER),
            "experiments": {f"{e.scenario}_{e.metric}_{e.size}": e.to_json() for e in self.experiments},
            "scenarios": {st.scenario: st.to_json() for st in self.scenarios},
            "aggregate_then_rank": {"setups": "experiment x (percentile@3avg, delta@3avg, regret@3avg, weighted_tau)",
                                    "mean_rank": dict(self.aggregate_rank)},
            "notes": list(self.notes),
        }

    def rankings_json(self) -> dict[str, Any]:
        """``{"selectors": {NAME: {SCENARIO: {TARGET: [SOURCE, ...]}}}}``, best first."""
        return {"selectors": {n: {sc: {t: list(r) for t, r in by_t.items()} for sc, by_t in by_sc.items()}
                              for n, by_sc in self.rankings.items()}}


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _views(exp: Experiment, target: str, sources: tuple[str, ...], seeds: str) -> list[tuple[np.ndarray, float]]:
    """(scores aligned with ``sources``, baseline) once for ``mean``, once per seed for ``separate``."""
    by_source = exp.scores[target]
    base = exp.baselines[target]
    if seeds == "mean":
        scores = np.array([np.mean([by_source[s][k] for k in sorted(base)]) for s in sources])
        return [(scores, float(np.mean([base[k] for k in sorted(base)])))]
    return [(np.array([by_source[s][k] for s in sources]), base[k]) for k in sorted(base)]


def _mean_metrics(values: list[MetricValues]) -> MetricValues:
    arr = np.array([[v.as_dict()[m] for m in METRICS] for v in values])
    with np.errstate(invalid="ignore"):
        means = [float(np.nanmean(col)) if np.any(~np.isnan(col)) else math.nan for col in arr.T]
    return MetricValues(*means)


def run_transfer_bench(study: TransferStudy, *, size: str = "800", seeds: str = "mean",
                       metrics: tuple[str, ...] | None = None,
                       permutations: int = DEFAULT_PERMUTATIONS,
                       max_target_classes: int | None = None,
                       resamples: int = DEFAULT_RESAMPLES) -> BenchResult:
    """Evaluate every selector (:func:`selector_names` plus ``random``) on the study's experiments.

    ``max_target_classes`` keeps only targets with at most that many classes; the study's
    own development evaluation used 39 (``num_classes < 40``). Default: every target.
    """
    if size not in ("800", "full"):
        raise UsageError("size must be '800' or 'full'")
    if seeds not in SEED_MODES:
        raise UsageError("seeds must be 'mean' or 'separate'")
    if isinstance(permutations, bool) or not isinstance(permutations, int) or permutations < 1:
        raise UsageError("permutations must be a positive integer")
    if isinstance(resamples, bool) or not isinstance(resamples, int) or not 1 <= resamples <= 100_000:
        raise UsageError("resamples must be an integer from 1 to 100000")
    if max_target_classes is not None and max_target_classes < 2:
        raise UsageError("max_target_classes must be at least 2")
    exps = [e for e in study.experiments.values() if e.size == size and (metrics is None or e.metric in metrics)]
    if not exps:
        raise UsageError(f"no outcome files for size {size}" + (f" and metrics {list(metrics)}" if metrics else ""))
    exps.sort(key=lambda e: (SCENARIOS.index(e.scenario), e.metric))
    names = selector_names(study)
    shrunk = size == "800"
    rankings: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {n: {} for n in names}
    results = []
    for exp in exps:
        targets = tuple(sorted(t for t in exp.scores
                               if max_target_classes is None or study.tasks[t].num_classes <= max_target_classes))
        if not targets:
            continue
        per_target: dict[str, dict[str, MetricValues]] = {n: {} for n in (*names, RANDOM)}
        for target in targets:
            for name in names:
                ranking = rankings[name].setdefault(exp.scenario, {}).get(target)
                if ranking is None:
                    ranking = rank_sources(study, name, target, shrunk=shrunk, scenario=exp.scenario)
                    rankings[name][exp.scenario][target] = ranking
                per_target[name][target] = _mean_metrics(
                    [ranking_metrics(scores, baseline=b) for scores, b in _views(exp, target, ranking, seeds)])
            sources = tuple(sorted(exp.scores[target]))
            rng = np.random.default_rng([zlib.crc32(exp.key.encode()), zlib.crc32(target.encode())])
            per_target[RANDOM][target] = _mean_metrics(
                [random_metrics(scores, baseline=b, permutations=permutations, rng=rng)
                 for scores, b in _views(exp, target, sources, seeds)])
        summary: dict[str, Mapping[str, float]] = {}
        defined: dict[str, Mapping[str, int]] = {}
        for name, by_target in per_target.items():
            values = [by_target[t].as_dict() for t in targets]
            summary[name] = MappingProxyType(_mean_metrics(list(by_target.values())).as_dict())
            defined[name] = MappingProxyType({m: sum(1 for v in values if not math.isnan(v[m])) for m in METRICS})
        results.append(ExperimentResult(exp.scenario, exp.metric, exp.size, targets, MappingProxyType(summary),
                                        MappingProxyType(defined),
                                        MappingProxyType({n: MappingProxyType(v) for n, v in per_target.items()})))
    frozen = {n: MappingProxyType({sc: MappingProxyType(by_t) for sc, by_t in by_sc.items()})
              for n, by_sc in rankings.items()}
    if not results:
        raise UsageError(f"no target has at most {max_target_classes} classes")
    stats = bootstrap_scenarios([(e.scenario, e.per_target) for e in results], resamples=resamples)
    ranks = aggregate_then_rank([e.summary for e in results])
    notes = []
    if max_target_classes is not None:
        notes.append(f"Only targets with at most {max_target_classes} classes were scored.")
    if any(study.tasks[t].split == "dev" for e in results for t in e.targets):
        notes.append("The planner's model was fitted on the study's development targets: on dev targets its "
                     "numbers are in-sample. benchmarks/fit_planner.py prints cross-validated (out-of-fold) figures.")
        oof = frozen_model().provenance.get("cv_out_of_fold", {})
        if oof:
            notes.append("Out of fold (leave-one-group-out, all dev targets, frozen model's provenance), "
                         "percentile@1 / weighted tau: " + "; ".join(
                             f"{sc} {v['percentile@1']:.3f} / {v['weighted_tau']:.3f}" for sc, v in oof.items()))
    return BenchResult(study.root, size, seeds, permutations, (*names, RANDOM), tuple(results),
                       MappingProxyType(frozen), tuple(notes), max_target_classes, stats, MappingProxyType(ranks))
