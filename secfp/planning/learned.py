"""The learned transfer ranker: run-time features of a (source, query) pair and the frozen model.

A receiver has, for every pool source, the fingerprint distances bKLD small (100 bins,
query-weighted) and, where computed, bKLD large (1000 bins, unweighted), plus the facts of
both task cards: images, classes, keywords and modality. :func:`pool_features` turns them
into the feature matrix of ``FEATURES``; a :class:`RankerModel` scores each row per
scenario (higher = better source). Nothing here reads the study's outcomes: the model
was fitted by ``benchmarks/fit_planner.py`` and frozen in ``planner_model.json`` (package
data) with its provenance; :func:`load_frozen_model` reads it back and never refits.

Two model kinds exist: ``linear`` (one weight vector per scenario over standardised
features, from pairwise logistic regression or the grid-fitted four-term score) and
``lgbm`` (a LightGBM LambdaRank booster, stored as its text dump). ``p_gain`` is a
logistic model of the probability that a suggestion beats training without transfer,
from the scenario, the suggestion's rank percentile and the two task sizes.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from secfp.errors import BadInput, UsageError

__all__ = ["FEATURES", "GROUPS", "SCENARIOS", "TaskFacts", "RankerModel", "GainModel", "pool_features", "load_frozen_model",
           "frozen_model", "MODEL_FILE"]

SCENARIOS: tuple[str, ...] = ("architecture", "pretraining", "augmentation", "cotraining")
MODEL_FILE = "planner_model.json"
SIZE_CENTER_LOG10 = 3.75
# Typical values of the study's 71 tasks (medians of log10), used where a card leaves a fact out.
IMBALANCE_CENTER_LOG10 = 0.46
PIXELS_CENTER_LOG10 = 5.44
BASE_FEATURES: tuple[str, ...] = (
    "sim_small", "sim_large", "z_small", "z_large", "log_src_images", "log_tgt_images", "log_src_classes",
    "log_tgt_classes", "keyword_jaccard", "same_domain", "z_small_x_src_size", "z_small_x_tgt_size",
)
# Card facts beyond size and classes: class imbalance and typical image size of both tasks.
CARD_FEATURES: tuple[str, ...] = (
    "log_src_imbalance", "log_tgt_imbalance", "log_src_pixels", "log_tgt_pixels", "abs_log_pixels_gap",
)
FEATURES: tuple[str, ...] = BASE_FEATURES + CARD_FEATURES


@dataclass(frozen=True)
class TaskFacts:
    """What a receiver knows about a task from its card (None = unknown, counted as typical)."""

    images: int | None = None
    num_classes: int | None = None
    keywords: frozenset[str] = frozenset()
    domain: str | None = None
    imbalance_ratio: float | None = None
    image_pixels: float | None = None


def _log10(value: float | None, default: float) -> float:
    return math.log10(max(float(value), 1.0)) if value is not None else default


def _zscores(values: np.ndarray) -> np.ndarray:
    sd = float(np.std(values))
    return (values - float(np.mean(values))) / sd if sd > 0 else np.zeros_like(values)


def pool_features(*, bkld_small: Sequence[float], bkld_large: Sequence[float] | None, sources: Sequence[TaskFacts],
                  query: TaskFacts) -> np.ndarray:
    """Feature matrix (one row per source, columns ``FEATURES``) of a pool for one query.

    The z-scores are taken within the pool, so they depend on which sources are in it:
    that is what lets one model compare distances of queries whose scales differ. A
    missing large distance (NaN, or no column) is imputed by the pool's median; if none
    is known the small distance stands in for it.
    """
    small = np.asarray(bkld_small, dtype=np.float64)
    n = small.size
    if n == 0 or len(sources) != n:
        raise UsageError("pool_features needs one distance and one TaskFacts per source")
    if not np.all(np.isfinite(small)):
        raise UsageError("bKLD small must be finite for every source")
    large = np.full(n, np.nan) if bkld_large is None else np.asarray(bkld_large, dtype=np.float64).copy()
    if large.size != n:
        raise UsageError("bkld_large must have one value per source")
    known = np.isfinite(large)
    large = np.where(known, large, np.median(large[known])) if known.any() else small.copy()
    sim_s, sim_l = -small, -large
    z_s, z_l = _zscores(sim_s), _zscores(sim_l)
    src_img = np.array([_log10(s.images, SIZE_CENTER_LOG10) for s in sources])
    src_cls = np.array([_log10(s.num_classes, math.log10(2)) for s in sources])
    tgt_img = _log10(query.images, SIZE_CENTER_LOG10)
    tgt_cls = _log10(query.num_classes, math.log10(2))
    jac = np.array([len(s.keywords & query.keywords) / len(s.keywords | query.keywords)
                    if s.keywords and query.keywords else 0.25 for s in sources])
    same = np.array([float(s.domain is not None and s.domain == query.domain) for s in sources])
    src_imb = np.array([_log10(s.imbalance_ratio, IMBALANCE_CENTER_LOG10) for s in sources])
    src_pix = np.array([_log10(s.image_pixels, PIXELS_CENTER_LOG10) for s in sources])
    tgt_imb = _log10(query.imbalance_ratio, IMBALANCE_CENTER_LOG10)
    tgt_pix = _log10(query.image_pixels, PIXELS_CENTER_LOG10)
    cols = [sim_s, sim_l, z_s, z_l, src_img, np.full(n, tgt_img), src_cls, np.full(n, tgt_cls), jac, same,
            z_s * (src_img - SIZE_CENTER_LOG10), z_s * (tgt_img - SIZE_CENTER_LOG10),
            src_imb, np.full(n, tgt_imb), src_pix, np.full(n, tgt_pix), np.abs(src_pix - tgt_pix)]
    return np.column_stack(cols)


@dataclass(frozen=True)
class GainModel:
    """``p_gain = sigmoid(a[scenario] + b[scenario] * rank_percentile + c * log_src_images + d * log_tgt_images)``."""

    intercept: Mapping[str, float]
    slope_rank: Mapping[str, float]
    coef_src_images: float
    coef_tgt_images: float

    def predict(self, scenario: str, *, rank_percentile: np.ndarray, log_src_images: np.ndarray,
                log_tgt_images: float) -> np.ndarray:
        z = (self.intercept[scenario] + self.slope_rank[scenario] * np.asarray(rank_percentile)
             + self.coef_src_images * np.asarray(log_src_images) + self.coef_tgt_images * log_tgt_images)
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self) -> dict[str, Any]:
        return {"intercept": dict(self.intercept), "slope_rank": dict(self.slope_rank),
                "coef_src_images": self.coef_src_images, "coef_tgt_images": self.coef_tgt_images}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> GainModel:
        return cls({s: float(obj["intercept"][s]) for s in SCENARIOS},
                   {s: float(obj["slope_rank"][s]) for s in SCENARIOS},
                   float(obj["coef_src_images"]), float(obj["coef_tgt_images"]))


# Readable groups of features for a suggestion's "why": each group's contribution is the sum
# of its features' contributions (TreeSHAP for LightGBM, weight x standardised value for linear).
GROUPS: dict[str, tuple[str, ...]] = {
    "similarity": ("sim_small", "sim_large", "z_small", "z_large"),
    "size": ("log_src_images", "z_small_x_src_size"),
    "classes": ("log_src_classes",),
    "keywords": ("keyword_jaccard",),
    "modality": ("same_domain",),
    "images": ("log_src_imbalance", "log_src_pixels", "abs_log_pixels_gap"),
    "query": ("log_tgt_images", "log_tgt_classes", "z_small_x_tgt_size", "log_tgt_imbalance", "log_tgt_pixels"),
}

BLEND_TERMS = {
    "size": lambda x: -x[:, FEATURES.index("log_src_images")],  # smaller source first
    "bkld_small": lambda x: x[:, FEATURES.index("sim_small")],  # closer source first
}

# A prior a booster starts from (LightGBM's init score) and adds its trees to: the model
# learns corrections to the prior, so where its features carry no signal it stays the prior.
PRIOR_TERMS = {
    "size": lambda x: -_zscores(x[:, FEATURES.index("log_src_images")]),  # smaller source first, within the pool
}


def rank_percentiles(scores: np.ndarray) -> np.ndarray:
    """1.0 for the best-scored source, 1/n for the worst (ties share the average)."""
    import scipy.stats

    return scipy.stats.rankdata(np.asarray(scores, dtype=np.float64), method="average") / len(scores)


@dataclass(frozen=True)
class RankerModel:
    """A frozen ranker: ``kind`` linear (weights per scenario, after standardising) or lgbm.

    ``features`` names the columns of :data:`FEATURES` the model reads, in its own order;
    ``prior`` (a name in ``PRIOR_TERMS``) is added to the booster's output.
    """

    name: str
    kind: str
    features: tuple[str, ...]
    linear: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False)
    mean: np.ndarray | None = field(default=None, repr=False)
    scale: np.ndarray | None = field(default=None, repr=False)
    booster_text: Mapping[str, str] = field(default_factory=dict, repr=False)
    gain: GainModel | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)
    blend: tuple[str, ...] = ()
    prior: str | None = None

    def columns(self, features: np.ndarray) -> np.ndarray:
        """The model's own columns of a :func:`pool_features` matrix."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(FEATURES):
            raise UsageError(f"expected a feature matrix with {len(FEATURES)} columns")
        return x[:, [FEATURES.index(f) for f in self.features]]

    def groups(self) -> tuple[str, ...]:
        """The names of :data:`GROUPS` this model reads (the size group also carries the prior)."""
        return tuple(name for name, members in GROUPS.items()
                     if any(f in self.features for f in members) or (name == "size" and self.prior))

    def prior_score(self, features: np.ndarray) -> np.ndarray:
        """The prior's value per row (zeros without a prior)."""
        x = np.asarray(features, dtype=np.float64)
        return PRIOR_TERMS[self.prior](x) if self.prior else np.zeros(x.shape[0])

    def score(self, scenario: str, features: np.ndarray) -> np.ndarray:
        """Higher = better source, one value per row of ``features``.

        With ``blend`` (names in ``BLEND_TERMS``) the score is a Borda count: the model's
        within-pool rank percentile plus that of each named prior (1 = best).
        """
        if scenario not in SCENARIOS:
            raise UsageError(f"unknown scenario {scenario!r}")
        x = np.asarray(features, dtype=np.float64)
        own = self.columns(x)
        if self.kind == "linear":
            xs = (own - self.mean) / self.scale if self.mean is not None else own
            raw = xs @ self.linear[scenario]
        else:
            raw = _booster(self.booster_text.get(scenario) or self.booster_text["shared"]).predict(
                _lgbm_rows(own, scenario, shared=scenario not in self.booster_text))
        raw = raw + self.prior_score(x)
        if not self.blend:
            return raw
        total = rank_percentiles(raw)
        for term in self.blend:
            total = total + rank_percentiles(BLEND_TERMS[term](x))
        return total

    def contributions(self, scenario: str, features: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(per-row contribution of each of ``GROUPS``, per-row constant); they add up to :meth:`score`.

        None for a blended model, whose score is a rank sum, not a sum of feature terms.
        """
        if self.blend:
            return None
        x = np.asarray(features, dtype=np.float64)
        own = self.columns(x)
        p = len(self.features)
        if self.kind == "linear":
            xs = (own - self.mean) / self.scale if self.mean is not None else own
            per_feature = xs * self.linear[scenario]
            const = np.zeros(x.shape[0])
        else:
            shared = scenario not in self.booster_text
            booster = _booster(self.booster_text.get(scenario) or self.booster_text["shared"])
            contrib = booster.predict(_lgbm_rows(own, scenario, shared=shared), pred_contrib=True)
            per_feature = contrib[:, :p]
            const = contrib[:, -1] + (contrib[:, p] if shared else 0.0)
        grouped = np.column_stack([per_feature[:, [self.features.index(f) for f in members if f in self.features]]
                                   .sum(axis=1) for members in GROUPS.values()])
        grouped[:, list(GROUPS).index("size")] += self.prior_score(x)
        return grouped, const

    def p_gain(self, scenario: str, scores: np.ndarray, features: np.ndarray) -> np.ndarray | None:
        """Calibrated probability that each source beats no transfer (None without a gain model)."""
        if self.gain is None:
            return None
        x = np.asarray(features)
        return self.gain.predict(scenario, rank_percentile=rank_percentiles(scores),
                                 log_src_images=x[:, FEATURES.index("log_src_images")],
                                 log_tgt_images=float(x[0, FEATURES.index("log_tgt_images")]))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": 1, "name": self.name, "kind": self.kind, "features": list(self.features),
                               "blend": list(self.blend)}
        if self.prior:
            out["prior"] = self.prior
        if self.kind == "linear":
            out["weights"] = {s: [float(v) for v in w] for s, w in self.linear.items()}
            if self.mean is not None:
                out["mean"] = [float(v) for v in self.mean]
                out["scale"] = [float(v) for v in self.scale]
        else:
            out["boosters"] = dict(self.booster_text)
        if self.gain is not None:
            out["p_gain"] = self.gain.to_json()
        out["provenance"] = dict(self.provenance)
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> RankerModel:
        try:
            features = tuple(obj["features"])
            if (obj["v"] != 1 or not features or any(f not in FEATURES for f in features)
                    or len(set(features)) != len(features)):
                raise BadInput("planner model: unknown version or feature list")
            kind = obj["kind"]
            blend = tuple(obj.get("blend", ()))
            if any(b not in BLEND_TERMS for b in blend):
                raise BadInput(f"planner model: unknown blend term in {list(blend)}")
            prior = obj.get("prior")
            if prior is not None and prior not in PRIOR_TERMS:
                raise BadInput(f"planner model: unknown prior {prior!r}")
            gain = GainModel.from_json(obj["p_gain"]) if "p_gain" in obj else None
            if kind == "linear":
                weights = {s: np.asarray(obj["weights"][s], dtype=np.float64) for s in SCENARIOS}
                if any(w.shape != (len(features),) for w in weights.values()):
                    raise BadInput("planner model: a weight vector does not match the feature list")
                mean = np.asarray(obj["mean"], dtype=np.float64) if "mean" in obj else None
                scale = np.asarray(obj["scale"], dtype=np.float64) if "scale" in obj else None
                return cls(obj["name"], kind, features, weights, mean, scale, {}, gain, obj.get("provenance", {}),
                           blend, prior)
            if kind == "lgbm":
                boosters = dict(obj["boosters"])
                for scenario, text in boosters.items():
                    width = len(features) + (scenario == "shared")
                    if not isinstance(text, str) or _booster(text).num_feature() != width:
                        raise BadInput(f"planner model: the {scenario} booster does not match the feature list")
                return cls(obj["name"], kind, features, {}, None, None, boosters, gain,
                           obj.get("provenance", {}), blend, prior)
        except (KeyError, TypeError, ValueError) as exc:
            raise BadInput(f"planner model is malformed: {exc}") from None
        raise BadInput(f"planner model kind {kind!r} is unknown")


def _lgbm_rows(x: np.ndarray, scenario: str, *, shared: bool) -> np.ndarray:
    if not shared:
        return x
    return np.column_stack([x, np.full(x.shape[0], float(SCENARIOS.index(scenario)))])


@functools.lru_cache(maxsize=8)
def _booster(text: str):  # noqa: ANN202 - lightgbm is imported lazily, only for lgbm models
    import lightgbm

    try:
        return lightgbm.Booster(model_str=text)
    except lightgbm.basic.LightGBMError as exc:
        raise BadInput(f"planner model: a booster does not load: {exc}") from None


def load_frozen_model(path: str | None = None) -> RankerModel:
    """The model frozen in the package (or at ``path``); raises :class:`BadInput` if malformed."""
    if path is None:
        text = resources.files("secfp.planning").joinpath(MODEL_FILE).read_text(encoding="utf-8")
    else:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"planner model is not JSON: {exc}") from None
    return RankerModel.from_json(obj)


@functools.lru_cache(maxsize=1)
def frozen_model() -> RankerModel:
    """The package's frozen model, read once."""
    return load_frozen_model()
