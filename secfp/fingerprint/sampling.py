"""Which images a fingerprint looks at, and with which crop and flip: a deterministic plan.

All randomness is drawn up front from one seeded generator, so a fingerprint is
a pure function of (images, spec, seed), however the work is later batched,
threaded or sharded. The paper samples n images with replacement and applies a
random crop and horizontal flip to each (Godau et al., Sec. 3); the DP path uses
Poisson sampling at a public rate instead (privacy amplification by sampling).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SamplePlan", "plan_with_replacement", "plan_poisson"]


@dataclass(frozen=True, eq=False)
class SamplePlan:
    """Per sample: index of the source image, crop position in [0, 1)^2, flip bit."""

    image_index: np.ndarray
    crop_uv: np.ndarray
    flip: np.ndarray

    def __post_init__(self) -> None:
        n = self.image_index.shape[0]
        if self.crop_uv.shape != (n, 2) or self.flip.shape != (n,):
            raise ValueError("inconsistent sample plan")

    def __len__(self) -> int:
        return int(self.image_index.shape[0])

    def subset(self, mask_or_index: np.ndarray) -> "SamplePlan":
        return SamplePlan(self.image_index[mask_or_index], self.crop_uv[mask_or_index], self.flip[mask_or_index])


def _augment(rng: np.random.Generator, image_index: np.ndarray) -> SamplePlan:
    n = image_index.shape[0]
    return SamplePlan(image_index.astype(np.int64), rng.random((n, 2)), rng.random(n) < 0.5)


def plan_with_replacement(num_images: int, *, samples: int, rng: np.random.Generator) -> SamplePlan:
    """``samples`` draws with replacement from ``num_images`` (the paper's sampling)."""
    if num_images < 1 or samples < 1:
        raise ValueError("need at least one image and one sample")
    return _augment(rng, rng.integers(0, num_images, size=samples))


def plan_poisson(num_images: int, *, rate: float, rng: np.random.Generator) -> SamplePlan:
    """Each image is included independently with probability ``rate`` (Poisson sampling)."""
    if not 0.0 < rate <= 1.0:
        raise ValueError("sampling rate must be in (0, 1]")
    return _augment(rng, np.flatnonzero(rng.random(num_images) < rate))
