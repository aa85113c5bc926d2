"""The fingerprint itself: integer counts per (feature, bin), plus n and the feature mean.

Counts, not probabilities, are the fingerprint (ARCHITECTURE.md): integers add
exactly across shards and sites, take exact discrete DP noise, and are only
normalised at match time. Every sampled image adds exactly one count to each
feature's row, so without DP noise every row sums to ``n``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from secfp._io import atomic_write_bytes, canonical_json, read_capped, strict_json_loads
from secfp.errors import BadInput, IncompatibleFingerprints

__all__ = ["Fingerprint", "FINGERPRINT_KIND", "load_fingerprint", "save_fingerprint", "merge"]

FINGERPRINT_KIND = "secfp.fingerprint"
FORMAT_VERSION = 1
# A 2048-feature x 1000-bin fingerprint in JSON is about 20 MB; nothing legitimate is larger.
MAX_FINGERPRINT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """Counts of one task's probe features in the bins of one spec.

    ``feature_mean`` is the mean feature vector of the sampled images; it sets
    the small bKLD variant's weights. Under DP it is not the exact mean but an
    estimate from the noisy histogram (post-processing), and ``noisy`` is True:
    rows then need not sum to ``n`` and may hold negative counts.
    """

    spec_id: str
    counts: np.ndarray
    n: int
    feature_mean: np.ndarray
    noisy: bool = False

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts)
        if counts.ndim != 2 or counts.shape[0] < 1 or counts.shape[1] < 2:
            raise BadInput(f"fingerprint counts must be a features x bins matrix, got shape {counts.shape}")
        if not np.issubdtype(counts.dtype, np.integer):
            raise BadInput("fingerprint counts must be integers")
        counts = counts.astype(np.int64, copy=True)
        mean = np.asarray(self.feature_mean, dtype=np.float64).copy()
        if mean.shape != (counts.shape[0],):
            raise BadInput(f"feature mean has shape {mean.shape}, expected ({counts.shape[0]},)")
        if not np.all(np.isfinite(mean)):
            raise BadInput("feature mean holds non-finite values")
        if not isinstance(self.n, int | np.integer) or int(self.n) < 1:
            raise BadInput(f"fingerprint n must be a positive integer, got {self.n!r}")
        if not self.noisy:
            if counts.min() < 0:
                raise BadInput("a fingerprint without DP noise cannot hold negative counts")
            if not np.all(counts.sum(axis=1) == int(self.n)):
                raise BadInput("every feature row of a noise-free fingerprint must sum to n")
        if not isinstance(self.spec_id, str) or not self.spec_id:
            raise BadInput("fingerprint has no spec id")
        counts.setflags(write=False)
        mean.setflags(write=False)
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "feature_mean", mean)
        object.__setattr__(self, "n", int(self.n))

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.counts.shape[0]), int(self.counts.shape[1]))

    def probabilities(self) -> np.ndarray:
        """Each feature row L1-normalised (the target side of bKLD); zero rows stay zero."""
        counts = self.counts.astype(np.float64)
        totals = counts.sum(axis=1, keepdims=True)
        return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fingerprint):
            return NotImplemented
        return (
            self.spec_id == other.spec_id
            and self.n == other.n
            and self.noisy == other.noisy
            and np.array_equal(self.counts, other.counts)
            and np.array_equal(self.feature_mean, other.feature_mean)
        )

    __hash__ = None  # type: ignore[assignment]

    def to_json(self) -> dict[str, Any]:
        """The public JSON form (also what ``secfp inspect --json`` prints)."""
        return {
            "v": FORMAT_VERSION,
            "kind": FINGERPRINT_KIND,
            "spec_id": self.spec_id,
            "n": self.n,
            "shape": list(self.shape),
            "noisy": self.noisy,
            "feature_mean": [float(x) for x in self.feature_mean],
            "counts": self.counts.tolist(),
        }

    @classmethod
    def from_json(cls, obj: Any) -> "Fingerprint":
        """Build from the JSON form, checking every field strictly."""
        if not isinstance(obj, dict):
            raise BadInput("fingerprint JSON must be an object")
        expected = {"v", "kind", "spec_id", "n", "shape", "noisy", "feature_mean", "counts"}
        if set(obj) != expected:
            extra, missing = sorted(set(obj) - expected), sorted(expected - set(obj))
            raise BadInput(f"fingerprint fields wrong: unexpected {extra}, missing {missing}")
        if obj["v"] != FORMAT_VERSION or obj["kind"] != FINGERPRINT_KIND:
            raise BadInput(f"not a version-{FORMAT_VERSION} secfp fingerprint")
        if type(obj["n"]) is not int or type(obj["noisy"]) is not bool:
            raise BadInput("fingerprint n must be an integer and noisy a boolean")
        shape = obj["shape"]
        if not (isinstance(shape, list) and len(shape) == 2 and all(type(x) is int and x > 0 for x in shape)):
            raise BadInput("fingerprint shape must be [features, bins]")
        rows = obj["counts"]
        if not (isinstance(rows, list) and len(rows) == shape[0]):
            raise BadInput("fingerprint counts do not match its shape")
        for row in rows:
            if not (isinstance(row, list) and len(row) == shape[1] and all(type(x) is int for x in row)):
                raise BadInput("fingerprint counts must be rows of integers matching its shape")
        mean = obj["feature_mean"]
        if not (isinstance(mean, list) and all(type(x) in (int, float) for x in mean)):
            raise BadInput("fingerprint feature_mean must be a list of numbers")
        return cls(
            spec_id=obj["spec_id"],
            counts=np.array(rows, dtype=np.int64).reshape(shape),
            n=obj["n"],
            feature_mean=np.array(mean, dtype=np.float64),
            noisy=obj["noisy"],
        )


def merge(*fingerprints: Fingerprint) -> Fingerprint:
    """Fingerprint of the union of the samples: counts add, means are n-weighted.

    Only noise-free fingerprints of one spec merge; adding DP releases would add
    their noise and their privacy cost, which belongs to the privacy layer.
    """
    if not fingerprints:
        raise BadInput("nothing to merge")
    first = fingerprints[0]
    for fp in fingerprints[1:]:
        if fp.spec_id != first.spec_id:
            raise IncompatibleFingerprints(f"cannot merge fingerprints of spec {first.spec_id} and spec {fp.spec_id}")
        if fp.shape != first.shape:
            raise IncompatibleFingerprints(f"cannot merge shapes {first.shape} and {fp.shape}")
    if any(fp.noisy for fp in fingerprints):
        raise BadInput("differentially private fingerprints cannot be merged")
    n = sum(fp.n for fp in fingerprints)
    counts = np.sum([fp.counts for fp in fingerprints], axis=0)
    mean = np.sum([fp.feature_mean * fp.n for fp in fingerprints], axis=0) / n
    return Fingerprint(spec_id=first.spec_id, counts=counts, n=n, feature_mean=mean)


def save_fingerprint(fp: Fingerprint, path: str | Path) -> None:
    """Write a fingerprint file atomically, mode 0600: exact counts describe private images."""
    atomic_write_bytes(path, canonical_json(fp.to_json()) + b"\n", mode=0o600)


def load_fingerprint(path: str | Path) -> Fingerprint:
    """Read and strictly validate a fingerprint file."""
    data = read_capped(path, cap=MAX_FINGERPRINT_BYTES, what="fingerprint file")
    return Fingerprint.from_json(strict_json_loads(data, what=f"fingerprint file {path}"))
