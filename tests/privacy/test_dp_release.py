"""privatize: noisy counts, estimated n and mean, zero-mean unclipped noise, ledger; explain."""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pytest
from dp_helpers import make_fingerprint, make_spec

from secfp.errors import BadInput, IncompatibleFingerprints, UsageError
from secfp.fingerprint.histogram import Fingerprint
from secfp.privacy import mechanism
from secfp.privacy.accounting import calibrate
from secfp.privacy.release import (
    SeededNoiseWarning, estimate_feature_mean, estimate_n, explain, privatize, privatize_counts,
)

pytestmark = pytest.mark.filterwarnings("ignore::secfp.privacy.release.SeededNoiseWarning")


def test_privatized_fingerprint_is_noisy_with_estimated_n_and_mean(small_spec) -> None:
    fp = make_fingerprint(small_spec, n=500)
    noisy, ledger = privatize(fp, epsilon=1.0, delta=1e-6, sample_rate=1.0, spec=small_spec, rng=np.random.default_rng(1))
    assert noisy.noisy and noisy.spec_id == fp.spec_id and noisy.shape == fp.shape
    assert not np.array_equal(noisy.counts, fp.counts)
    assert noisy.n == estimate_n(noisy.counts)
    assert np.array_equal(noisy.feature_mean, estimate_feature_mean(noisy.counts, spec=small_spec, n_estimate=noisy.n))
    assert not np.array_equal(noisy.feature_mean, fp.feature_mean)
    centres = small_spec.bin_centres()
    assert np.all(noisy.feature_mean >= centres[:, 0]) and np.all(noisy.feature_mean <= centres[:, -1])
    # n-hat is within a few standard deviations (sigma sqrt(B/m)) of the true n.
    assert abs(noisy.n - fp.n) <= 6 * ledger.sigma * math.sqrt(small_spec.bins / small_spec.num_features)


def test_ledger_describes_the_release(small_spec) -> None:
    fp = make_fingerprint(small_spec, n=300)
    _, ledger = privatize(fp, epsilon=2.0, delta=1e-7, sample_rate=0.25, spec=small_spec, rng=np.random.default_rng(2))
    expected = calibrate(epsilon=2.0, delta=1e-7, sample_rate=0.25, contributions=small_spec.num_features)
    assert ledger.mechanism == "discrete_gaussian" and ledger.spec_id == fp.spec_id
    assert ledger.sensitivity_l2 == math.sqrt(small_spec.num_features) == 4.0
    assert ledger.sigma == expected.sigma and ledger.sample_rate == 0.25 and ledger.delta == 1e-7
    assert ledger.epsilon == expected.epsilon <= 2.0
    assert [a.name for a in ledger.accountants] == [a.name for a in expected.accountants]


def test_noise_is_zero_mean_with_variance_sigma_squared_and_never_clipped() -> None:
    spec = make_spec(features=64, bins=500)
    fp = make_fingerprint(spec, n=50)  # most bins are empty: clipping would show as a positive bias
    noisy, ledger = privatize(fp, epsilon=1.0, delta=1e-6, sample_rate=1.0, spec=spec, rng=np.random.default_rng(3))
    noise = (noisy.counts - fp.counts).astype(np.float64)
    var = mechanism.discrete_gaussian_variance(sigma=ledger.sigma)
    assert abs(noise.mean()) <= 5 * math.sqrt(var / noise.size)
    assert abs(noise.var() / var - 1) <= 5 * math.sqrt(2 / noise.size)
    assert noisy.counts.min() < 0
    assert (noisy.counts[fp.counts == 0] < 0).mean() == pytest.approx(0.5, abs=0.02)


def test_released_fingerprint_round_trips_as_raw_integers(small_spec) -> None:
    noisy, _ = privatize(make_fingerprint(small_spec, n=40), epsilon=0.5, delta=1e-6, sample_rate=1.0,
                         spec=small_spec, rng=np.random.default_rng(4))
    again = Fingerprint.from_json(noisy.to_json())
    assert again == noisy and again.counts.dtype == np.int64


def test_default_release_draws_from_os_urandom_and_does_not_warn(small_spec, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[int] = []
    real = os.urandom
    monkeypatch.setattr(mechanism.os, "urandom", lambda n: (drawn.append(n), real(n))[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        privatize(make_fingerprint(small_spec, n=100), epsilon=1.0, delta=1e-6, sample_rate=1.0, spec=small_spec)
    assert sum(drawn) >= small_spec.num_features * small_spec.bins


def test_seeded_release_warns_that_it_is_not_private(small_spec) -> None:
    with pytest.warns(SeededNoiseWarning, match="test use only"):
        privatize(make_fingerprint(small_spec, n=100), epsilon=1.0, delta=1e-6, sample_rate=1.0,
                  spec=small_spec, rng=np.random.default_rng(0))


def test_noisy_fingerprint_cannot_be_privatized_again(small_spec) -> None:
    # Noise on noise would be a second release the ledger does not account for.
    noisy, _ = privatize(make_fingerprint(small_spec, n=100), epsilon=1.0, delta=1e-6, sample_rate=1.0,
                         spec=small_spec, rng=np.random.default_rng(0))
    with pytest.raises(BadInput, match="already carries DP noise"):
        privatize(noisy, epsilon=1.0, delta=1e-6, sample_rate=1.0, spec=small_spec)


def test_fingerprint_of_another_spec_is_refused(small_spec) -> None:
    other = make_spec(features=16, bins=21)
    with pytest.raises(IncompatibleFingerprints, match="cannot be released under spec"):
        privatize(make_fingerprint(other, n=100), epsilon=1.0, delta=1e-6, sample_rate=1.0, spec=small_spec)


def test_unreachable_target_is_a_usage_error(small_spec) -> None:
    with pytest.raises(UsageError, match="epsilon"):
        privatize(make_fingerprint(small_spec, n=100), epsilon=0.0, delta=1e-6, sample_rate=1.0, spec=small_spec)


def test_estimate_n_rounds_the_mean_row_total() -> None:
    counts = np.array([[3, 4, -1], [2, 2, 2], [10, -2, 0]])  # row totals 6, 6, 8 -> 6.67
    assert estimate_n(counts) == 7
    assert estimate_n(np.array([[-5, 1], [-3, 0]])) == 1


def test_explain_matches_calibration_and_mean_bin_count(small_spec) -> None:
    result = explain(epsilon=1.0, delta=1e-6, sample_rate=0.1, spec=small_spec, samples=2000)
    expected = calibrate(epsilon=1.0, delta=1e-6, sample_rate=0.1, contributions=16)
    assert result.sigma == expected.sigma and result.epsilon == expected.epsilon
    assert result.mean_bin_count == 100.0
    assert result.noise_std_relative == pytest.approx(expected.sigma / 100.0)
    assert result.noise_mean_abs == pytest.approx(expected.sigma * math.sqrt(2 / math.pi), rel=1e-2)
    assert result.n_estimate_std == pytest.approx(expected.sigma * math.sqrt(20 / 16))
    obj = result.to_json()
    assert obj["accountants"] == [a.to_json() for a in expected.accountants]
    with pytest.raises(UsageError, match="samples"):
        explain(epsilon=1.0, delta=1e-6, sample_rate=0.1, spec=small_spec, samples=0)


def test_privatize_counts_releases_pure_noise_for_an_empty_sample(small_spec):
    zeros = np.zeros((small_spec.num_features, small_spec.bins), dtype=np.int64)
    with pytest.warns(SeededNoiseWarning):
        noisy, ledger = privatize_counts(zeros, epsilon=1.0, delta=1e-6, sample_rate=0.1, spec=small_spec,
                                         rng=np.random.default_rng(5))
    assert noisy.noisy and noisy.spec_id == small_spec.spec_id and ledger.sample_rate == 0.1
    assert noisy.counts.any() and noisy.n >= 1  # noise only; n is the (clamped) estimate
    with pytest.raises(BadInput, match="non-negative integers"):
        privatize_counts(zeros - 1, epsilon=1.0, delta=1e-6, sample_rate=1.0, spec=small_spec)
    with pytest.raises(BadInput, match="non-negative integers"):
        privatize_counts(zeros.astype(float), epsilon=1.0, delta=1e-6, sample_rate=1.0, spec=small_spec)
    with pytest.raises(IncompatibleFingerprints):
        privatize_counts(zeros[:, :-1], epsilon=1.0, delta=1e-6, sample_rate=1.0, spec=small_spec)
