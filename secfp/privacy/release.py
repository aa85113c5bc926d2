"""Turn a noise-free fingerprint into a differentially private one, and explain the cost first.

:func:`privatize` calibrates sigma for (epsilon, delta, q) with ``m`` rows and at
most ``k`` images per privacy unit (L2 sensitivity k sqrt(m)), adds exact discrete Gaussian
noise to every count and releases the raw noisy integers: no clipping, no
rounding, no bias away from zero (clean-up, if any, belongs to the matcher).
Everything else in the released fingerprint is post-processing of those noisy
counts and public values, which costs no privacy (Dwork and Roth 2014, Prop. 2.1):

- ``n`` is estimated from the noisy counts (every image adds one count per row,
  so each row sums to n; averaging the m rows gives variance B sigma^2 / m). The
  true n is private under add/remove-one and is not released.
- ``feature_mean`` is estimated from the noisy histogram and the public bin centres
  (the exact mean would be a second, unaccounted release), then clipped into the
  range of the bin centres.

What this module does not check: that the units were really Poisson-sampled at
``sample_rate`` with secret randomness and that no unit gave more than k images
(:func:`secfp.fingerprint.pipeline.fingerprint_poisson` does both). Amplification by
subsampling holds only then; with ``sample_rate=1`` no sampling assumption is made.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from secfp.errors import BadInput, IncompatibleFingerprints, UsageError
from secfp.fingerprint.histogram import Fingerprint
from secfp.privacy.accounting import AccountantRecord, calibrate
from secfp.privacy.ledger import PrivacyLedger
from secfp.privacy.mechanism import discrete_gaussian, discrete_gaussian_pmf

if TYPE_CHECKING:
    from secfp.fingerprint.spec import FingerprintSpec

__all__ = ["USELESS_NOISE_RELATIVE", "privatize", "privatize_counts", "estimate_n", "estimate_feature_mean", "explain", "Explanation", "SeededNoiseWarning"]


# README, "How much DP costs": a noise std above 5 times the mean bin count n/B (100 bins) leaves
# retrieval near chance; explain flags it and export warns.
USELESS_NOISE_RELATIVE = 5.0


class SeededNoiseWarning(UserWarning):
    """Noise came from a seeded generator: fine in tests, worthless as privacy protection."""


def estimate_n(noisy_counts: np.ndarray) -> int:
    """Round(mean row total) of a noisy count matrix, at least 1 (post-processing)."""
    counts = np.asarray(noisy_counts, dtype=np.int64)
    rows = counts.shape[0]
    total = int(counts.sum())
    return max(1, (2 * total + rows) // (2 * rows))


def estimate_feature_mean(noisy_counts: np.ndarray, *, spec: FingerprintSpec, n_estimate: int) -> np.ndarray:
    """Per-feature mean of the public bin centres weighted by the noisy counts, divided by n-hat."""
    centres = np.asarray(spec.bin_centres(), dtype=np.float64)
    counts = np.asarray(noisy_counts, dtype=np.float64)
    mean = (centres * counts).sum(axis=1) / float(max(1, n_estimate))
    return np.clip(mean, centres[:, 0], centres[:, -1])


def _check_spec(fp: Fingerprint, spec: FingerprintSpec) -> None:
    if fp.spec_id != spec.spec_id:
        raise IncompatibleFingerprints(f"fingerprint of spec {fp.spec_id[:12]} cannot be released under spec {spec.spec_id[:12]}")
    if fp.shape != (spec.num_features, spec.bins):
        raise IncompatibleFingerprints(f"fingerprint shape {fp.shape} does not match spec ({spec.num_features}, {spec.bins})")


def privatize(
    fp: Fingerprint,
    *,
    epsilon: float,
    delta: float,
    sample_rate: float,
    spec: FingerprintSpec,
    rng: np.random.Generator | None = None,
    max_images_per_unit: int = 1,
    privacy_unit: str = "image",
    not_covered: tuple[str, ...] = (),
) -> tuple[Fingerprint, PrivacyLedger]:
    """Add calibrated discrete Gaussian noise to ``fp``; return the noisy fingerprint and its ledger.

    ``rng`` exists for tests only (it emits SeededNoiseWarning); real releases draw
    from os.urandom. Raises UsageError for targets the accountants cannot certify,
    IncompatibleFingerprints when ``fp`` was not made with ``spec``, BadInput when
    ``fp`` is already noisy (noise on noise would be a second, unaccounted release).
    """
    if not isinstance(fp, Fingerprint):
        raise BadInput("privatize needs a Fingerprint")
    if fp.noisy:
        raise BadInput("this fingerprint already carries DP noise; privatize the noise-free one")
    _check_spec(fp, spec)
    return privatize_counts(fp.counts, epsilon=epsilon, delta=delta, sample_rate=sample_rate, spec=spec, rng=rng,
                            max_images_per_unit=max_images_per_unit, privacy_unit=privacy_unit,
                            not_covered=not_covered, _stacklevel=3)


def privatize_counts(
    counts: np.ndarray,
    *,
    epsilon: float,
    delta: float,
    sample_rate: float,
    spec: FingerprintSpec,
    rng: np.random.Generator | None = None,
    max_images_per_unit: int = 1,
    privacy_unit: str = "image",
    not_covered: tuple[str, ...] = (),
    _stacklevel: int = 2,
) -> tuple[Fingerprint, PrivacyLedger]:
    """:func:`privatize` on an exact count matrix of ``spec``, which may be all zero (an empty sample).

    The export path uses this form: it never builds an exact fingerprint, so no exact
    ``n`` or feature mean exists beside the noisy counts, and an empty Poisson sample
    is released as pure noise instead of being refused.
    """
    exact = np.asarray(counts)
    if exact.shape != (spec.num_features, spec.bins):
        raise IncompatibleFingerprints(f"counts of shape {exact.shape} do not match spec ({spec.num_features}, "
                                       f"{spec.bins})")
    if not np.issubdtype(exact.dtype, np.integer) or (exact.size and int(exact.min()) < 0):
        raise BadInput("exact counts must be non-negative integers")
    if rng is not None:
        warnings.warn("DP noise drawn from a seeded generator: test use only, not private", SeededNoiseWarning,
                      stacklevel=_stacklevel)
    m = exact.shape[0]
    calibration = calibrate(epsilon=epsilon, delta=delta, sample_rate=sample_rate, contributions=m,
                            max_images_per_unit=max_images_per_unit)
    noise = discrete_gaussian(exact.size, sigma=calibration.sigma, rng=rng).reshape(exact.shape)
    noisy = exact.astype(np.int64) + noise
    n_hat = estimate_n(noisy)
    released = Fingerprint(
        spec_id=spec.spec_id,
        counts=noisy,
        n=n_hat,
        feature_mean=estimate_feature_mean(noisy, spec=spec, n_estimate=n_hat),
        noisy=True,
    )
    ledger = PrivacyLedger.from_calibration(calibration, spec_id=spec.spec_id, privacy_unit=privacy_unit,
                                            not_covered=not_covered)
    return released, ledger


@dataclass(frozen=True)
class Explanation:
    """What a release at these settings would cost and how loud its noise would be."""

    spec_id: str
    num_features: int
    bins: int
    samples: int
    sample_rate: float
    delta: float
    target_epsilon: float
    epsilon: float
    sigma: float
    sensitivity_l2: float
    noise_multiplier: float
    max_images_per_unit: int
    sample_rate_source: str
    mean_bin_count: float
    noise_mean_abs: float
    accountants: tuple[AccountantRecord, ...]

    @property
    def noise_std_relative(self) -> float:
        """Noise standard deviation per count over the mean bin count n/B."""
        return self.sigma / self.mean_bin_count

    @property
    def useless(self) -> bool:
        """The README's threshold: noise std above USELESS_NOISE_RELATIVE times the mean bin count."""
        return self.noise_std_relative > USELESS_NOISE_RELATIVE

    @property
    def noise_mean_abs_relative(self) -> float:
        return self.noise_mean_abs / self.mean_bin_count

    @property
    def n_estimate_std(self) -> float:
        """Standard deviation of the released n-hat: sigma sqrt(B / m)."""
        return self.sigma * math.sqrt(self.bins / self.num_features)

    def to_json(self) -> dict[str, Any]:
        return {
            "spec_id": self.spec_id,
            "num_features": self.num_features,
            "bins": self.bins,
            "samples": self.samples,
            "sample_rate": self.sample_rate,
            "delta": self.delta,
            "target_epsilon": self.target_epsilon,
            "epsilon": self.epsilon,
            "sigma": self.sigma,
            "sensitivity_l2": self.sensitivity_l2,
            "noise_multiplier": self.noise_multiplier,
            "max_images_per_unit": self.max_images_per_unit,
            "sample_rate_source": self.sample_rate_source,
            "useless": self.useless,
            "mean_bin_count": self.mean_bin_count,
            "noise_std_relative": self.noise_std_relative,
            "noise_mean_abs": self.noise_mean_abs,
            "noise_mean_abs_relative": self.noise_mean_abs_relative,
            "n_estimate_std": self.n_estimate_std,
            "accountants": [a.to_json() for a in self.accountants],
        }


def explain(
    *, epsilon: float, delta: float, sample_rate: float, spec: FingerprintSpec, samples: int,
    max_images_per_unit: int = 1, sample_rate_source: str = "given",
) -> Explanation:
    """Calibrate without touching any data: the noise a release would get, and each accountant's epsilon.

    ``samples`` is the (expected) number of sampled images n; the mean bin count is n / B.
    ``sample_rate_source`` says where q came from (flag, policy or the default 1): it is
    shown, never derived from data.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise UsageError(f"samples must be a positive integer, got {samples!r}")
    m, bins = int(spec.num_features), int(spec.bins)
    calibration = calibrate(epsilon=epsilon, delta=delta, sample_rate=sample_rate, contributions=m,
                            max_images_per_unit=max_images_per_unit)
    half = int(math.ceil(15 * calibration.sigma)) + 10
    k = np.arange(-half, half + 1)
    mean_abs = float(np.sum(np.abs(k) * discrete_gaussian_pmf(k, sigma=calibration.sigma)))
    return Explanation(
        spec_id=spec.spec_id,
        num_features=m,
        bins=bins,
        samples=samples,
        sample_rate=calibration.sample_rate,
        delta=calibration.delta,
        target_epsilon=calibration.target_epsilon,
        epsilon=calibration.epsilon,
        sigma=calibration.sigma,
        sensitivity_l2=calibration.sensitivity_l2,
        noise_multiplier=calibration.noise_multiplier,
        max_images_per_unit=calibration.max_images_per_unit,
        sample_rate_source=sample_rate_source,
        mean_bin_count=samples / bins,
        noise_mean_abs=mean_abs,
        accountants=calibration.accountants,
    )
