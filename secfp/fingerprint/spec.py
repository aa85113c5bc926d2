"""FingerprintSpec: everything that must be equal for two fingerprints to be comparable.

A spec fixes the probe network and the digest of its weights, the preprocessing,
the number of bins and the public per-feature bin edges. Its id is the SHA-256
of its canonical JSON form, and every fingerprint carries that id: two
fingerprints are comparable if and only if their spec ids are equal.

Edges come from a *public* reference image set (5% / 95% feature quantiles, as
in Godau et al., Sec. 3), never from private data, so the spec itself leaks
nothing and DP sensitivity stays one count per feature.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from secfp._io import atomic_write_bytes, canonical_json, read_capped, strict_json_loads
from secfp.errors import BadInput

__all__ = ["FingerprintSpec", "load_spec", "save_spec", "default_spec", "shipped_spec_names", "DEFAULT_SPEC_NAME"]

SPEC_KIND = "secfp.spec"
FORMAT_VERSION = 1
DEFAULT_SPEC_NAME = "mobilenet_v2-b100"
MAX_SPEC_BYTES = 8 * 1024 * 1024

_FIELDS = ("probe", "weights", "weights_sha256", "preprocessing", "bins", "low", "high", "calibration")


@dataclass(frozen=True, eq=False)
class FingerprintSpec:
    """Public, shared definition of how a fingerprint is made.

    ``weights`` names the torchvision weights (``"IMAGENET1K_V1"``) or is
    ``"random:<seed>"`` for an explicitly requested untrained probe; the latter
    has its own spec id, so its fingerprints can never be matched against real ones.
    """

    probe: str
    weights: str
    weights_sha256: str
    preprocessing: dict[str, Any]
    bins: int
    low: np.ndarray
    high: np.ndarray
    calibration: dict[str, Any]
    spec_id: str = field(init=False)

    def __post_init__(self) -> None:
        low = np.asarray(self.low, dtype=np.float64).copy()
        high = np.asarray(self.high, dtype=np.float64).copy()
        if low.ndim != 1 or low.shape != high.shape or low.size == 0:
            raise BadInput("spec edges must be two equal-length vectors")
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise BadInput("spec edges must be finite")
        if not np.all(high > low):
            raise BadInput("every spec feature needs high > low")
        if type(self.bins) is not int or not 2 <= self.bins <= 100_000:
            raise BadInput(f"spec bins must be an integer in [2, 100000], got {self.bins!r}")
        if not isinstance(self.probe, str) or not isinstance(self.weights, str):
            raise BadInput("spec probe and weights must be strings")
        low.setflags(write=False)
        high.setflags(write=False)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        digest = hashlib.sha256(canonical_json(self._canonical_body())).hexdigest()
        object.__setattr__(self, "spec_id", digest)

    @property
    def num_features(self) -> int:
        return int(self.low.shape[0])

    @property
    def random_weights(self) -> bool:
        return self.weights.startswith("random:")

    def bin_centres(self) -> np.ndarray:
        """(features, bins) array of bin centres in feature units (public)."""
        width = (self.high - self.low) / self.bins
        return self.low[:, None] + (np.arange(self.bins)[None, :] + 0.5) * width[:, None]

    def with_bins(self, bins: int) -> "FingerprintSpec":
        """The same probe and edges with another number of bins (a different spec id)."""
        return FingerprintSpec(
            probe=self.probe,
            weights=self.weights,
            weights_sha256=self.weights_sha256,
            preprocessing=dict(self.preprocessing),
            bins=bins,
            low=self.low,
            high=self.high,
            calibration=dict(self.calibration),
        )

    def short_id(self) -> str:
        return self.spec_id[:12]

    def _canonical_body(self) -> dict[str, Any]:
        return {
            "v": FORMAT_VERSION,
            "kind": SPEC_KIND,
            "probe": self.probe,
            "weights": self.weights,
            "weights_sha256": self.weights_sha256,
            "preprocessing": self.preprocessing,
            "bins": self.bins,
            "low": [float(x) for x in self.low],
            "high": [float(x) for x in self.high],
            "calibration": self.calibration,
        }

    def to_json(self) -> dict[str, Any]:
        return {**self._canonical_body(), "spec_id": self.spec_id}

    @classmethod
    def from_json(cls, obj: Any) -> "FingerprintSpec":
        if not isinstance(obj, dict):
            raise BadInput("spec JSON must be an object")
        expected = {"v", "kind", "spec_id", *_FIELDS}
        if set(obj) != expected:
            raise BadInput(
                f"spec fields wrong: unexpected {sorted(set(obj) - expected)}, missing {sorted(expected - set(obj))}"
            )
        if obj["v"] != FORMAT_VERSION or obj["kind"] != SPEC_KIND:
            raise BadInput(f"not a version-{FORMAT_VERSION} secfp spec")
        for key in ("low", "high"):
            if not isinstance(obj[key], list) or not all(type(x) in (int, float) for x in obj[key]):
                raise BadInput(f"spec {key} must be a list of numbers")
        if not isinstance(obj["preprocessing"], dict) or not isinstance(obj["calibration"], dict):
            raise BadInput("spec preprocessing and calibration must be objects")
        spec = cls(**{k: obj[k] for k in _FIELDS})
        if spec.spec_id != obj["spec_id"]:
            raise BadInput(f"spec id {obj['spec_id']} does not match its content ({spec.spec_id}): edited spec?")
        return spec


def shipped_spec_names() -> list[str]:
    """Names of the specs that ship inside the package (``secfp/specs/*.json``)."""
    return sorted(p.name[:-5] for p in resources.files("secfp.specs").iterdir() if p.name.endswith(".json"))


def load_spec(name_or_path: str | Path | None = None) -> FingerprintSpec:
    """Load a shipped spec by name (default ``mobilenet_v2-b100``) or a spec file by path."""
    name = str(name_or_path) if name_or_path is not None else DEFAULT_SPEC_NAME
    path = Path(name)
    if not path.is_file():
        candidate = resources.files("secfp.specs") / f"{name}.json"
        if not candidate.is_file():
            raise BadInput(f"no spec file {name} and no shipped spec of that name (shipped: {', '.join(shipped_spec_names())})")
        data = candidate.read_bytes()
    else:
        data = read_capped(path, cap=MAX_SPEC_BYTES, what="spec file")
    return FingerprintSpec.from_json(strict_json_loads(data, what=f"spec {name}"))


def default_spec() -> FingerprintSpec:
    return load_spec(DEFAULT_SPEC_NAME)


def save_spec(spec: FingerprintSpec, path: str | Path) -> None:
    atomic_write_bytes(path, canonical_json(spec.to_json()) + b"\n")
