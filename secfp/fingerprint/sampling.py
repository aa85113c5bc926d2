"""Which images a fingerprint looks at, and with which crop and flip: a deterministic plan.

All randomness is drawn up front from one seeded generator, so a fingerprint is
a pure function of (images, spec, seed), however the work is later batched,
threaded or sharded. The paper samples n images with replacement and applies a
random crop and horizontal flip to each (Godau et al., Sec. 3). The DP path uses
:func:`plan_units_poisson` instead: privacy units (patients, volumes or images) are
Poisson-sampled at a public rate, and at most k images are drawn without replacement
from each sampled unit (contribution bounding), from a generator the export seeds
from the OS CSPRNG.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SamplePlan", "plan_with_replacement", "plan_poisson", "plan_units_poisson"]


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


def plan_units_poisson(unit_index: np.ndarray, *, rate: float, max_per_unit: int, rng: np.random.Generator) -> SamplePlan:
    """Each unit is included independently with probability ``rate``; at most ``max_per_unit`` of its images, drawn without replacement.

    ``unit_index[i]`` is the unit of image i. A unit's contribution is then at most
    ``max_per_unit`` images whatever its size: the L2 sensitivity the calibration assumes.
    """
    if not 0.0 < rate <= 1.0:
        raise ValueError("sampling rate must be in (0, 1]")
    if isinstance(max_per_unit, bool) or not isinstance(max_per_unit, int) or max_per_unit < 1:
        raise ValueError("max images per unit must be a positive integer")
    unit_index = np.asarray(unit_index, dtype=np.int64).reshape(-1)
    units = int(unit_index.max()) + 1 if unit_index.size else 0
    included = rng.random(units) < rate
    # A random key per image; within each unit the max_per_unit smallest keys are drawn.
    keys = rng.random(unit_index.size)
    order = np.lexsort((keys, unit_index))
    sorted_units = unit_index[order]
    starts = np.searchsorted(sorted_units, sorted_units, side="left")
    rank = np.arange(order.size) - starts
    chosen = order[(rank < max_per_unit) & included[sorted_units]]
    return _augment(rng, np.sort(chosen))
