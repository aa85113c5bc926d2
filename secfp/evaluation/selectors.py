"""Source selectors evaluated by ``secfp bench transfer``: each ranks a target's valid sources.

* ``planner``: :func:`secfp.planning.planner.score_source` on the study's ``bkld_small``
  distance and the meta-information of ``tasks.csv`` (the same function the live tool uses);
* one selector per distance table, named by its file name (``bkld_small``, ``fid``, ...):
  smaller distance first;
* ``size_only``: smaller source task first (``num_samples``), target-agnostic;
* ``random``: not a ranking but the expectation over all rankings
  (:func:`secfp.evaluation.metrics.random_metrics`), so it has no entry here.

Every ranking is strict and deterministic: ties (and NaN distances, which go last) are
broken by source name. Rankings are what ``--rankings-out`` writes, and the benchmark's
numbers are computed from exactly these orders.
"""

from __future__ import annotations

import math

from secfp.errors import BadInput
from secfp.planning.planner import FITTED_WEIGHTS, PlannerWeights, SourceFacts, normalize_keywords, score_source
from secfp.evaluation.study import TransferStudy, distance_column, valid_sources

__all__ = ["PLANNER", "SIZE_ONLY", "RANDOM", "PLANNER_DISTANCE", "selector_names", "affinities", "rank_sources"]

PLANNER = "planner"
SIZE_ONLY = "size_only"
RANDOM = "random"
PLANNER_DISTANCE = "bkld_small"


def selector_names(study: TransferStudy) -> tuple[str, ...]:
    """Ranking selectors in report order: planner, every distance table, size only."""
    clash = {PLANNER, SIZE_ONLY, RANDOM} & set(study.distances)
    if clash:
        raise BadInput(f"distance table name {sorted(clash)[0]!r} clashes with a built-in selector")
    return (PLANNER, *sorted(study.distances), SIZE_ONLY)


def affinities(study: TransferStudy, selector: str, target: str, *, shrunk: bool,
               weights: PlannerWeights = FITTED_WEIGHTS) -> dict[str, float]:
    """Higher = better, per valid source; NaN where the selector has no value."""
    sources = valid_sources(study, target)
    if selector == SIZE_ONLY:
        return {s: -float(study.tasks[s].num_samples) for s in sources}
    if selector == PLANNER:
        table = study.distances.get(PLANNER_DISTANCE)
        if table is None:
            raise BadInput(f"the planner needs distances/{PLANNER_DISTANCE}.csv")
        column = distance_column(table, target, shrunk=shrunk)
        query = normalize_keywords(study.tasks[target].keywords)
        out = {}
        for s in sources:
            d = table.value(s, column)
            info = study.tasks[s]
            facts = SourceFacts(images=info.num_samples, num_classes=info.num_classes,
                                keywords=normalize_keywords(info.keywords))
            out[s] = math.nan if math.isnan(d) else score_source(bkld=d, source=facts, query_keywords=query,
                                                                 weights=weights).total
        return out
    table = study.distances.get(selector)
    if table is None:
        raise BadInput(f"unknown selector {selector!r}")
    column = distance_column(table, target, shrunk=shrunk)
    return {s: -table.value(s, column) for s in sources}


def rank_sources(study: TransferStudy, selector: str, target: str, *, shrunk: bool,
                 weights: PlannerWeights = FITTED_WEIGHTS) -> tuple[str, ...]:
    """Every valid source of ``target``, best first (NaN last, ties by name)."""
    aff = affinities(study, selector, target, shrunk=shrunk, weights=weights)
    return tuple(sorted(aff, key=lambda s: (math.isnan(aff[s]), -aff[s] if not math.isnan(aff[s]) else 0.0, s)))
