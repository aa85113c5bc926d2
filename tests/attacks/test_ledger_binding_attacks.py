"""Attacks on the privacy ledger a bundle carries: under-declared sensitivity, and parameters
chosen to exhaust the receiver's memory or time.

Each bundle is really signed and sealed by a trusted issuer (the attacker is a trusted but
dishonest or buggy sender); the receiver's check is :func:`secfp.workflows.receive.check_privacy_claim`,
what ``secfp verify`` runs (exit 4 on failure).
"""

from __future__ import annotations

import math
import time

import pytest

from secfp.errors import VerificationError
from secfp.fingerprint.histogram import Fingerprint
from secfp.privacy.accounting import account, calibrate
from secfp.privacy.ledger import PrivacyLedger
from secfp.workflows.receive import check_privacy_claim


def _bundle_with(peers, claim: dict) -> object:
    from secfp.exchange.bundle import seal_bundle

    fp = peers.fingerprint
    noisy = Fingerprint(spec_id=fp.spec_id, counts=fp.counts + 3, n=fp.n, feature_mean=fp.feature_mean, noisy=True)
    data = seal_bundle(noisy, issuer=peers.who("alice"), recipients=[peers.who("bob").card], now=peers.now,
                       privacy=claim).data
    return peers.open(data)


@pytest.fixture
def honest(peers) -> dict:
    rows = peers.fingerprint.shape[0]
    cal = calibrate(epsilon=1.0, delta=1e-6, sample_rate=1.0, contributions=rows, max_images_per_unit=2)
    return PrivacyLedger.from_calibration(cal, spec_id=peers.fingerprint.spec_id, privacy_unit="patient").to_json()


def test_honest_ledger_is_accepted(peers, honest) -> None:
    ledger = check_privacy_claim(_bundle_with(peers, honest))
    assert ledger.privacy_unit == "patient" and ledger.max_images_per_unit == 2


def test_ledger_claiming_sensitivity_one_on_a_many_row_matrix_is_rejected(peers, honest) -> None:
    # Attack: declare sensitivity 1 and recompute the accountants for it, a self-consistent lie
    # that understates epsilon by about the factor 2 sqrt(rows).
    rows = peers.fingerprint.shape[0]
    lie = account(sigma=honest["sigma"], contributions=1, sample_rate=1.0, delta=1e-6)
    claim = {**honest, "sensitivity_l2": 1.0, "epsilon": max(r.epsilon for r in lie),
             "accountants": [r.to_json() for r in lie]}
    assert claim["epsilon"] < honest["epsilon"] / 2
    with pytest.raises(VerificationError, match=f"need at least {2 * math.sqrt(rows):.6g}"):
        check_privacy_claim(_bundle_with(peers, claim))


def test_ledger_claiming_one_image_per_unit_with_a_sensitivity_for_one_is_rejected(peers, honest) -> None:
    # Attack: claim k = 3 images per patient but the sensitivity (and epsilon) of k = 1.
    rows = peers.fingerprint.shape[0]
    claim = {**honest, "max_images_per_unit": 3, "sensitivity_l2": math.sqrt(rows)}
    with pytest.raises(VerificationError, match="sensitivity"):
        check_privacy_claim(_bundle_with(peers, claim))


@pytest.mark.parametrize(
    "change",
    [
        {"sigma": 1e12},  # a noise table of 2e13 integers
        {"sensitivity_l2": 1e9, "sigma": 1e12},  # a shift of 4e8 counts per row
        {"max_images_per_unit": 10**9, "sensitivity_l2": 10**9 * math.sqrt(6)},
        {"sigma": 1e-3},  # a privacy-loss grid without end
        {"epsilon": 1e6},  # beyond what any accountant certifies
        {"delta": 0.5},
    ],
)
def test_ledger_built_to_exhaust_the_receiver_is_refused_before_accounting(peers, honest, change) -> None:
    claim = {**honest, **change}
    if "epsilon" not in change:
        claim["accountants"] = [dict(a, epsilon=min(a["epsilon"], 1e3)) for a in claim["accountants"]]
        claim["epsilon"] = max(claim["epsilon"], max(a["epsilon"] for a in claim["accountants"]))
    started = time.monotonic()
    with pytest.raises(VerificationError, match="privacy ledger check failed"):
        check_privacy_claim(_bundle_with(peers, claim))
    # Refused by the bounds, not after an accountant ran: well under the seconds one run takes.
    assert time.monotonic() - started < 5.0
