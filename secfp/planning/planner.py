"""The transfer planner: rank pool sources per scenario, with a calibrated chance of gain.

By default a source is scored by the **frozen learned model** of
:mod:`secfp.planning.learned` (``planner_model.json``: a per-scenario LightGBM LambdaRank
ranker, selected among pre-registered candidates by leave-one-group-out cross-validation
on the study's measured outcomes, Godau et al. arXiv 2412.08763; see
``docs/transfer-benchmark.md``). Its features are what a receiver has at run time: bKLD
small (and large where known) and the task cards' images, classes, keywords and modality.
Each suggestion's score is shown as readable groups of terms (similarity, size, classes,
keywords, modality, query: TreeSHAP contributions that add up to the score), and carries
``p_gain``, the probability, calibrated out of fold on the study, that the transfer beats
training without it.

The earlier four-term linear score is kept (``weights=FITTED_WEIGHTS``)::

    score = w_sim * (-bKLD)                         similarity of the fingerprints (nats)
          + w_size * -(log10 images - 3.75)         prefer smaller sources
          + w_cls * (log10 classes - log10 2)       prefer sources with more classes
          + w_kw * (keyword Jaccard - 0.25)         shared modality / body region / keywords

The centres (3.75 ~ 5,600 images and 2 classes: the medians of the 71 study tasks; 0.25:
the mean keyword Jaccard over task pairs) change no ranking; they make an unknown value
count as a typical one and make each contribution readable in a plan's ``why``.

:func:`plan_transfer` is the live tool (``secfp plan``): pure, no I/O; data-use terms are
enforced here (no co-training suggestion when a card says its data cannot be shared) and
every exclusion carries its reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from secfp.errors import UsageError
from secfp.cards.task_card import TaskCard
from secfp.planning.learned import FEATURES, GROUPS, RankerModel, TaskFacts, frozen_model, pool_features

__all__ = ["SCENARIOS", "PlannerWeights", "FITTED_WEIGHTS", "SourceFacts", "ScoreComponent", "ScoreBreakdown",
           "Candidate", "Suggestion", "Exclusion", "TransferPlan", "normalize_keywords", "facts_from_card",
           "score_source", "plan_transfer", "gain_words"]

SCENARIOS: tuple[str, ...] = ("architecture", "pretraining", "augmentation", "cotraining")
SIZE_CENTER_LOG10 = 3.75
CLASSES_CENTER_LOG10 = math.log10(2)
KEYWORDS_CENTER = 0.25


@dataclass(frozen=True)
class PlannerWeights:
    """Weights of the four score terms (only their ratios matter for a ranking)."""

    similarity: float
    size: float
    classes: float
    keywords: float

    def __post_init__(self) -> None:
        for name in ("similarity", "size", "classes", "keywords"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise UsageError(f"planner weight {name} must be a finite number")

    def to_json(self) -> dict[str, float]:
        return {"similarity": self.similarity, "size": self.size, "classes": self.classes, "keywords": self.keywords}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> PlannerWeights:
        if not isinstance(obj, Mapping) or set(obj) != {"similarity", "size", "classes", "keywords"}:
            raise UsageError("planner weights need exactly similarity, size, classes and keywords")
        return cls(**{k: obj[k] for k in ("similarity", "size", "classes", "keywords")})


# The earlier planner, kept as ``planner_linear4`` in the bench and selectable with
# plan_transfer(weights=...). Fitted on tests/data/paper-transfer-dev (28 development
# targets, shrunk protocol, 204 items, seeds averaged) on 2026-11-25 by a grid search of the
# objective mean(top-3 percentile + weighted tau), similarity weight fixed to 1: size in
# {0,.05,.1,.2,.3,.5,1,2}, classes in {-.2,-.1,0,.1,.2,.5}, keywords in {-.2,0,.2,.5}; in-sample
# objective 0.770. In the pre-registered comparison of benchmarks/fit_planner.py (candidate
# ``linear4``, refitted per fold) it scored 0.4174 out of fold against 0.4299 for the chosen
# learned model; docs/transfer-benchmark.md has the tables.
FITTED_WEIGHTS = PlannerWeights(similarity=1.0, size=0.2, classes=0.2, keywords=0.2)


@dataclass(frozen=True)
class SourceFacts:
    """What the planner knows about a source besides its distance (None = unknown)."""

    images: int | None = None
    num_classes: int | None = None
    keywords: frozenset[str] = frozenset()
    images_is_estimate: bool = False


@dataclass(frozen=True)
class ScoreComponent:
    """One term of the score: the feature value, its weight, the product, and a sentence."""

    name: str
    value: float
    weight: float
    contribution: float
    note: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "weight": self.weight,
                "contribution": self.contribution, "note": self.note}


@dataclass(frozen=True)
class ScoreBreakdown:
    total: float
    components: tuple[ScoreComponent, ...]

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "components": [c.to_json() for c in self.components]}


_WORD = re.compile(r"[\s\-]+")


def normalize_keywords(words: Iterable[str | None]) -> frozenset[str]:
    """Lower-case, with spaces and hyphens as ``_``: ``"X-ray"`` and ``x_ray`` are one keyword."""
    return frozenset(_WORD.sub("_", w.strip().lower()) for w in words if w and w.strip())


def facts_from_card(card: TaskCard) -> SourceFacts:
    """The planner's view of a card: image count, classes, and keywords with modality and region."""
    return SourceFacts(images=card.images, num_classes=card.num_classes,
                       keywords=normalize_keywords((*card.keywords, card.modality, card.body_region)),
                       images_is_estimate=card.images_kind == "dp_estimate")


def score_source(*, bkld: float, source: SourceFacts, query_keywords: frozenset[str],
                 weights: PlannerWeights = FITTED_WEIGHTS) -> ScoreBreakdown:
    """The planner score of one source for one query, term by term (higher = better)."""
    if not isinstance(bkld, int | float) or not math.isfinite(bkld):
        raise UsageError(f"bKLD must be a finite number, got {bkld!r}")
    parts: list[ScoreComponent] = []

    def add(name: str, value: float, weight: float, note: str) -> None:
        parts.append(ScoreComponent(name, value, weight, weight * value, note))

    add("similarity", -float(bkld), weights.similarity, f"bKLD {bkld:.3f} (lower = more similar task)")
    if source.images is not None:
        kind = "about " if source.images_is_estimate else ""
        add("size", -(math.log10(max(source.images, 1)) - SIZE_CENTER_LOG10), weights.size,
            f"{kind}{source.images:,} images; smaller sources transferred better in the study")
    else:
        add("size", 0.0, weights.size, "image count unknown, counted as typical")
    if source.num_classes is not None:
        add("classes", math.log10(source.num_classes) - CLASSES_CENTER_LOG10, weights.classes,
            f"{source.num_classes} classes")
    else:
        add("classes", 0.0, weights.classes, "number of classes unknown, counted as typical")
    if source.keywords and query_keywords:
        shared = sorted(source.keywords & query_keywords)
        jac = len(shared) / len(source.keywords | query_keywords)
        add("keywords", jac - KEYWORDS_CENTER, weights.keywords,
            f"keyword overlap {jac:.2f}" + (f" ({', '.join(shared)})" if shared else ""))
    else:
        add("keywords", 0.0, weights.keywords, "keywords unknown, counted as typical")
    return ScoreBreakdown(sum(p.contribution for p in parts), tuple(parts))


@dataclass(frozen=True)
class Candidate:
    """A pool source: its id (e.g. bundle id), its distance to the query, and its card.

    ``bkld`` is bKLD(source -> query) with the query as the target, in the *small*
    (target-weighted) variant of :mod:`secfp.matching.bkld`: the planner was fitted on
    the study's ``bkld_small`` (100 bins, target-weighted). ``bkld_large`` (1000 bins,
    unweighted in the study; the large variant here) is used where known. The optional
    ``distance_floor`` / ``distance_ci`` / ``tie_group`` come from
    :func:`secfp.matching.uncertainty.explain_matches` and are passed through to the plan.
    """

    source_id: str
    bkld: float
    card: TaskCard
    bkld_large: float | None = None
    distance_floor: float | None = None
    distance_ci: tuple[float, float] | None = None
    tie_group: int | None = None


def gain_words(p_gain: float) -> str:
    """``p_gain`` in words: "helped in about 7 of 10 similar cases in the study"."""
    return f"helped in about {round(10 * p_gain)} of 10 similar cases in the study"


@dataclass(frozen=True)
class Suggestion:
    """One ranked source for one scenario.

    ``p_gain``: calibrated probability (out of fold on the study) that this transfer beats
    training without it; ``p_gain_text`` says it in words. ``distance`` is the candidate's
    bKLD; ``distance_floor``, ``distance_ci`` and ``tie_group`` are passed through from the
    candidate (None when the caller did not compute them); ``closeness_rank`` is its rank by
    distance among all candidates and ``closeness_percentile`` the share of the pool farther away.
    """

    scenario: str
    rank: int
    source_id: str
    task: str
    score: ScoreBreakdown
    offer: Mapping[str, Any]
    why: str
    p_gain: float | None = None
    p_gain_text: str | None = None
    distance: float | None = None
    distance_floor: float | None = None
    distance_ci: tuple[float, float] | None = None
    tie_group: int | None = None
    closeness_rank: int | None = None
    closeness_percentile: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "rank": self.rank, "source_id": self.source_id, "task": self.task,
                "score": self.score.to_json(), "offer": dict(self.offer), "why": self.why,
                "p_gain": self.p_gain, "p_gain_text": self.p_gain_text, "distance": self.distance,
                "distance_floor": self.distance_floor,
                "distance_ci": list(self.distance_ci) if self.distance_ci is not None else None,
                "tie_group": self.tie_group, "closeness_rank": self.closeness_rank,
                "closeness_percentile": self.closeness_percentile}


@dataclass(frozen=True)
class Exclusion:
    scenario: str
    source_id: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"scenario": self.scenario, "source_id": self.source_id, "reason": self.reason}


@dataclass(frozen=True)
class TransferPlan:
    """Per scenario, the sources offering that knowledge, best first; and who was left out, why."""

    weights: PlannerWeights | None
    suggestions: Mapping[str, tuple[Suggestion, ...]]
    excluded: tuple[Exclusion, ...]
    model: Mapping[str, Any] | None = None
    # Per scenario, the eligible source with the fewest images (as its card states them): the
    # size prior's first choice, which the study's evidence may favour over the planner's.
    smallest: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"v": 1, "weights": self.weights.to_json() if self.weights is not None else None,
                "model": dict(self.model) if self.model is not None else None,
                "scenarios": {s: [x.to_json() for x in self.suggestions.get(s, ())] for s in SCENARIOS},
                "smallest_source": {s: self.smallest[s] for s in SCENARIOS if s in self.smallest},
                "excluded": [e.to_json() for e in self.excluded]}


_TAKE = {"architecture": "train {name} (its owner scored {score:g} {metric})",
         "pretraining": "start from its weights ({licence}; terms: {terms})",
         "augmentation": "use its augmentation policy",
         "cotraining": "train jointly on its data (terms: {terms}; contact: {contact})"}


def _offer(scenario: str, card: TaskCard) -> tuple[dict[str, Any] | None, str | None]:
    k = card.knowledge
    if scenario == "architecture":
        return (k.architecture.to_json(), None) if k.architecture else (None, "offers no architecture")
    if scenario == "pretraining":
        return (k.pretrained_weights.to_json(), None) if k.pretrained_weights else (None, "offers no weights")
    if scenario == "augmentation":
        return (k.augmentation.to_json(), None) if k.augmentation else (None, "offers no augmentation policy")
    if k.cotraining is None:
        return None, "offers no co-training"
    if not k.cotraining.data_shareable:
        return None, "its card says the data cannot be shared, so co-training is not suggested"
    return k.cotraining.to_json(), None


def _card_task_facts(card: TaskCard | None) -> TaskFacts:
    if card is None:
        return TaskFacts()
    facts = facts_from_card(card)
    domain = next(iter(normalize_keywords([card.modality])), None) if card.modality else None
    return TaskFacts(images=card.images, num_classes=card.num_classes, keywords=facts.keywords, domain=domain)


_GROUP_NOTES = {
    "similarity": "fingerprint distances (bKLD {bkld:.3f}), also relative to the pool",
    "size": "{images} images",
    "classes": "{classes} classes",
    "keywords": "keyword overlap {jaccard:.2f}",
    "modality": "{same}",
    "images": "class balance and image size",
    "query": "the query's own size and classes",
}


def _learned_breakdown(model: RankerModel, scenario: str, feats: np.ndarray, scores: np.ndarray,
                       candidates: Sequence[Candidate]) -> list[ScoreBreakdown]:
    """Per candidate: the score as a sum of readable groups of features (TreeSHAP for LightGBM)."""
    parts = model.contributions(scenario, feats)
    out = []
    for i, cand in enumerate(candidates):
        total = float(scores[i])
        if parts is None:
            out.append(ScoreBreakdown(total, (ScoreComponent("model", total, 1.0, total,
                                                             f"{model.name}: rank sum of model and priors"),)))
            continue
        grouped, const = parts
        row = feats[i]
        facts = {"bkld": float(cand.bkld), "images": "unknown number of" if cand.card.images is None
                 else f"{cand.card.images:,}", "classes": cand.card.num_classes or "unknown number of",
                 "jaccard": float(row[FEATURES.index("keyword_jaccard")]),
                 "same": "same modality" if row[FEATURES.index("same_domain")] else "other or unknown modality"}
        comps = [ScoreComponent("baseline", 1.0, float(const[i]), float(const[i]), "the model's average score")]
        comps += [ScoreComponent(name, 1.0, float(grouped[i, k]), float(grouped[i, k]),
                                 _GROUP_NOTES[name].format(**facts)) for k, name in enumerate(GROUPS)
                  if name in model.groups()]
        out.append(ScoreBreakdown(total, tuple(comps)))
    return out


def plan_transfer(candidates: Sequence[Candidate], *, query_card: TaskCard | None = None, top: int | None = None,
                  weights: PlannerWeights | None = None,
                  refuse: Callable[[Candidate, str], str | None] | None = None,
                  model: RankerModel | None = None,
                  closeness: Mapping[str, tuple[int, int]] | None = None) -> TransferPlan:
    """Rank ``candidates`` per scenario; only sources that offer (and may give) that knowledge.

    By default the frozen learned model (:func:`secfp.planning.learned.frozen_model`,
    selected by leave-one-group-out cross-validation on the study) ranks the sources, per
    scenario, and every suggestion carries its ``p_gain``. ``weights`` selects the earlier
    four-term linear score instead (no ``p_gain``); ``model`` another ranker.
    ``refuse(candidate, scenario)`` lets the caller apply an import policy: it returns a
    reason to leave the source out, or None. Ties are broken by source id, so a plan is
    deterministic. Does not check signatures or expiry: candidates come from the
    verified pool. ``closeness`` maps a source id to (rank, count) by distance among
    *all* matched sources, as the caller ranked them, so that a source is not called the
    closest when closer ones were left out before planning (no card); without it the
    rank counts among ``candidates``.
    """
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise UsageError("top must be a positive integer")
    ids = [c.source_id for c in candidates]
    if len(set(ids)) != len(ids):
        raise UsageError("candidate source ids must be unique")
    for c in candidates:
        if not isinstance(c.bkld, int | float) or not math.isfinite(c.bkld):
            raise UsageError(f"bKLD must be a finite number, got {c.bkld!r}")
    query_kw = facts_from_card(query_card).keywords if query_card is not None else frozenset()
    by_distance = sorted(candidates, key=lambda c: (c.bkld, c.source_id))
    ranks = {c.source_id: (i + 1, len(candidates)) for i, c in enumerate(by_distance)}
    ranks.update(closeness or {})
    ranker = None if weights is not None else (model or frozen_model())
    # Per scenario: score and breakdown of every candidate (the whole pool, before exclusions).
    per_scenario: dict[str, dict[str, tuple[ScoreBreakdown, float | None]]] = {}
    if ranker is None:
        fixed = {c.source_id: (score_source(bkld=c.bkld, source=facts_from_card(c.card), query_keywords=query_kw,
                                            weights=weights), None) for c in candidates}
        per_scenario = {s: fixed for s in SCENARIOS}
    elif candidates:
        large = [c.bkld_large if c.bkld_large is not None else math.nan for c in candidates]
        feats = pool_features(bkld_small=[c.bkld for c in candidates], bkld_large=large,
                              sources=[_card_task_facts(c.card) for c in candidates],
                              query=_card_task_facts(query_card))
        for scenario in SCENARIOS:
            scores = ranker.score(scenario, feats)
            gains = ranker.p_gain(scenario, scores, feats)
            breakdowns = _learned_breakdown(ranker, scenario, feats, scores, candidates)
            per_scenario[scenario] = {
                c.source_id: (breakdowns[i], float(gains[i]) if gains is not None else None)
                for i, c in enumerate(candidates)}
    suggestions: dict[str, tuple[Suggestion, ...]] = {}
    excluded: list[Exclusion] = []
    smallest: dict[str, str] = {}
    for scenario in SCENARIOS:
        ranked = []
        for cand in candidates:
            offer, reason = _offer(scenario, cand.card)
            if reason is None and refuse is not None:
                reason = refuse(cand, scenario)
            if reason is not None:
                excluded.append(Exclusion(scenario, cand.source_id, reason))
                continue
            breakdown, p_gain = per_scenario[scenario][cand.source_id]
            ranked.append((cand, breakdown, offer, p_gain))
        ranked.sort(key=lambda item: (-item[1].total, item[0].source_id))
        sized = [(c.card.images, c.source_id) for c, *_ in ranked if c.card.images is not None]
        if sized:
            smallest[scenario] = min(sized)[1]
        out = []
        for rank, (cand, breakdown, offer, p_gain) in enumerate(ranked[:top] if top else ranked, start=1):
            take = _TAKE[scenario].format(**{**{"terms": "", "contact": "", "licence": ""}, **offer})
            if ranker is None:
                terms = "; ".join(f"{p.name} {p.contribution:+.3f}: {p.note}" for p in breakdown.components)
            else:
                terms = f"{ranker.name} model: " + "; ".join(
                    f"{p.name} {p.contribution:+.3f}: {p.note}" for p in breakdown.components)
            gain_text = gain_words(p_gain) if p_gain is not None else None
            floor = ""
            if cand.distance_floor is not None:
                floor = f" (the query's own floor is {cand.distance_floor:.4f})"
            rank_of, n = ranks[cand.source_id]
            why = (f"{take}. Score {breakdown.total:+.3f} = {terms}. "
                   f"Fingerprint closeness rank {rank_of} of {n}, bKLD {cand.bkld:.4f}{floor}."
                   + (f" Transfer of this kind {gain_text}." if gain_text else ""))
            out.append(Suggestion(scenario, rank, cand.source_id, cand.card.name, breakdown, offer, why,
                                  p_gain=p_gain, p_gain_text=gain_text, distance=float(cand.bkld),
                                  distance_floor=cand.distance_floor, distance_ci=cand.distance_ci,
                                  tie_group=cand.tie_group, closeness_rank=rank_of,
                                  closeness_percentile=(n - rank_of) / (n - 1) if n > 1 else 1.0))
        suggestions[scenario] = tuple(out)
    model_json = None
    if ranker is not None:
        model_json = {"name": ranker.name, "kind": ranker.kind,
                      **{k: ranker.provenance[k] for k in ("date", "cv_criterion", "evidence")
                         if k in ranker.provenance}}
    return TransferPlan(weights, suggestions, tuple(excluded), model_json, smallest)
