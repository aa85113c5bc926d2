"""Differential privacy for fingerprints: exact discrete Gaussian noise, accounting, ledger, budget.

- :mod:`.mechanism`: exact N_Z(0, sigma^2) samples from os.urandom (Canonne, Kamath, Steinke 2020).
- :mod:`.accounting`: calibration and three accountants (closed-form analytic Gaussian with
  Poisson subsampling, opacus PRV, dp-accounting's discrete Gaussian PLD) for units of at most
  k images (sensitivity k sqrt(m)); the declared epsilon is the largest.
- :mod:`.ledger`: the privacy claim a bundle carries (unit, k, what it does not cover), its
  re-verification bound to the fingerprint's rows, and the local per-dataset budget.
- :mod:`.release`: ``privatize`` (noisy fingerprint + ledger) and ``explain`` (cost before release).
"""

from secfp.privacy.accounting import (
    AccountantRecord,
    Calibration,
    account,
    analytic_noise_multiplier,
    calibrate,
    discrete_gaussian_epsilon,
    poisson_gaussian_delta,
    poisson_gaussian_epsilon,
    prv_epsilon,
)
from secfp.privacy.ledger import BudgetCharge, BudgetState, BudgetStore, PrivacyLedger, verify_ledger
from secfp.privacy.mechanism import discrete_gaussian, quantize_sigma
from secfp.privacy.release import (
    Explanation, SeededNoiseWarning, estimate_feature_mean, estimate_n, explain, privatize, privatize_counts,
)

__all__ = [
    "AccountantRecord",
    "BudgetCharge",
    "BudgetState",
    "BudgetStore",
    "Calibration",
    "Explanation",
    "PrivacyLedger",
    "SeededNoiseWarning",
    "account",
    "analytic_noise_multiplier",
    "calibrate",
    "discrete_gaussian",
    "discrete_gaussian_epsilon",
    "estimate_feature_mean",
    "estimate_n",
    "explain",
    "poisson_gaussian_delta",
    "poisson_gaussian_epsilon",
    "privatize",
    "privatize_counts",
    "prv_epsilon",
    "quantize_sigma",
    "verify_ledger",
]
