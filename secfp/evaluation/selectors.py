"""Source selectors evaluated by ``secfp bench transfer``: each ranks a target's valid sources.

* ``planner``: the frozen learned ranker of :mod:`secfp.planning.learned` (the same model
  the live ``secfp plan`` uses), per scenario, on the study's ``bkld_small`` and
  ``bkld_large`` distances and the card facts of ``tasks.csv`` (:func:`study_pool`); it is
  never refitted here, so it runs on a study folder it has never seen;
* ``planner_linear4``: the earlier four-term score (:func:`secfp.planning.planner.score_source`
  with ``FITTED_WEIGHTS``), kept for comparison;
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

import numpy as np

from secfp.errors import BadInput
from secfp.planning.learned import RankerModel, TaskFacts, frozen_model, pool_features
from secfp.planning.planner import FITTED_WEIGHTS, PlannerWeights, SourceFacts, normalize_keywords, score_source
from secfp.evaluation.study import SHRUNK_SUFFIX, TaskInfo, TransferStudy, distance_column, valid_sources

__all__ = ["PLANNER", "PLANNER_LINEAR4", "SIZE_ONLY", "RANDOM", "PLANNER_DISTANCE", "LARGE_DISTANCE", "SHRUNK_IMAGES",
           "selector_names", "affinities", "rank_sources", "task_facts", "study_pool"]

PLANNER = "planner"
PLANNER_LINEAR4 = "planner_linear4"
SIZE_ONLY = "size_only"
RANDOM = "random"
PLANNER_DISTANCE = "bkld_small"
LARGE_DISTANCE = "bkld_large"
SHRUNK_IMAGES = 800


def task_facts(info: TaskInfo, *, images: int | None = None) -> TaskFacts:
    """A ``tasks.csv`` row as the facts a task card carries (keywords include the domain)."""
    domain = next(iter(normalize_keywords([info.domains])), None)
    return TaskFacts(images=info.num_samples if images is None else images, num_classes=info.num_classes,
                     keywords=normalize_keywords((*info.keywords, info.domains)), domain=domain,
                     imbalance_ratio=info.imbalance_ratio, image_pixels=info.image_pixels)


def study_pool(study: TransferStudy, target: str, *, shrunk: bool) -> tuple[tuple[str, ...], np.ndarray]:
    """The valid sources of ``target`` that have a ``bkld_small`` value (sorted by name) and their feature rows.

    A shrunk target (its ``@800`` column exists) has 800 training images, as in the study.
    Sources without a small distance (NaN: not computed) are left out of the pool; the
    selector ranks them last.
    """
    table = study.distances.get(PLANNER_DISTANCE)
    if table is None:
        raise BadInput(f"the planner needs distances/{PLANNER_DISTANCE}.csv")
    column = distance_column(table, target, shrunk=shrunk)
    sources = tuple(s for s in valid_sources(study, target) if not math.isnan(table.value(s, column)))
    if not sources:
        raise BadInput(f"distances/{PLANNER_DISTANCE}.csv has no value for any valid source of {column}")
    small = [table.value(s, column) for s in sources]
    large_table = study.distances.get(LARGE_DISTANCE)
    large = None
    if large_table is not None:
        large_col = distance_column(large_table, target, shrunk=shrunk)
        large = [large_table.value(s, large_col) for s in sources]
    info = study.tasks[target]
    images = min(info.num_samples, SHRUNK_IMAGES) if column.endswith(SHRUNK_SUFFIX) else info.num_samples
    feats = pool_features(bkld_small=small, bkld_large=large, sources=[task_facts(study.tasks[s]) for s in sources],
                          query=task_facts(info, images=images))
    return sources, feats


def selector_names(study: TransferStudy) -> tuple[str, ...]:
    """Ranking selectors in report order: planner, every distance table, size only."""
    clash = {PLANNER, SIZE_ONLY, RANDOM} & set(study.distances)
    if clash:
        raise BadInput(f"distance table name {sorted(clash)[0]!r} clashes with a built-in selector")
    return (PLANNER, PLANNER_LINEAR4, *sorted(study.distances), SIZE_ONLY)


def affinities(study: TransferStudy, selector: str, target: str, *, shrunk: bool,
               weights: PlannerWeights = FITTED_WEIGHTS, scenario: str | None = None,
               model: RankerModel | None = None) -> dict[str, float]:
    """Higher = better, per valid source; NaN where the selector has no value.

    ``planner`` is the frozen learned model (``model`` overrides it) and needs the
    ``scenario``; ``planner_linear4`` is the earlier four-term score with ``weights``.
    """
    sources = valid_sources(study, target)
    if selector == SIZE_ONLY:
        return {s: -float(study.tasks[s].num_samples) for s in sources}
    if selector == PLANNER:
        if scenario is None:
            raise BadInput("the learned planner ranks per scenario; pass scenario=")
        names, feats = study_pool(study, target, shrunk=shrunk)
        scores = (model or frozen_model()).score(scenario, feats)
        known = {s: float(v) for s, v in zip(names, scores, strict=True)}
        return {s: known.get(s, math.nan) for s in sources}
    if selector == PLANNER_LINEAR4:
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
                 weights: PlannerWeights = FITTED_WEIGHTS, scenario: str | None = None,
                 model: RankerModel | None = None) -> tuple[str, ...]:
    """Every valid source of ``target``, best first (NaN last, ties by name)."""
    aff = affinities(study, selector, target, shrunk=shrunk, weights=weights, scenario=scenario, model=model)
    return tuple(sorted(aff, key=lambda s: (math.isnan(aff[s]), -aff[s] if not math.isnan(aff[s]) else 0.0, s)))
