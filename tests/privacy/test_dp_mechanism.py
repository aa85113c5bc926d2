"""The exact discrete Gaussian sampler (Canonne, Kamath, Steinke 2020): distribution, exactness, inputs.

Statistical checks use fixed seeds, so they are deterministic; the bounds (5
standard errors, chi-square p > 1e-4) would also hold for almost every other seed.
"""

from __future__ import annotations

import math
import os
import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from secfp.privacy import mechanism
from secfp.privacy.mechanism import (
    SIGMA_BITS,
    discrete_gaussian,
    discrete_gaussian_pmf,
    discrete_gaussian_variance,
    quantize_sigma,
)


def _moments(sigma: float) -> tuple[float, float]:
    half = int(math.ceil(15 * sigma)) + 10
    k = np.arange(-half, half + 1).astype(np.float64)
    p = discrete_gaussian_pmf(k, sigma=sigma)
    return float(np.sum(k**2 * p)), float(np.sum(k**4 * p))


def _pooled_chi_square(samples: np.ndarray, pmf: dict[int, float]) -> float:
    """Chi-square p-value of integer samples against a pmf, tails pooled so every cell expects >= 5."""
    n = samples.shape[0]
    keys = sorted(pmf)
    observed = {k: 0 for k in keys}
    values, counts = np.unique(samples, return_counts=True)
    for v, c in zip(values.tolist(), counts.tolist()):
        observed[min(max(v, keys[0]), keys[-1])] += c
    cells_o, cells_e, acc_o, acc_e = [], [], 0, 0.0
    for k in keys:
        acc_o += observed[k]
        acc_e += pmf[k] * n
        if acc_e >= 5:
            cells_o.append(acc_o)
            cells_e.append(acc_e)
            acc_o, acc_e = 0, 0.0
    cells_o[-1] += acc_o
    cells_e[-1] += acc_e
    e = np.array(cells_e)
    return float(stats.chisquare(np.array(cells_o), e * (n / e.sum())).pvalue)


@pytest.mark.parametrize("sigma", [0, -1.0, float("nan"), float("inf"), -float("inf")])
def test_sigma_not_positive_and_finite_is_rejected(sigma: float) -> None:
    with pytest.raises(ValueError, match="sigma"):
        discrete_gaussian(10, sigma=sigma)


@pytest.mark.parametrize("sigma", [True, "1.0", None])
def test_sigma_of_wrong_type_is_rejected(sigma: object) -> None:
    with pytest.raises(ValueError, match="sigma"):
        discrete_gaussian(10, sigma=sigma)  # type: ignore[arg-type]


def test_python_random_is_not_accepted_as_rng() -> None:
    # Only numpy Generators (tests) or None (the CSPRNG); random.Random is a Mersenne Twister.
    with pytest.raises(TypeError, match="Generator"):
        discrete_gaussian(10, sigma=1.0, rng=random.Random(0))  # type: ignore[arg-type]


def test_default_noise_comes_from_os_urandom(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.urandom

    def counting(n: int) -> bytes:
        calls.append(n)
        return real(n)

    monkeypatch.setattr(mechanism.os, "urandom", counting)
    noise = discrete_gaussian(1000, sigma=3.0)
    assert noise.shape == (1000,) and noise.dtype == np.int64
    assert sum(calls) > 1000


def test_seeded_generator_replays_and_csprng_does_not() -> None:
    a = discrete_gaussian(500, sigma=4.0, rng=np.random.default_rng(7))
    b = discrete_gaussian(500, sigma=4.0, rng=np.random.default_rng(7))
    assert np.array_equal(a, b)
    assert not np.array_equal(discrete_gaussian(500, sigma=4.0), discrete_gaussian(500, sigma=4.0))


def test_zero_size_is_empty() -> None:
    assert discrete_gaussian(0, sigma=1.0).shape == (0,)


@given(st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False))
def test_quantize_sigma_only_rounds_up_by_at_most_one_part_in_2048(sigma: float) -> None:
    q = quantize_sigma(sigma)
    assert sigma <= q <= sigma * (1 + 2.0**-(SIGMA_BITS - 1))
    assert quantize_sigma(q) == q
    mantissa, _ = math.frexp(q)
    assert math.ldexp(mantissa, SIGMA_BITS) == int(math.ldexp(mantissa, SIGMA_BITS))


@pytest.mark.parametrize("sigma", [0.5, 1.0, 3.7, 50.0, 400.0])
def test_mean_and_variance_match_the_discrete_gaussian(sigma: float) -> None:
    n = 200_000
    x = discrete_gaussian(n, sigma=sigma, rng=np.random.default_rng(11)).astype(np.float64)
    var, fourth = _moments(quantize_sigma(sigma))
    assert abs(x.mean()) <= 5 * math.sqrt(var / n)
    assert abs(x.var() - var) <= 5 * math.sqrt((fourth - var * var) / n)


def test_variance_is_below_sigma_squared_for_small_sigma() -> None:
    # CKS 2020: Var < sigma^2; at sigma = 0.5 the gap is visible (0.2150 vs 0.25).
    assert discrete_gaussian_variance(sigma=0.5) == pytest.approx(0.21501, abs=1e-5)
    assert discrete_gaussian_variance(sigma=50.0) == pytest.approx(2500.0, rel=1e-12)


@pytest.mark.parametrize("sigma", [0.5, 2.5, 50.0])
def test_empirical_distribution_matches_the_pmf(sigma: float) -> None:
    x = discrete_gaussian(200_000, sigma=sigma, rng=np.random.default_rng(3))
    half = int(math.ceil(8 * sigma)) + 2
    pmf = {k: float(discrete_gaussian_pmf(k, sigma=sigma)) for k in range(-half, half + 1)}
    assert _pooled_chi_square(x, pmf) > 1e-4


def test_large_sigma_moments_on_the_vectorised_path() -> None:
    x = discrete_gaussian(50_000, sigma=5000.0, rng=np.random.default_rng(5)).astype(np.float64)
    assert abs(x.mean()) <= 5 * 5000 / math.sqrt(x.size)
    assert abs(x.var() / 5000.0**2 - 1) <= 5 * math.sqrt(2 / x.size)


def test_huge_sigma_falls_back_to_exact_python_integers() -> None:
    # sigma = 20000 overflows 64-bit arithmetic: every acceptance test runs on Python ints.
    x = discrete_gaussian(3_000, sigma=20000.0, rng=np.random.default_rng(6)).astype(np.float64)
    assert abs(x.mean()) <= 5 * 20000 / math.sqrt(x.size)
    assert abs(x.var() / 20000.0**2 - 1) <= 5 * math.sqrt(2 / x.size)


@pytest.mark.parametrize("num,den", [(0, 1), (3, 10), (1, 1), (17, 10), (42, 10)])
def test_bernoulli_exp_has_probability_exp_minus_gamma(num: int, den: int) -> None:
    src = mechanism._Words(np.random.default_rng(num * 100 + den))
    n = 100_000
    hits = mechanism._bernoulli_exp(src, np.full(n, num, dtype=np.int64), np.full(n, den, dtype=np.int64))
    p = math.exp(-num / den)
    assert abs(hits.mean() - p) <= 5 * math.sqrt(p * (1 - p) / n) + 1e-12
    scalar = [mechanism._bernoulli_exp_int(src, num, den) for _ in range(4000)]
    assert abs(np.mean(scalar) - p) <= 5 * math.sqrt(p * (1 - p) / 4000) + 1e-12


@pytest.mark.parametrize("bound", [2, 3, 1000, 5000, 2**40 + 3])
def test_uniform_below_is_uniform_and_in_range(bound: int) -> None:
    src = mechanism._Words(np.random.default_rng(bound % 1000))
    n = 60_000
    x = mechanism._uniform_below(src, np.full(n, bound, dtype=np.int64))
    assert x.min() >= 0 and x.max() < bound
    if bound <= 1000:
        counts = np.bincount(x, minlength=bound)
        assert stats.chisquare(counts).pvalue > 1e-4
    else:
        assert abs(x.mean() / (bound - 1) - 0.5) <= 5 * math.sqrt(1 / 12 / n)


def test_discrete_laplace_matches_its_pmf() -> None:
    t = 3
    src = mechanism._Words(np.random.default_rng(9))
    x = mechanism._discrete_laplace(src, 100_000, t=t)
    norm = (1 - math.exp(-1 / t)) / (1 + math.exp(-1 / t))
    pmf = {k: norm * math.exp(-abs(k) / t) for k in range(-40, 41)}
    assert _pooled_chi_square(x, pmf) > 1e-4
