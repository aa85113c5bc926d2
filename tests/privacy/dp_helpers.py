"""Helpers for the privacy tests: small public specs and noise-free fingerprints (no probe network)."""

from __future__ import annotations

import numpy as np

from secfp.fingerprint.histogram import Fingerprint
from secfp.fingerprint.spec import FingerprintSpec


def make_spec(*, features: int, bins: int) -> FingerprintSpec:
    return FingerprintSpec(
        probe="resnet34",
        weights="random:0",
        weights_sha256="0" * 64,
        preprocessing={},
        bins=bins,
        low=np.zeros(features),
        high=np.ones(features),
        calibration={},
    )


def make_fingerprint(spec: FingerprintSpec, *, n: int, seed: int = 0) -> Fingerprint:
    """A noise-free fingerprint: n images, each adding one count to every feature row."""
    rng = np.random.default_rng(seed)
    values = rng.beta(2.0, 5.0, size=(n, spec.num_features))
    bins = np.clip((values * spec.bins).astype(np.int64), 0, spec.bins - 1)
    counts = np.zeros((spec.num_features, spec.bins), dtype=np.int64)
    for feature in range(spec.num_features):
        counts[feature] = np.bincount(bins[:, feature], minlength=spec.bins)
    return Fingerprint(spec_id=spec.spec_id, counts=counts, n=n, feature_mean=values.mean(axis=0))
