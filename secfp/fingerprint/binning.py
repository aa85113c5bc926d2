"""Vectorised binning of probe features into a spec's equal-width bins.

One ``bucketize``-free formula for the whole batch: ``floor((x - low) * B / (high - low))``
in float64, clamped to ``[0, B-1]`` (values outside the public edges land in the
end bins, so every sample adds exactly one count per feature), then one
``bincount`` over flattened (feature, bin) indices.
"""

from __future__ import annotations

import numpy as np
import torch

from secfp.fingerprint.spec import FingerprintSpec

__all__ = ["BinAccumulator", "bin_indices"]


def _edges(spec: FingerprintSpec) -> tuple[torch.Tensor, torch.Tensor]:
    low = torch.tensor(np.array(spec.low), dtype=torch.float64)
    scale = torch.tensor(spec.bins / (np.array(spec.high) - np.array(spec.low)), dtype=torch.float64)
    return low, scale


def bin_indices(features: torch.Tensor, spec: FingerprintSpec, *, edges: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """(N, m) features -> (N, m) int64 bin indices under the spec's edges."""
    low, scale = edges if edges is not None else _edges(spec)
    idx = torch.floor((features.to(torch.float64) - low) * scale)
    return idx.clamp_(0, spec.bins - 1).to(torch.int64)


class BinAccumulator:
    """Running counts and feature sums for one fingerprint (cheap to merge: both add)."""

    def __init__(self, spec: FingerprintSpec) -> None:
        self.spec = spec
        m, b = spec.num_features, spec.bins
        self._offsets = torch.arange(m, dtype=torch.int64) * b
        self._edges = _edges(spec)
        self.counts = torch.zeros(m * b, dtype=torch.int64)
        self.feature_sum = torch.zeros(m, dtype=torch.float64)
        self.n = 0

    def add(self, features: torch.Tensor) -> None:
        if features.ndim != 2 or features.shape[1] != self.spec.num_features:
            raise ValueError(f"features of shape {tuple(features.shape)} do not fit spec with {self.spec.num_features} features")
        if features.shape[0] == 0:
            return
        flat = (bin_indices(features, self.spec, edges=self._edges) + self._offsets).reshape(-1)
        self.counts += torch.bincount(flat, minlength=self.counts.numel())
        self._add_to_sum(features)
        self.n += int(features.shape[0])

    def _add_to_sum(self, features: torch.Tensor) -> None:
        """Running feature sum (float64); subclasses may keep it exactly instead."""
        self.feature_sum += features.to(torch.float64).sum(dim=0)

    def counts_matrix(self) -> np.ndarray:
        return self.counts.reshape(self.spec.num_features, self.spec.bins).numpy().copy()
