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

Noisy (DP) fingerprints: the target's rows must be distributions, so its
negative noisy counts are clipped to zero before normalising; the source's rows
are normalised by their noisy totals *without* clipping, because the softmax
accepts any real values and clipping would bias every source the same way
(zero-mean noise stays zero-mean there).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy.special import log_softmax, rel_entr, softmax

from secfp.errors import IncompatibleFingerprints, UsageError
from secfp.fingerprint.histogram import Fingerprint

__all__ = ["Variant", "VARIANTS", "bkld", "target_terms", "source_log_q", "check_compatible", "one_vs_many"]

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
    """The source's L1-normalised rows (``h_S``), noisy totals included, never clipped."""
    counts = source.counts.astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    totals = np.where(totals > 0, totals, float(source.n))
    return counts / totals


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
    w = feature_weights(target, variant)
    return float(np.dot(w, kl_per_feature) / w.sum())


def source_log_q(source: Fingerprint) -> np.ndarray:
    """Per-source row of the one-vs-many matrix: log softmax of ``h_S``, flattened (m * B)."""
    return log_softmax(source_logits(source), axis=1).reshape(-1)


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
