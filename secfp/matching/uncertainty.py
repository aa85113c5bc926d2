"""Distances a user can read: the query's own floor, a bootstrap interval per distance, ties, rank.

The paper's bKLD (:mod:`secfp.matching.bkld`) compares the query's empirical rows ``p``
with a *softmax* of the source's rows, ``q = softmax(h_S)``. A softmax of values in
[0, 1] is never peaked, so ``q`` is not ``p`` even for the query itself: bKLD(T -> T) is
not 0, and a source whose rows are more peaked than the query's own can come out closer
than an exact copy of the query. That is the paper's definition and the default here;
this module only adds what a reader needs to interpret a number:

* :func:`distance_floor`: the query's distance to an exact copy of itself. A source at
  or below the floor is "as close as the query is to itself";
* :func:`explain_matches`: for every source, a 95 % interval of its distance from a
  multinomial bootstrap of the query's counts (each feature row resampled with its own
  total; the small variant's feature weights stay fixed). A resampled histogram is more
  peaked than the one it was drawn from, so every resampled distance is biased upward (by
  roughly (bins - 1) / (2 n) per feature, the plug-in bias of KL, and the same for every
  source); the interval is therefore the percentile interval of the resampled distances
  shifted by their mean bias, i.e. centred on the measured distance: how far the number could
  move had the query been sampled again. Then the source's rank and
  percentile in the pool, and **ties**: consecutive sources whose paired bootstrap
  difference has an interval containing 0 share a ``tie_group``, because the query's
  sampling noise alone could swap them.

The bootstrap is seeded, so a report is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import rel_entr

from secfp.errors import UsageError
from secfp.fingerprint.histogram import Fingerprint
from secfp.matching.bkld import bkld, check_compatible, feature_weights, source_log_q

__all__ = ["DEFAULT_RESAMPLES", "MatchUncertainty", "distance_floor", "explain_matches"]

DEFAULT_RESAMPLES = 200


@dataclass(frozen=True)
class MatchUncertainty:
    """One source's distance with what it means: interval, floor, place in the pool, tie group."""

    source: str
    distance: float
    distance_ci: tuple[float, float]
    distance_floor: float
    rank: int
    pool_size: int
    percentile: float
    tie_group: int
    tied_with_next: bool

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "distance": self.distance, "distance_ci": list(self.distance_ci),
                "distance_floor": self.distance_floor, "rank": self.rank, "pool_size": self.pool_size,
                "percentile": self.percentile, "tie_group": self.tie_group, "tied_with_next": self.tied_with_next}


def distance_floor(query: Fingerprint, *, variant: str = "small") -> float:
    """bKLD from an exact copy of ``query`` to ``query``: the smallest distance its own data would get."""
    return bkld(query, query, variant=variant)


def _resampled_terms(query: Fingerprint, *, variant: str, resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(V, c): per resample, the target terms of :func:`~secfp.matching.bkld.target_terms` of resampled counts."""
    counts = query.counts.astype(np.float64)
    if query.noisy:
        counts = np.clip(counts, 0.0, None)
    totals = counts.sum(axis=1)
    probs = np.divide(counts, totals[:, None], out=np.zeros_like(counts), where=totals[:, None] > 0)
    w = feature_weights(query, variant)
    w = w / w.sum()
    rng = np.random.default_rng(seed)
    m, b = counts.shape
    V = np.empty((resamples, m * b))
    c = np.empty(resamples)
    n_rows = np.rint(totals).astype(np.int64)
    for r in range(resamples):
        draw = rng.multinomial(n_rows, probs).astype(np.float64)
        p = np.divide(draw, n_rows[:, None], out=np.zeros_like(draw), where=n_rows[:, None] > 0)
        V[r] = (w[:, None] * p).reshape(-1)
        c[r] = float(np.dot(w, rel_entr(p, np.ones_like(p)).sum(axis=1)))
    return V, c


def explain_matches(query: Fingerprint, sources: Sequence[tuple[str, Fingerprint]], *, variant: str = "small",
                    resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> list[MatchUncertainty]:
    """Every source, closest first (ties of the point estimate broken by name), with its uncertainty."""
    if not sources:
        raise UsageError("no sources to explain")
    if isinstance(resamples, bool) or not isinstance(resamples, int) or not 20 <= resamples <= 10_000:
        raise UsageError("resamples must be an integer from 20 to 10000")
    check_compatible(query, *(fp for _, fp in sources))
    names = [n for n, _ in sources]
    log_q = np.stack([source_log_q(fp) for _, fp in sources])
    point = np.array([bkld(query, fp, variant=variant) for _, fp in sources])
    V, c = _resampled_terms(query, variant=variant, resamples=resamples, seed=seed)
    boot = c[None, :] - log_q @ V.T  # (sources, resamples)
    floor = distance_floor(query, variant=variant)
    order = sorted(range(len(names)), key=lambda i: (float(point[i]), names[i]))
    n = len(order)
    tied_next = []
    for a, b in zip(order, order[1:], strict=False):
        lo, hi = np.percentile(boot[a] - boot[b], [2.5, 97.5])
        tied_next.append(bool(lo <= 0.0 <= hi))
    tied_next.append(False)
    out, group = [], 1
    for rank, i in enumerate(order, start=1):
        shift = float(np.mean(boot[i])) - float(point[i])  # the plug-in bias, the same for every source
        lo, hi = np.percentile(boot[i] - shift, [2.5, 97.5])
        out.append(MatchUncertainty(names[i], float(point[i]), (float(lo), float(hi)), float(floor), rank, n,
                                    float((n - rank) / (n - 1)) if n > 1 else 1.0, group, tied_next[rank - 1]))
        if not tied_next[rank - 1]:
            group += 1
    return out
