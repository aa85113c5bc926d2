"""The privacy ledger: exact JSON layout, strict parsing, explicit non-DP, re-verification."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secfp._io import canonical_json, strict_json_loads
from secfp.errors import BadInput, VerificationError
from secfp.privacy.accounting import AccountantRecord, calibrate
from secfp.privacy.ledger import PrivacyLedger, verify_ledger

SPEC_ID = "ab" * 32


@pytest.fixture(scope="module")
def dp_ledger() -> PrivacyLedger:
    return PrivacyLedger.from_calibration(
        calibrate(epsilon=1.0, delta=1e-6, sample_rate=0.1, contributions=16, max_images_per_unit=2), spec_id=SPEC_ID,
        privacy_unit="patient", not_covered=("card.task.name",),
    )


def test_dp_ledger_names_unit_bound_and_what_it_does_not_cover(dp_ledger: PrivacyLedger) -> None:
    obj = dp_ledger.to_json()
    assert list(obj) == ["v", "mechanism", "sensitivity_l2", "sigma", "sample_rate", "epsilon", "delta", "privacy_unit",
                         "max_images_per_unit", "accountants", "not_covered", "spec_id"]
    assert obj["v"] == 2 and obj["mechanism"] == "discrete_gaussian" and obj["spec_id"] == SPEC_ID
    assert obj["privacy_unit"] == "patient" and obj["max_images_per_unit"] == 2
    assert obj["sensitivity_l2"] == 8.0 and obj["sample_rate"] == 0.1 and obj["delta"] == 1e-6  # k sqrt(m) = 2 * 4
    assert obj["epsilon"] == max(a["epsilon"] for a in obj["accountants"]) <= 1.0
    assert [set(a) for a in obj["accountants"]] == [{"name", "version", "epsilon"}] * 3
    assert obj["not_covered"] == ["card.task.name"]
    assert dp_ledger.noise_multiplier == pytest.approx(obj["sigma"] / 8.0)


def test_version_1_ledger_without_unit_is_refused(dp_ledger: PrivacyLedger) -> None:
    # A version-1 ledger declared no unit and no contribution bound: nothing to verify it against.
    obj = dp_ledger.to_json()
    for key in ("privacy_unit", "max_images_per_unit", "not_covered"):
        del obj[key]
    with pytest.raises(BadInput, match="missing"):
        PrivacyLedger.from_json({**obj, "v": 1})


def test_ledger_round_trips_through_canonical_json(dp_ledger: PrivacyLedger) -> None:
    data = canonical_json(dp_ledger.to_json())
    again = PrivacyLedger.from_json(strict_json_loads(data))
    assert again == dp_ledger
    assert canonical_json(again.to_json()) == data


def test_non_dp_release_says_so_explicitly() -> None:
    ledger = PrivacyLedger.none(spec_id=SPEC_ID)
    obj = ledger.to_json()
    assert obj["mechanism"] == "none" and obj["epsilon"] is None and obj["sigma"] is None and obj["accountants"] == []
    assert PrivacyLedger.from_json(obj) == ledger and not ledger.is_private


def test_ledger_with_unknown_key_is_rejected(dp_ledger: PrivacyLedger) -> None:
    obj = {**dp_ledger.to_json(), "note": "trust me"}
    with pytest.raises(BadInput, match="unexpected \\['note'\\]"):
        PrivacyLedger.from_json(obj)


def test_ledger_without_epsilon_is_rejected(dp_ledger: PrivacyLedger) -> None:
    # Omission is never a privacy claim.
    obj = dp_ledger.to_json()
    del obj["epsilon"]
    with pytest.raises(BadInput, match="missing \\['epsilon'\\]"):
        PrivacyLedger.from_json(obj)


@pytest.mark.parametrize(
    "field,value",
    [
        ("epsilon", "1.0"),
        ("epsilon", True),
        ("sigma", None),
        ("sample_rate", [0.1]),
        ("v", 1),
        ("v", True),
        ("mechanism", "laplace"),
        ("mechanism", 1),
        ("spec_id", ""),
        ("accountants", {}),
        ("accountants", []),
        ("epsilon", -1.0),
        ("delta", 1.0),
        ("sample_rate", 0.0),
    ],
)
def test_ledger_with_wrong_type_or_value_is_rejected(dp_ledger: PrivacyLedger, field: str, value: object) -> None:
    obj = {**dp_ledger.to_json(), field: value}
    with pytest.raises(BadInput):
        PrivacyLedger.from_json(obj)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_ledger_with_non_finite_number_is_rejected(dp_ledger: PrivacyLedger, value: float) -> None:
    with pytest.raises(BadInput, match="finite"):
        PrivacyLedger.from_json({**dp_ledger.to_json(), "sigma": value})
    with pytest.raises(BadInput, match="finite"):
        PrivacyLedger(mechanism="discrete_gaussian", spec_id=SPEC_ID, sensitivity_l2=1.0, sigma=value, sample_rate=1.0,
                      epsilon=1.0, delta=1e-6, accountants=(AccountantRecord("a", "1", 0.5),))


def test_nan_in_ledger_text_is_rejected_by_the_strict_parser(dp_ledger: PrivacyLedger) -> None:
    text = canonical_json(dp_ledger.to_json()).decode().replace(f'"delta":{dp_ledger.delta!r}', '"delta":NaN')
    assert "NaN" in text
    with pytest.raises(BadInput, match="non-finite"):
        strict_json_loads(text)


def test_ledger_declaring_less_than_its_own_accountant_is_rejected(dp_ledger: PrivacyLedger) -> None:
    obj = dp_ledger.to_json()
    obj["epsilon"] = min(a["epsilon"] for a in obj["accountants"]) / 2
    with pytest.raises(BadInput, match="below its own accountant"):
        PrivacyLedger.from_json(obj)


def test_ledger_with_duplicate_or_malformed_accountant_is_rejected(dp_ledger: PrivacyLedger) -> None:
    obj = dp_ledger.to_json()
    with pytest.raises(BadInput, match="each named once"):
        PrivacyLedger.from_json({**obj, "accountants": [obj["accountants"][0]] * 2})
    with pytest.raises(BadInput, match="exactly: name, version, epsilon"):
        PrivacyLedger.from_json({**obj, "accountants": [{"name": "x", "epsilon": 0.1}]})
    with pytest.raises(BadInput):
        PrivacyLedger.from_json({**obj, "accountants": [{"name": "x", "version": 1, "epsilon": 0.1}]})


def test_none_ledger_with_parameters_is_rejected() -> None:
    obj = {**PrivacyLedger.none(spec_id=SPEC_ID).to_json(), "epsilon": 1.0}
    with pytest.raises(BadInput, match="no privacy parameters"):
        PrivacyLedger.from_json(obj)


def test_honest_ledger_verifies(dp_ledger: PrivacyLedger) -> None:
    assert verify_ledger(dp_ledger, rows=16) is dp_ledger
    assert verify_ledger(PrivacyLedger.none(spec_id=SPEC_ID), rows=16).mechanism == "none"


def test_ledger_claiming_less_noise_cost_than_its_sigma_gives_is_rejected(dp_ledger: PrivacyLedger) -> None:
    # Under-declared epsilon: the sender halves sigma but keeps the accountants' numbers.
    obj = {**dp_ledger.to_json(), "sigma": dp_ledger.sigma / 2}
    with pytest.raises(VerificationError, match="declares epsilon"):
        verify_ledger(PrivacyLedger.from_json(obj), rows=16)


def test_ledger_with_a_larger_sensitivity_is_accounted_as_declared(dp_ledger: PrivacyLedger) -> None:
    # 8.5 > k sqrt(m) = 8 is allowed, but it is accounted as declared: the old epsilon no longer covers it.
    obj = {**dp_ledger.to_json(), "sensitivity_l2": 8.5}
    with pytest.raises(VerificationError, match="declares epsilon"):
        verify_ledger(PrivacyLedger.from_json(obj), rows=16)


@given(
    sigma=st.floats(min_value=1e-3, max_value=1e6),
    sensitivity=st.floats(min_value=1e-3, max_value=1e3),
    rate=st.floats(min_value=1e-6, max_value=1.0),
    eps=st.lists(st.floats(min_value=0.0, max_value=50.0), min_size=1, max_size=3),
    delta=st.floats(min_value=1e-15, max_value=0.5),
)
def test_any_valid_ledger_round_trips(sigma: float, sensitivity: float, rate: float, eps: list[float], delta: float) -> None:
    records = tuple(AccountantRecord(f"acc{i}", "1", e) for i, e in enumerate(eps))
    declared = max(max(eps), 1e-9)
    ledger = PrivacyLedger("discrete_gaussian", SPEC_ID, sensitivity, sigma, rate, declared, delta, records,
                           privacy_unit="volume", max_images_per_unit=3)
    again = PrivacyLedger.from_json(strict_json_loads(canonical_json(ledger.to_json())))
    assert again == ledger
    assert all(math.isfinite(x) for x in (again.sigma, again.epsilon, again.delta))
