"""How much privacy one discrete Gaussian release of a count matrix costs, three ways.

The release: ``n`` images are Poisson-sampled at a public rate ``q`` (each image
independently, with *secret* randomness), every sampled image adds exactly one
count to each of the ``m`` feature rows (``contributions = m``, so the L2
sensitivity is ``sqrt(m)``), and N_Z(0, sigma^2) noise is added to every cell.
Neighbouring datasets differ by adding or removing one image. By joint convexity
and translation invariance the worst case is the pair "the image's vector v is
added with probability q" versus "it is not" (Balle, Barthe, Gaboardi, NeurIPS
2018, Poisson subsampling; Zhu, Dong, Wang, ICML 2022, dominating pairs), and the likelihood ratio of
that pair depends on the output only through <y, v>.

Accountants (the ledger records each; the declared epsilon is the largest):

``secfp.analytic_gaussian_poisson``
    The exact privacy profile of the *continuous* Gaussian with noise multiplier
    ``z = sigma / sqrt(m)``, in closed form. At q = 1 this is Balle and Wang, ICML
    2018, Thm. 8: ``delta(eps) = Phi(mu/2 - eps/mu) - e^eps Phi(-mu/2 - eps/mu)``
    with ``mu = 1/z``. For q < 1 both directions of add/remove are exact
    transformations of that curve: removal gives ``q delta_G(log(1 + (e^eps - 1)/q))``
    and addition ``q e^(eps - eps') delta_G(eps')`` with
    ``eps' = -log(1 + (e^-eps - 1)/q)`` (derived in ``_addition_delta``; both are
    checked against numerical integration in the tests); we take the max.
``secfp.discrete_gaussian_pld``
    The same two directions for the mechanism we really run: integer noise. The
    statistic <Y, v> is a sum of m independent N_Z(0, sigma^2) (computed by FFT),
    shifted by m when the image is present; the hockey-stick divergence of the two
    integer distributions gives delta(eps) exactly up to float error, which we
    cover by solving for ``delta * (1 - 1e-3)``. This is how the discrete vs
    continuous difference (Canonne, Kamath, Steinke 2020, Sec. 4) is accounted:
    exactly, not with a margin.
``opacus.PRVAccountant``
    Independent cross-check: Gopi, Lee, Wutschitz, NeurIPS 2021 (numerical PRV
    composition), one step at ``noise_multiplier = z`` and ``sample_rate = q``,
    ``eps_error = 1e-3``; its upper bound is recorded. It models the continuous
    Gaussian and the removal direction only. Opacus's GaussianAccountant (GDP, a
    CLT approximation) is never used: it underestimates epsilon for one release.

Calibration (:func:`calibrate`) starts from the analytic noise multiplier and
raises sigma (on the sampler's 12-bit grid, see ``mechanism.quantize_sigma``)
until every accountant reports at most the target: privacy errs conservative.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft
from scipy.special import log_ndtr, ndtr

from secfp.errors import BadInput, UsageError
from secfp.privacy.mechanism import quantize_sigma

__all__ = [
    "AccountantRecord",
    "Calibration",
    "gaussian_delta",
    "poisson_gaussian_delta",
    "poisson_gaussian_epsilon",
    "analytic_noise_multiplier",
    "discrete_gaussian_epsilon",
    "prv_epsilon",
    "account",
    "calibrate",
    "check_parameters",
    "EPSILON_MAX",
    "DELTA_MIN",
    "DELTA_MAX",
]

ANALYTIC = "secfp.analytic_gaussian_poisson"
DISCRETE = "secfp.discrete_gaussian_pld"
PRV = "opacus.PRVAccountant"
ALGORITHM_VERSION = "1"
PRV_EPS_ERROR = 1e-3
# The discrete accountant solves for delta * (1 - DELTA_SLACK): covers FFT round-off and tails.
DELTA_SLACK = 1e-3
EPSILON_MAX = 20.0
DELTA_MIN, DELTA_MAX = 1e-12, 1e-2
_TAIL_SIGMAS = 14.0  # sub-Gaussian tails beyond 14 standard deviations weigh below 2 e^-98


@dataclass(frozen=True)
class AccountantRecord:
    """One accountant's verdict: its name, its version and the epsilon it certifies."""

    name: str
    version: str
    epsilon: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or not isinstance(self.version, str) or not self.version:
            raise BadInput("accountant name and version must be non-empty strings")
        if not _is_number(self.epsilon) or not math.isfinite(self.epsilon) or self.epsilon < 0:
            raise BadInput(f"accountant {self.name} epsilon must be a finite number >= 0, got {self.epsilon!r}")
        object.__setattr__(self, "epsilon", float(self.epsilon))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "epsilon": self.epsilon}

    @classmethod
    def from_json(cls, obj: Any) -> "AccountantRecord":
        if not isinstance(obj, dict) or set(obj) != {"name", "version", "epsilon"}:
            raise BadInput("an accountant entry must have exactly: name, version, epsilon")
        if type(obj["name"]) is not str or type(obj["version"]) is not str:
            raise BadInput("accountant name and version must be strings")
        if type(obj["epsilon"]) not in (int, float):
            raise BadInput("accountant epsilon must be a finite number")
        return cls(name=obj["name"], version=obj["version"], epsilon=obj["epsilon"])


@dataclass(frozen=True)
class Calibration:
    """The noise scale chosen for a target, and what each accountant says about it."""

    sigma: float
    contributions: int
    sample_rate: float
    delta: float
    target_epsilon: float
    epsilon: float
    accountants: tuple[AccountantRecord, ...]

    @property
    def sensitivity_l2(self) -> float:
        return math.sqrt(self.contributions)

    @property
    def noise_multiplier(self) -> float:
        return self.sigma / self.sensitivity_l2


def _is_number(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, int | float | np.integer | np.floating)


def check_parameters(*, epsilon: float | None = None, delta: float, sample_rate: float) -> None:
    """Refuse targets outside what the accountants can certify (UsageError, exit 2)."""
    if epsilon is not None and not (_is_number(epsilon) and 0.0 < epsilon <= EPSILON_MAX):
        raise UsageError(f"epsilon must be a number in (0, {EPSILON_MAX:g}], got {epsilon!r}")
    if not (_is_number(delta) and DELTA_MIN <= delta <= DELTA_MAX):
        raise UsageError(f"delta must be a number in [{DELTA_MIN:g}, {DELTA_MAX:g}], got {delta!r}")
    if not (_is_number(sample_rate) and 0.0 < sample_rate <= 1.0):
        raise UsageError(f"sample rate must be a number in (0, 1], got {sample_rate!r}")


def _check_positive(name: str, value: float) -> float:
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise UsageError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def gaussian_delta(*, epsilon: float, noise_multiplier: float) -> float:
    """delta(eps) of the continuous Gaussian mechanism (Balle and Wang 2018, Thm. 8)."""
    mu = 1.0 / noise_multiplier
    value = ndtr(mu / 2 - epsilon / mu) - math.exp(epsilon + log_ndtr(-mu / 2 - epsilon / mu))
    return max(0.0, float(value))


def _removal_delta(*, epsilon: float, noise_multiplier: float, sample_rate: float) -> float:
    """H_{e^eps}((1-q) N(0,1) + q N(mu,1) || N(0,1)): the image is in the input, then taken out."""
    eps_remove = math.log1p(math.expm1(epsilon) / sample_rate)
    return sample_rate * gaussian_delta(epsilon=eps_remove, noise_multiplier=noise_multiplier)


def _addition_delta(*, epsilon: float, noise_multiplier: float, sample_rate: float) -> float:
    """H_{e^eps}(N(0,1) || (1-q) N(0,1) + q N(mu,1)): zero once e^eps (1 - q) >= 1.

    sup_S P0(S) - e^eps ((1-q) P0(S) + q P1(S)) = (1 - e^eps (1-q)) sup_S P0(S) - e^eps' P1(S)
    with e^eps' = e^eps q / (1 - e^eps (1-q)), and 1 - e^eps (1-q) = q e^(eps - eps');
    the Gaussian curve is symmetric, so H(P0 || P1) = delta_G.
    """
    q = sample_rate
    if q < 1.0 and epsilon >= -math.log1p(-q):
        return 0.0
    eps_add = -math.log1p(math.expm1(-epsilon) / q)
    return q * math.exp(epsilon - eps_add) * gaussian_delta(epsilon=eps_add, noise_multiplier=noise_multiplier)


def poisson_gaussian_delta(*, epsilon: float, noise_multiplier: float, sample_rate: float) -> float:
    """delta(eps) of the Poisson-subsampled Gaussian, worst of adding and removing one record."""
    if sample_rate >= 1.0:
        return gaussian_delta(epsilon=epsilon, noise_multiplier=noise_multiplier)
    kw = {"epsilon": epsilon, "noise_multiplier": noise_multiplier, "sample_rate": sample_rate}
    return max(_removal_delta(**kw), _addition_delta(**kw))


def poisson_gaussian_epsilon(*, noise_multiplier: float, sample_rate: float, delta: float) -> float:
    """Smallest epsilon (upper end of a bisection) at which the analytic profile is at most ``delta``."""
    z = _check_positive("noise multiplier", noise_multiplier)

    def over(eps: float) -> bool:
        return poisson_gaussian_delta(epsilon=eps, noise_multiplier=z, sample_rate=sample_rate) > delta

    return _smallest_passing(lambda eps: not over(eps), start=1.0, lowest=0.0)


def analytic_noise_multiplier(*, epsilon: float, delta: float, sample_rate: float = 1.0) -> float:
    """Smallest noise multiplier (upper end of a bisection) giving (epsilon, delta) analytically."""
    check_parameters(epsilon=epsilon, delta=delta, sample_rate=sample_rate)
    return _smallest_passing(
        lambda z: poisson_gaussian_delta(epsilon=epsilon, noise_multiplier=z, sample_rate=sample_rate) <= delta,
        start=1.0,
        lowest=1e-6,
    )


def _smallest_passing(passes: Any, *, start: float, lowest: float) -> float:
    """Bisection for the threshold of a monotone predicate; returns a value that passes."""
    hi = start
    while not passes(hi):
        hi *= 2.0
        if hi > 1e9:
            raise UsageError("no noise scale reaches this privacy target")
    lo = lowest
    if passes(lo):
        return lo
    for _ in range(200):
        if hi - lo <= 1e-12 * hi:
            break
        mid = 0.5 * (lo + hi)
        if passes(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _sum_pmf(sigma: float, contributions: int) -> tuple[int, np.ndarray]:
    """pmf of the sum of ``contributions`` i.i.d. N_Z(0, sigma^2) on [-W, W]; returns (W, pmf)."""
    half = int(math.ceil(_TAIL_SIGMAS * sigma)) + 1
    k = np.arange(-half, half + 1, dtype=np.float64)
    base = np.exp(-(k * k) / (2.0 * sigma * sigma))
    base /= base.sum()
    if contributions == 1:
        return half, base
    width = min(contributions * half, int(math.ceil(_TAIL_SIGMAS * math.sqrt(contributions) * sigma)) + contributions)
    size = next_fast_len(max(2 * width + 1, 2 * half + 1), real=True)
    circular = np.zeros(size)
    circular[: half + 1] = base[half:]
    circular[size - half :] = base[:half]
    # The pmf is symmetric, so its DFT is real; the sum's DFT is the m-th power.
    spectrum = rfft(circular).real ** contributions
    total = irfft(spectrum, n=size)
    pmf = np.concatenate([total[size - width :], total[: width + 1]])
    return width, np.clip(pmf, 0.0, None)


def _hockey_stick_epsilon(a: np.ndarray, b: np.ndarray, delta: float) -> float:
    """Smallest eps >= 0 with sum(max(0, a - e^eps b)) <= delta, for pmfs on one grid."""
    keep = a > 0
    a, b = a[keep], b[keep]
    infinite = b <= 0
    base = float(a[infinite].sum())
    if base > delta:
        return math.inf
    a, b = a[~infinite], b[~infinite]
    ratio = np.log(a) - np.log(b)
    order = np.argsort(-ratio, kind="stable")
    ratio, cum_a, cum_b = ratio[order], base + np.cumsum(a[order]), np.cumsum(b[order])
    # delta at each breakpoint eps = ratio[j] is cum_a[j] - e^ratio[j] cum_b[j]: nondecreasing in j.
    # Float error could break that by a hair; the running max only makes the result larger.
    at_break = np.maximum.accumulate(cum_a - np.exp(ratio) * cum_b)
    j = int(np.searchsorted(at_break, delta, side="right")) - 1
    if j < 0:
        return math.inf
    lower = float(ratio[j + 1]) if j + 1 < ratio.size else -math.inf
    # On [ratio[j + 1], ratio[j]] delta(eps) = cum_a[j] - e^eps cum_b[j]; solve it for eps.
    eps = math.log((cum_a[j] - delta) / cum_b[j]) if cum_a[j] > delta else -math.inf
    return max(0.0, lower, eps)


def discrete_gaussian_epsilon(*, sigma: float, contributions: int, sample_rate: float, delta: float) -> float:
    """Epsilon of the Poisson-subsampled multivariate discrete Gaussian (both directions, numerically exact)."""
    sigma = _check_positive("sigma", sigma)
    if isinstance(contributions, bool) or not isinstance(contributions, int) or contributions < 1:
        raise UsageError(f"contributions must be a positive integer, got {contributions!r}")
    width, p0 = _sum_pmf(sigma, contributions)
    pad = np.zeros(contributions)
    absent, present = np.concatenate([p0, pad]), np.concatenate([pad, p0])
    q = float(sample_rate)
    mixed = present if q >= 1.0 else (1.0 - q) * absent + q * present
    target = delta * (1.0 - DELTA_SLACK)
    return max(_hockey_stick_epsilon(mixed, absent, target), _hockey_stick_epsilon(absent, mixed, target))


def prv_epsilon(*, noise_multiplier: float, sample_rate: float, delta: float) -> float:
    """opacus PRVAccountant's upper bound for one Poisson-subsampled Gaussian step."""
    from opacus.accountants import PRVAccountant

    accountant = PRVAccountant()
    accountant.step(noise_multiplier=float(noise_multiplier), sample_rate=float(sample_rate))
    with warnings.catch_warnings():
        # At q = 1 opacus evaluates log(0) on a masked branch and warns; the result is unaffected.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        try:
            eps = accountant.get_epsilon(delta=delta, eps_error=PRV_EPS_ERROR)
        except (ValueError, RuntimeError) as exc:
            raise UsageError(f"opacus PRVAccountant cannot cross-check these parameters: {exc}") from None
    return max(0.0, float(eps))


def _opacus_version() -> str:
    import opacus

    return str(opacus.__version__)


def _records(
    *, sigma: float, contributions: int, sample_rate: float, delta: float, stop_above: float | None = None
) -> tuple[AccountantRecord, ...]:
    z = sigma / math.sqrt(contributions)
    # Cheapest first: calibration stops at the first accountant above the target.
    steps = (
        (ANALYTIC, ALGORITHM_VERSION, lambda: poisson_gaussian_epsilon(noise_multiplier=z, sample_rate=sample_rate, delta=delta)),
        (
            DISCRETE,
            ALGORITHM_VERSION,
            lambda: discrete_gaussian_epsilon(sigma=sigma, contributions=contributions, sample_rate=sample_rate, delta=delta),
        ),
        (PRV, None, lambda: prv_epsilon(noise_multiplier=z, sample_rate=sample_rate, delta=delta)),
    )
    records = []
    for name, version, compute in steps:
        eps = compute()
        if not math.isfinite(eps):
            eps = 1e300  # Unbounded: record a huge finite value so the ledger stays valid JSON.
        records.append(AccountantRecord(name=name, version=version or _opacus_version(), epsilon=eps))
        if stop_above is not None and eps > stop_above:
            break
    return tuple(records)


def account(*, sigma: float, contributions: int, sample_rate: float, delta: float) -> tuple[AccountantRecord, ...]:
    """Every accountant's epsilon for a given sigma (the ledger's ``accountants``)."""
    check_parameters(delta=delta, sample_rate=sample_rate)
    _check_positive("sigma", sigma)
    return _records(sigma=sigma, contributions=contributions, sample_rate=sample_rate, delta=delta)


def calibrate(*, epsilon: float, delta: float, sample_rate: float, contributions: int) -> Calibration:
    """Smallest sigma on the sampler's grid whose every accountant certifies (epsilon, delta)."""
    check_parameters(epsilon=epsilon, delta=delta, sample_rate=sample_rate)
    if isinstance(contributions, bool) or not isinstance(contributions, int) or contributions < 1:
        raise UsageError(f"contributions must be a positive integer, got {contributions!r}")
    root_m = math.sqrt(contributions)
    kw = {"contributions": contributions, "sample_rate": float(sample_rate), "delta": float(delta)}

    def attempt(sigma: float) -> tuple[bool, tuple[AccountantRecord, ...]]:
        records = _records(sigma=sigma, stop_above=epsilon, **kw)
        return len(records) == 3 and all(r.epsilon <= epsilon for r in records), records

    hi = quantize_sigma(analytic_noise_multiplier(epsilon=epsilon, delta=delta, sample_rate=sample_rate) * root_m)
    ok, records = attempt(hi)
    lo, step = hi, 2.0**-10
    while not ok:
        lo, hi = hi, quantize_sigma(hi * (1.0 + step))
        ok, records = attempt(hi)
        step *= 2.0
        if hi > 1e9:
            raise UsageError("no noise scale reaches this privacy target")
    while lo < hi:
        mid = quantize_sigma(math.sqrt(lo * hi))
        if mid >= hi or mid <= lo:
            break
        mid_ok, mid_records = attempt(mid)
        if mid_ok:
            hi, records = mid, mid_records
        else:
            lo = mid
    return Calibration(
        sigma=hi,
        contributions=contributions,
        sample_rate=float(sample_rate),
        delta=float(delta),
        target_epsilon=float(epsilon),
        epsilon=max(r.epsilon for r in records),
        accountants=records,
    )
