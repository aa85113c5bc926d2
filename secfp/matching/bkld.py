"""bKLD, the binned KL divergence of Godau et al. (arXiv 2412.08763, Sec. 3), per pair and one-vs-many.

From source S to target T::

    bKLD(S -> T) = sum_j w_j KL(p_j || q_j) / sum_j w_j
    p_j = target row j, L1-normalised;  q_j = softmax over bins of the source's L1-normalised row j
    small variant: w = softmax(target's mean feature vector);  large variant: w = 1

Terms with p = 0 count 0. Lower is closer.

One-vs-many uses the identity ``sum_b p log(p/q) = sum_b p log p - sum_b p log q``
with ``log q = h_S - logsumexp(h_S)`` precomputed per source, so one target
against N sources is one matrix-vector product (exact, not an approximation);
:func:`bkld` is the per-pair reference the tests hold it to.

Noisy (DP) fingerprints (docs/dp-utility.md measures the alternatives):

- target: the rows must be distributions, so negative noisy counts are clipped
  to zero before normalising (the sum_b p log p term is a per-target constant,
  and leaving p unclipped measured no better);
- source: ``h_S`` is the noisy counts divided by the released ``n`` (n-hat, the
  mean of all m row totals), never by each row's own noisy total: that total
  carries noise of sd sigma sqrt(B), comparable to n itself, and dividing by it
  scrambled the ranking. Not clipped: zero-mean noise stays zero-mean in the logits;
- source, expected-value correction: zero-mean noise of sd s = sigma / n in the
  B logits raises E[logsumexp] by about s^2 (1 - 1/B) / 2 (second order; within
  4% of the exact value for s <= 1), which would penalise sources by their noise
  level (small n, small epsilon) rather than by content. :func:`noise_offset`
  is that amount, with sigma-hat^2 = Var(row totals) / B read off the released
  counts (noise-free rows all sum to n); it is added to every entry of the
  source's ``log q``, which lowers bKLD by the same amount because every target
  row of ``v`` sums to its weight. It is 0 for noise-free fingerprints, so their
  distances are unchanged, and a noisy distance may come out slightly below 0
  (it estimates the noise-free bKLD).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy.special import log_softmax, rel_entr, softmax

from secfp.errors import IncompatibleFingerprints, UsageError
from secfp.fingerprint.histogram import Fingerprint

__all__ = ["Variant", "VARIANTS", "bkld", "target_terms", "source_log_q", "noise_offset", "check_compatible", "one_vs_many"]

Variant = Literal["small", "large"]
VARIANTS: tuple[str, ...] = ("small", "large")


def check_compatible(*fingerprints: Fingerprint) -> str:
    """The common spec id, or :class:`IncompatibleFingerprints` naming both ids."""
    first = fingerprints[0]
    for fp in fingerprints[1:]:
        if fp.spec_id != first.spec_id or fp.shape != first.shape:
            raise IncompatibleFingerprints(
                f"fingerprints of different specs cannot be compared: {first.spec_id} vs {fp.spec_id}"
            )
    return first.spec_id


def _variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise UsageError(f"unknown bKLD variant {variant!r}; use 'small' or 'large'")
    return variant


def target_probabilities(target: Fingerprint) -> np.ndarray:
    counts = target.counts.astype(np.float64)
    if target.noisy:
        counts = np.clip(counts, 0.0, None)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def source_logits(source: Fingerprint) -> np.ndarray:
    """The source's rows divided by n (``h_S``): L1-normalised when noise-free; for DP, by n-hat, never clipped."""
    return source.counts.astype(np.float64) / float(source.n)


def noise_offset(source: Fingerprint) -> float:
    """Expected rise of ``logsumexp(h_S)`` per row caused by the source's own DP noise (0 without noise).

    ``s^2 (1 - 1/B) / 2`` with ``s = sigma-hat / n-hat`` and ``sigma-hat^2 = Var(row totals) / B``
    (post-processing of the released counts; needs at least two rows).
    """
    m, b = source.shape
    if not source.noisy or m < 2:
        return 0.0
    totals = source.counts.sum(axis=1).astype(np.float64)
    s2 = float(totals.var(ddof=1)) / b / float(source.n) ** 2
    return 0.5 * s2 * (1.0 - 1.0 / b)


def feature_weights(target: Fingerprint, variant: str) -> np.ndarray:
    if _variant(variant) == "small":
        return softmax(target.feature_mean)
    return np.ones(target.shape[0])


def bkld(target: Fingerprint, source: Fingerprint, *, variant: str = "small") -> float:
    """Reference per-pair bKLD from ``source`` to ``target`` (written for clarity, not speed)."""
    check_compatible(target, source)
    p = target_probabilities(target)
    q = softmax(source_logits(source), axis=1)
    kl_per_feature = rel_entr(p, q).sum(axis=1)  # rel_entr(0, q) == 0: p = 0 terms count 0
    kl_per_feature -= noise_offset(source) * p.sum(axis=1)  # rows with p = 0 count 0 here too
    w = feature_weights(target, variant)
    return float(np.dot(w, kl_per_feature) / w.sum())


def source_log_q(source: Fingerprint) -> np.ndarray:
    """Per-source row of the one-vs-many matrix: log softmax of ``h_S`` plus :func:`noise_offset`, flattened (m * B)."""
    return (log_softmax(source_logits(source), axis=1) + noise_offset(source)).reshape(-1)


def target_terms(target: Fingerprint, *, variant: str) -> tuple[np.ndarray, float]:
    """(v, c) such that ``bKLD(S -> T) = c - log_q(S) . v`` for every source S."""
    p = target_probabilities(target)
    w = feature_weights(target, variant)
    w = w / w.sum()
    plogp = rel_entr(p, np.ones_like(p)).sum(axis=1)  # sum_b p log p, 0 log 0 = 0
    return (w[:, None] * p).reshape(-1), float(np.dot(w, plogp))


def one_vs_many(target: Fingerprint, sources: Sequence[Fingerprint], *, variant: str = "small") -> np.ndarray:
    """bKLD from each source to ``target``: one matrix-vector product."""
    if not sources:
        return np.zeros(0)
    check_compatible(target, *sources)
    log_q = np.stack([source_log_q(s) for s in sources])
    v, c = target_terms(target, variant=variant)
    return c - log_q @ v
