"""Exact discrete Gaussian noise from a cryptographically secure source.

The sampler is Algorithm 3 of Canonne, Kamath and Steinke, "The Discrete Gaussian
for Differential Privacy" (NeurIPS 2020, arXiv 2004.00010): a discrete Laplace
candidate (their Algorithm 2) accepted with probability
``exp(-(|Y| - sigma^2/t)^2 / (2 sigma^2))``, each Bernoulli(exp(-gamma)) drawn with
their Algorithm 1. Every probability is a ratio of integers and every coin is an
exact uniform integer (rejection sampling on 64-bit words), so the output follows
``N_Z(0, sigma^2)`` exactly: there is no floating-point number anywhere between the
random bits and the released value.

Why it matters: naive floating-point Laplace or Gaussian noise leaks the true value
through the low-order bits and through the gaps in the set of representable
outputs (Mironov, CCS 2012; for Gaussian samplers see arXiv 2107.10138 and
2112.05307). Integer counts plus integer noise avoid the whole problem class.

Randomness comes from ``os.urandom`` (the kernel CSPRNG, the source behind
``secrets``). A seeded ``numpy.random.Generator`` may be passed *only in tests*;
it makes the noise predictable and the release worthless as privacy protection.

``sigma`` is rounded *up* to ``SIGMA_BITS`` significant bits (at most 0.05% more
noise) so that sigma^2 is a small rational and the exact integer arithmetic fits
in 64-bit words; :func:`quantize_sigma` tells a caller the sigma that will be used,
and the accounting is done for that value. Rare outliers whose arithmetic would
not fit fall back to Python integers, so the output stays exact.

Running time depends on the noise values (rejection sampling), but only in aggregate
over a whole batch of cells; a per-cell timing channel (arXiv 2112.05307) would need
per-cell sampling calls, which this module never makes. It is not constant-time.

This module does *not* decide sigma (see ``accounting``) or touch fingerprints
(see ``release``).
"""

from __future__ import annotations

import math
import os
from fractions import Fraction

import numpy as np

__all__ = ["SIGMA_BITS", "quantize_sigma", "discrete_gaussian", "discrete_gaussian_pmf", "discrete_gaussian_variance"]

SIGMA_BITS = 12
# The vectorised path keeps every integer below 2**62; larger ones use Python ints.
_VECTOR_LIMIT = 1 << 62
_MAX_DENOMINATOR = 1 << 56


class _Words:
    """Uniform random words: os.urandom by default, a seeded Generator only in tests."""

    def __init__(self, rng: np.random.Generator | None) -> None:
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError("rng must be a numpy.random.Generator (tests only) or None for the CSPRNG")
        self._rng = rng

    def words(self, count: int, dtype: type = np.uint64) -> np.ndarray:
        """``count`` uniform unsigned integers of ``dtype`` (little-endian bytes, so seeds replay)."""
        width = np.dtype(dtype).itemsize
        if count <= 0:
            return np.empty(0, dtype=dtype)
        data = os.urandom(width * count) if self._rng is None else self._rng.bytes(width * count)
        return np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype)


# Word widths by largest bound: a word is rejected with probability below bound / 2**bits,
# so a bound up to 2**(bits - 6) wastes under 1/64 of the draws; small coins cost few bytes.
_WIDTHS = ((np.uint8, 1 << 2), (np.uint16, 1 << 10), (np.uint32, 1 << 26), (np.uint64, 1 << 62))


def _uniform_below(src: _Words, bound: np.ndarray) -> np.ndarray:
    """Exact uniform integers in ``[0, bound)`` elementwise (1 <= bound < 2**62).

    A word ``r`` of ``bits`` bits is accepted when ``r >= 2**bits mod bound``; the
    accepted range then holds a whole number of copies of ``[0, bound)``, so
    ``r % bound`` is exactly uniform.
    """
    bound = np.asarray(bound, dtype=np.int64)
    out = np.empty(bound.shape[0], dtype=np.int64)
    if bound.shape[0] == 0:
        return out
    dtype = next(d for d, limit in _WIDTHS if int(bound.max()) <= limit)
    top = np.iinfo(dtype).max
    b_all = bound.astype(dtype)
    todo = np.arange(bound.shape[0])
    first = True
    while todo.size:
        b = b_all if first else b_all[todo]
        r = src.words(todo.size, dtype)
        floor_rest = (top % b + 1) % b
        ok = r >= floor_rest
        if first and ok.all():
            return (r % b).astype(np.int64)
        first = False
        out[todo[ok]] = r[ok] % b[ok]
        todo = todo[~ok]
    return out


def _uniform_below_int(src: _Words, bound: int) -> int:
    """Exact uniform integer in ``[0, bound)`` for any positive Python int."""
    bits = bound.bit_length()
    nwords = (bits + 63) // 64
    while True:
        r = int.from_bytes(src.words(nwords).tobytes(), "little") >> (64 * nwords - bits)
        if r < bound:
            return r


def _bernoulli_exp_int(src: _Words, num: int, den: int) -> bool:
    """Bernoulli(exp(-num/den)) with Python ints (CKS Algorithm 1); the exact fallback."""
    while num > den:
        if not _bernoulli_exp_int(src, 1, 1):
            return False
        num -= den
    k = 1
    while _uniform_below_int(src, den * k) < num:
        k += 1
    return k % 2 == 1


def _bernoulli_exp_frac(src: _Words, num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Bernoulli(exp(-num/den)) elementwise for 0 <= num <= den (CKS Algorithm 1).

    Draw A ~ Bernoulli(gamma/k) for k = 1, 2, ... until A = 0; the result is 1
    exactly when the final k is odd. All elements still running share the same k.
    """
    result = np.empty(num.shape[0], dtype=bool)
    idx, num_a, den_a = np.arange(num.shape[0]), num, den
    k = 1
    while idx.size:
        if int(den_a.max()) * k >= _VECTOR_LIMIT // 2:
            # Only after ~2**11 straight successes: probability far below 2**-10000.
            for i, n_i, d_i in zip(idx, num_a, den_a):
                result[i] = _bernoulli_exp_int(src, int(n_i), int(d_i))
            break
        success = _uniform_below(src, den_a * k if k > 1 else den_a) < num_a
        result[idx[~success]] = k % 2 == 1
        idx, num_a, den_a = idx[success], num_a[success], den_a[success]
        k += 1
    return result


def _bernoulli_exp(src: _Words, num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Bernoulli(exp(-num/den)) elementwise for any num >= 0: floor(gamma) coins of exp(-1), then the rest."""
    whole = num // den
    result = _bernoulli_exp_frac(src, num - whole * den, den)
    alive = np.flatnonzero(result & (whole > 0))
    left = whole[alive]
    while alive.size:
        ones = np.ones(alive.size, dtype=np.int64)
        ok = _bernoulli_exp_frac(src, ones, ones)
        result[alive[~ok]] = False
        alive, left = alive[ok], left[ok] - 1
        keep = left > 0
        alive, left = alive[keep], left[keep]
    return result


def _geometric_exp_minus_one(src: _Words, size: int) -> np.ndarray:
    """Number of Bernoulli(exp(-1)) successes before the first failure."""
    v = np.zeros(size, dtype=np.int64)
    alive = np.arange(size)
    while alive.size:
        ones = np.ones(alive.size, dtype=np.int64)
        ok = _bernoulli_exp_frac(src, ones, ones)
        alive = alive[ok]
        v[alive] += 1
    return v


def _discrete_laplace(src: _Words, size: int, *, t: int) -> np.ndarray:
    """``size`` draws with P(x) proportional to exp(-|x|/t), t a positive integer (CKS Algorithm 2)."""
    out = np.empty(size, dtype=np.int64)
    filled = 0
    while filled < size:
        need = size - filled
        batch = need + need // 2 + 16
        t_arr = np.full(batch, t, dtype=np.int64)
        u = _uniform_below(src, t_arr)
        u = u[_bernoulli_exp_frac(src, u, t_arr)]
        x = u + t * _geometric_exp_minus_one(src, u.shape[0])
        negative = _uniform_below(src, np.full(x.shape[0], 2, dtype=np.int64)) == 1
        keep = ~(negative & (x == 0))
        z = np.where(negative, -x, x)[keep]
        take = min(z.shape[0], need)
        out[filled : filled + take] = z[:take]
        filled += take
    return out


def quantize_sigma(sigma: float) -> float:
    """The sigma the sampler really uses: ``sigma`` rounded up to SIGMA_BITS significant bits.

    Rounding up only adds noise (at most a factor 1 + 2**-11), so it never weakens
    privacy; the result is an exact binary fraction, so ``sigma**2`` is an exact rational.
    """
    if isinstance(sigma, bool) or not isinstance(sigma, int | float | np.floating | np.integer):
        raise ValueError(f"sigma must be a number, got {type(sigma).__name__}")
    sigma = float(sigma)
    if not math.isfinite(sigma) or sigma <= 0.0:
        raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
    mantissa, exponent = math.frexp(sigma)
    return math.ldexp(math.ceil(math.ldexp(mantissa, SIGMA_BITS)), exponent - SIGMA_BITS)


def discrete_gaussian(size: int, *, sigma: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """``size`` independent exact draws from the discrete Gaussian N_Z(0, sigma^2), as int64.

    ``sigma`` is first rounded up by :func:`quantize_sigma`. ``rng`` is for tests
    only: leave it None in any real release so the noise comes from os.urandom.
    """
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 0:
        raise ValueError(f"size must be a non-negative integer, got {size!r}")
    sigma2 = Fraction(quantize_sigma(sigma)) ** 2
    src = _Words(rng)
    a, b = sigma2.numerator, sigma2.denominator
    t = math.isqrt(a // b) + 1  # floor(sigma) + 1, as CKS Algorithm 3 chooses it
    bt, den = b * t, 2 * a * b * t * t
    # |Y| up to this bound keeps (|Y| b t - a)^2 below 2**62 on the vectorised path.
    root = math.isqrt(_VECTOR_LIMIT - 1)
    vector_abs_limit = (root - a) // bt if (den < _MAX_DENOMINATOR and a <= root) else -1
    out = np.empty(int(size), dtype=np.int64)
    filled = 0
    while filled < size:
        need = int(size) - filled
        y = _discrete_laplace(src, need + need // 2 + 16, t=t)
        abs_y = np.abs(y)
        accept = np.zeros(y.shape[0], dtype=bool)
        fast = abs_y <= vector_abs_limit
        if np.any(fast):
            num = (abs_y[fast] * bt - a) ** 2
            accept[fast] = _bernoulli_exp(src, num, np.full(num.shape[0], den, dtype=np.int64))
        for i in np.flatnonzero(~fast):
            accept[i] = _bernoulli_exp_int(src, (int(abs_y[i]) * bt - a) ** 2, den)
        z = y[accept]
        take = min(z.shape[0], need)
        out[filled : filled + take] = z[:take]
        filled += take
    return out


def discrete_gaussian_pmf(k: np.ndarray | int, *, sigma: float) -> np.ndarray:
    """P[X = k] for X ~ N_Z(0, sigma^2) (float; for tests and accounting, never for sampling)."""
    sigma = float(sigma)
    if not math.isfinite(sigma) or sigma <= 0.0:
        raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
    support = np.arange(-_pmf_half_width(sigma), _pmf_half_width(sigma) + 1)
    norm = np.exp(-(support.astype(np.float64) ** 2) / (2.0 * sigma * sigma)).sum()
    kk = np.asarray(k, dtype=np.float64)
    return np.exp(-(kk**2) / (2.0 * sigma * sigma)) / norm


def discrete_gaussian_variance(*, sigma: float) -> float:
    """Var[X] for X ~ N_Z(0, sigma^2); slightly below sigma^2 (CKS 2020 prove Var < sigma^2)."""
    half = _pmf_half_width(float(sigma))
    k = np.arange(-half, half + 1)
    return float(np.sum(k.astype(np.float64) ** 2 * discrete_gaussian_pmf(k, sigma=sigma)))


def _pmf_half_width(sigma: float) -> int:
    # Beyond 15 sigma the mass is below exp(-112): invisible in float64.
    return max(10, int(math.ceil(15.0 * sigma)))
