"""How much privacy one discrete Gaussian release of a count matrix costs, three ways.

The release: the privacy *units* (patients, volumes or images) are Poisson-sampled
at a public rate ``q`` (each unit independently, with *secret* randomness), at most
``k`` images are drawn from every sampled unit, every image adds exactly one count
to each of the ``m`` feature rows, and N_Z(0, sigma^2) noise is added to every
cell. Neighbouring datasets differ by adding or removing one unit, whose counts
form a vector with at most k counts per row: L2 sensitivity ``k sqrt(m)``. By joint
convexity and translation invariance the worst case is the pair "the unit's
vector v is added with probability q" versus "it is not" (Balle, Barthe, Gaboardi,
NeurIPS 2018, Poisson subsampling; Zhu, Dong, Wang, ICML 2022, dominating pairs).

Accountants (the ledger records each; the declared epsilon is the largest):

``secfp.analytic_gaussian_poisson``
    The exact privacy profile of the *continuous* Gaussian with noise multiplier
    ``z = sigma / (k sqrt(m))``, in closed form. At q = 1 this is Balle and Wang, ICML
    2018, Thm. 8: ``delta(eps) = Phi(mu/2 - eps/mu) - e^eps Phi(-mu/2 - eps/mu)``
    with ``mu = 1/z``. For q < 1 both directions of add/remove are exact
    transformations of that curve: removal gives ``q delta_G(log(1 + (e^eps - 1)/q))``
    and addition ``q e^(eps - eps') delta_G(eps')`` with
    ``eps' = -log(1 + (e^-eps - 1)/q)`` (derived in ``_addition_delta``; both are
    checked against numerical integration in the tests); we take the max.
``opacus.PRVAccountant``
    Independent cross-check: Gopi, Lee, Wutschitz, NeurIPS 2021 (numerical PRV
    composition), one step at ``noise_multiplier = z`` and ``sample_rate = q``,
    ``eps_error = 1e-3``; its upper bound is recorded. It models the continuous
    Gaussian and the removal direction only. Opacus's GaussianAccountant (GDP, a
    CLT approximation) is never used: it underestimates epsilon for one release.
``dp_accounting.discrete_gaussian_pld``
    The mechanism we really run, integer noise, with Google's dp-accounting
    privacy-loss distributions: the one-dimensional discrete Gaussian shifted by k
    (``from_discrete_gaussian_mechanism``, pessimistic discretisation), composed over
    the m rows, then Poisson-subsampled with the two transformations above. This is
    how the discrete vs continuous difference (Canonne, Kamath, Steinke 2020, Sec. 4)
    is accounted, with a vetted implementation and no hand-written FFT.

Calibration (:func:`calibrate`) starts from the analytic noise multiplier and
raises sigma (on the sampler's 12-bit grid, see ``mechanism.quantize_sigma``)
until every accountant reports at most the target: privacy errs conservative.
Parameters outside :func:`check_bounds` (sigma, rows, k, noise multiplier) are
refused before any accountant runs, so a hostile ledger cannot make a receiver
allocate without bound.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
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
    "check_bounds",
    "ROWS_MAX",
    "MAX_IMAGES_PER_UNIT",
    "SIGMA_MAX",
    "NOISE_MULTIPLIER_MIN",
    "EPSILON_MAX",
    "DELTA_MIN",
    "DELTA_MAX",
]

ANALYTIC = "secfp.analytic_gaussian_poisson"
DISCRETE = "dp_accounting.discrete_gaussian_pld"
PRV = "opacus.PRVAccountant"
ALGORITHM_VERSION = "1"
PRV_EPS_ERROR = 1e-3
# The discrete accountant solves for delta * (1 - DELTA_SLACK): covers its truncated tails (< 1e-30 a row).
DELTA_SLACK = 1e-3
EPSILON_MAX = 20.0
DELTA_MIN, DELTA_MAX = 1e-12, 1e-2
# What the accountants are run on at most (a ledger outside is refused before any accounting):
ROWS_MAX = 8192  # count-matrix rows m (features of the probe)
MAX_IMAGES_PER_UNIT = 64  # k; the discrete accountant shifts each row by k
SIGMA_MAX = 2.0e5  # the discrete noise table holds 23 sigma integers
NOISE_MULTIPLIER_MIN = 0.25  # below it the composed loss grid would outgrow PLD_GRID_POINTS' precision
PLD_GRID_POINTS = 1_500_000  # most points of the composed privacy-loss grid
PLD_ROUNDING = 2e-3  # m per-row roundings add at most this much to the composed loss
CALIBRATION_BISECTIONS = 4  # sigma ends within (hi / lo)^(1/16) of the smallest passing grid point


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
    max_images_per_unit: int = 1

    @property
    def sensitivity_l2(self) -> float:
        return self.max_images_per_unit * math.sqrt(self.contributions)

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


def _smallest_passing(passes: Any, *, start: float, lowest: float, rel: float = 1e-12) -> float:
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
        if hi - lo <= rel * hi:
            break
        mid = 0.5 * (lo + hi)
        if passes(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _grid_interval(*, rows: int, shift: int, sigma: float) -> float:
    """Loss discretisation per coordinate: fine enough that m roundings add at most ~2e-3 to
    the composed loss, coarse enough that the composed grid stays below PLD_GRID_POINTS."""
    mu = shift * math.sqrt(rows) / sigma
    span = mu * mu / 2.0 + 12.0 * mu + 1e-3
    return max(PLD_ROUNDING / rows, span / PLD_GRID_POINTS)


@dataclass(frozen=True, eq=False)
class _LossTable:
    """One direction of a dense PLD: losses l_j (ascending), their mass p_j, and the mass at +infinity."""

    losses: np.ndarray
    upper: np.ndarray  # sum_{i >= j} p_i
    lower: np.ndarray  # sum_{i >= j} p_i e^{-l_i}
    infinity_mass: float

    @classmethod
    def of(cls, pmf: Any) -> "_LossTable":
        dense = pmf.to_dense_pmf()
        # dp-accounting 0.6 keeps the dense grid in these fields (the public getters loop in Python).
        probs = np.asarray(dense._probs, dtype=np.float64)  # noqa: SLF001
        losses = (np.arange(probs.size) + dense._lower_loss) * dense._discretization  # noqa: SLF001
        upper = np.cumsum(probs[::-1])[::-1]
        lower = np.cumsum((probs * np.exp(-losses))[::-1])[::-1]
        return cls(losses, np.append(upper, 0.0), np.append(lower, 0.0), float(dense._infinity_mass))  # noqa: SLF001

    def delta(self, eps: np.ndarray) -> np.ndarray:
        """sum_j max(0, p_j (1 - e^(eps - l_j))) plus the infinite mass, for every eps."""
        j = np.searchsorted(self.losses, eps, side="right")
        return self.infinity_mass + np.maximum(0.0, self.upper[j] - np.exp(eps) * self.lower[j])


@functools.lru_cache(maxsize=16)
def _composed_pld(sigma: float, rows: int, shift: int) -> tuple[_LossTable, _LossTable]:
    """dp-accounting's PLD of ``rows`` independent N_Z(0, sigma^2) coordinates, each shifted by ``shift``."""
    from dp_accounting.pld import privacy_loss_distribution as pld_lib

    interval = _grid_interval(rows=rows, shift=shift, sigma=sigma)
    one = pld_lib.from_discrete_gaussian_mechanism(sigma, sensitivity=shift, value_discretization_interval=interval)
    pld = one.self_compose(rows, tail_mass_truncation=1e-18) if rows > 1 else one
    return _LossTable.of(pld._pmf_remove), _LossTable.of(pld._pmf_add)  # noqa: SLF001


def discrete_gaussian_epsilon(
    *, sigma: float, contributions: int, sample_rate: float, delta: float, max_images_per_unit: int = 1
) -> float:
    """Epsilon of the Poisson-subsampled discrete Gaussian on ``contributions`` rows, k images per unit.

    A unit adds at most k counts to each of the m rows; the vector that reaches the L2 bound
    k sqrt(m) puts all k in one bin of every row (k identical images), so each row is a
    one-dimensional discrete Gaussian shifted by k. dp-accounting builds that PLD with
    pessimistic discretisation (losses rounded up) and composes it m times; the
    truncated noise it models differs from ours by less than 1e-30 per row, far inside
    ``DELTA_SLACK``. Poisson subsampling at q < 1 is applied to the composed mechanism
    with the same exact transformations as the analytic accountant (remove and add;
    dp-accounting's own subsampling covers one-dimensional mechanisms only). Both
    directions of the composed PLD are evaluated and the larger delta is used.
    """
    sigma = _check_positive("sigma", sigma)
    rows, shift = _check_shape(contributions, max_images_per_unit)
    tables = _composed_pld(float(sigma), rows, shift)
    target = delta * (1.0 - DELTA_SLACK)
    q = float(sample_rate)

    def full(eps: np.ndarray) -> np.ndarray:
        return np.maximum(tables[0].delta(eps), tables[1].delta(eps))

    def subsampled(eps: np.ndarray) -> np.ndarray:
        if q >= 1.0:
            return full(eps)
        out = q * full(np.log1p(np.expm1(eps) / q))
        adding = eps < -math.log1p(-q)  # addition costs nothing once e^eps (1 - q) >= 1
        if adding.any():
            e = eps[adding]
            eps_add = -np.log1p(np.expm1(-e) / q)
            out[adding] = np.maximum(out[adding], q * np.exp(e - eps_add) * full(eps_add))
        return out

    return _grid_search(subsampled, target)


def _grid_search(delta_of: Any, target: float) -> float:
    """Smallest eps (upper end, to 1e-7 relative) with ``delta_of(eps) <= target``; delta_of is vectorised and nonincreasing."""
    hi = 1.0
    while delta_of(np.array([hi]))[0] > target:
        hi *= 2.0
        if hi > 1e4:
            return math.inf
    lo = 0.0
    for _ in range(3):  # each pass narrows [lo, hi] 256-fold
        grid = np.linspace(lo, hi, 257)
        passing = np.flatnonzero(delta_of(grid) <= target)
        j = int(passing[0]) if passing.size else 256
        if j == 0:
            return float(grid[0])
        lo, hi = float(grid[j - 1]), float(grid[j])
        if hi - lo <= 1e-7 * hi:
            break
    return hi


def _check_shape(contributions: Any, max_images_per_unit: Any) -> tuple[int, int]:
    if isinstance(contributions, bool) or not isinstance(contributions, int) or not 1 <= contributions <= ROWS_MAX:
        raise UsageError(f"contributions (rows) must be an integer in [1, {ROWS_MAX}], got {contributions!r}")
    k = max_images_per_unit
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_IMAGES_PER_UNIT:
        raise UsageError(f"max images per unit must be an integer in [1, {MAX_IMAGES_PER_UNIT}], got {k!r}")
    return contributions, k


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


def _dp_accounting_version() -> str:
    from importlib.metadata import version

    return f"dp-accounting {version('dp-accounting')}"


def check_bounds(*, sigma: float, contributions: int, max_images_per_unit: int, sensitivity_l2: float | None = None) -> int:
    """Refuse parameters the accountants would need unbounded time or memory for; return the per-row shift.

    The discrete accountant's work grows with sigma (the noise table) and with the grid
    of the composed loss, which the noise multiplier bounds. Raises UsageError.
    """
    rows, k = _check_shape(contributions, max_images_per_unit)
    sigma = _check_positive("sigma", sigma)
    bound = k * math.sqrt(rows)
    sensitivity = bound if sensitivity_l2 is None else _check_positive("sensitivity", sensitivity_l2)
    # The discrete accountant shifts every row by a whole number of counts: round up.
    shift = max(k, math.ceil(sensitivity / math.sqrt(rows) - 1e-9))
    if shift > MAX_IMAGES_PER_UNIT:
        raise UsageError(f"sensitivity {sensitivity:.6g} exceeds {MAX_IMAGES_PER_UNIT} counts per row")
    if sigma > SIGMA_MAX:
        raise UsageError(f"sigma {sigma:.6g} is above the {SIGMA_MAX:g} secfp accounts for")
    if sigma / (shift * math.sqrt(rows)) < NOISE_MULTIPLIER_MIN:
        raise UsageError(f"noise multiplier {sigma / sensitivity:.4g} is below the {NOISE_MULTIPLIER_MIN:g} secfp accounts for")
    return shift


def _records(
    *, sigma: float, contributions: int, sample_rate: float, delta: float, max_images_per_unit: int = 1,
    sensitivity_l2: float | None = None, stop_above: float | None = None,
) -> tuple[AccountantRecord, ...]:
    shift = check_bounds(sigma=sigma, contributions=contributions, max_images_per_unit=max_images_per_unit,
                         sensitivity_l2=sensitivity_l2)
    sensitivity = sensitivity_l2 if sensitivity_l2 is not None else max_images_per_unit * math.sqrt(contributions)
    z = sigma / sensitivity
    # Cheapest first: calibration stops at the first accountant above the target.
    steps = (
        (ANALYTIC, ALGORITHM_VERSION, lambda: poisson_gaussian_epsilon(noise_multiplier=z, sample_rate=sample_rate, delta=delta)),
        (PRV, None, lambda: prv_epsilon(noise_multiplier=z, sample_rate=sample_rate, delta=delta)),
        (
            DISCRETE,
            "dpa",
            lambda: discrete_gaussian_epsilon(sigma=sigma, contributions=contributions, sample_rate=sample_rate,
                                              delta=delta, max_images_per_unit=shift),
        ),
    )
    records = []
    for name, version, compute in steps:
        eps = compute()
        if not math.isfinite(eps):
            eps = 1e300  # Unbounded: record a huge finite value so the ledger stays valid JSON.
        version = _dp_accounting_version() if version == "dpa" else version or _opacus_version()
        records.append(AccountantRecord(name=name, version=version, epsilon=eps))
        if stop_above is not None and eps > stop_above:
            break
    return tuple(records)


def account(
    *, sigma: float, contributions: int, sample_rate: float, delta: float, max_images_per_unit: int = 1,
    sensitivity_l2: float | None = None,
) -> tuple[AccountantRecord, ...]:
    """Every accountant's epsilon for a given sigma (the ledger's ``accountants``).

    ``sensitivity_l2`` defaults to ``max_images_per_unit * sqrt(contributions)``; a larger
    declared value is accounted as declared (rounded up to whole counts per row).
    """
    check_parameters(delta=delta, sample_rate=sample_rate)
    return _records(sigma=sigma, contributions=contributions, sample_rate=sample_rate, delta=delta,
                    max_images_per_unit=max_images_per_unit, sensitivity_l2=sensitivity_l2)


def calibrate(*, epsilon: float, delta: float, sample_rate: float, contributions: int, max_images_per_unit: int = 1) -> Calibration:
    """Smallest sigma on the sampler's grid whose every accountant certifies (epsilon, delta).

    ``contributions`` is the number of rows m (each image adds one count per row),
    ``max_images_per_unit`` the k of contribution bounding: sensitivity k sqrt(m).
    """
    check_parameters(epsilon=epsilon, delta=delta, sample_rate=sample_rate)
    rows, k = _check_shape(contributions, max_images_per_unit)
    bound = k * math.sqrt(rows)
    kw = {"contributions": rows, "sample_rate": float(sample_rate), "delta": float(delta), "max_images_per_unit": k}

    def attempt(sigma: float) -> tuple[bool, tuple[AccountantRecord, ...]]:
        records = _records(sigma=sigma, stop_above=epsilon, **kw)
        return len(records) == 3 and all(r.epsilon <= epsilon for r in records), records

    hi = quantize_sigma(analytic_noise_multiplier(epsilon=epsilon, delta=delta, sample_rate=sample_rate) * bound)
    if hi / bound < NOISE_MULTIPLIER_MIN:
        raise UsageError(
            f"epsilon {epsilon:g} at sample rate {sample_rate:g} needs a noise multiplier below {NOISE_MULTIPLIER_MIN:g}, "
            "which secfp does not account for: lower epsilon or raise the sample rate"
        )
    if hi > SIGMA_MAX:
        raise UsageError(f"epsilon {epsilon:g} needs sigma above {SIGMA_MAX:g}: raise epsilon or lower --max-images-per-unit")
    ok, records = attempt(hi)
    lo, step = hi, 2.0**-11
    while not ok:
        # epsilon falls roughly like 1/sigma: jump by the overshoot, at least one grid step more each time.
        over = max(r.epsilon for r in records) / epsilon
        lo, hi = hi, quantize_sigma(hi * max(1.0 + step, min(over, 2.0) * (1.0 + 2.0**-12)))
        if hi > SIGMA_MAX:
            raise UsageError("no noise scale within secfp's bounds reaches this privacy target")
        ok, records = attempt(hi)
        step *= 2.0
    for _ in range(CALIBRATION_BISECTIONS):
        if lo >= hi:
            break
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
        contributions=rows,
        sample_rate=float(sample_rate),
        delta=float(delta),
        target_epsilon=float(epsilon),
        epsilon=max(r.epsilon for r in records),
        accountants=records,
        max_images_per_unit=k,
    )
