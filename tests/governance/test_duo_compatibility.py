"""The GA4GH DUO compatibility check: each code, one purpose it allows, one it forbids.

Attack class: purpose creep. Data consented for one use is pulled into another.
"""

from __future__ import annotations

import dataclasses

import pytest

from secfp.governance.duo import MODIFIERS, OBLIGATIONS, PERMISSIONS, Purpose, code_problems, incompatibilities

BIOMEDICAL = Purpose(
    research_area="biomedical",
    methods_development=True,
    commercial=False,
    for_profit_organisation=False,
    ethics_approval=True,
)


def with_(**changes) -> Purpose:
    return dataclasses.replace(BIOMEDICAL, **changes)


@pytest.mark.parametrize(
    ("codes", "allowed", "forbidden", "reason"),
    [
        (("NRES",), with_(research_area="ancestry"), None, None),
        (
            ("GRU",),
            with_(research_area="general"),
            with_(clinical_care=True),
            "our purpose includes clinical care, which needs NRES or the CC modifier",
        ),
        (("GRU", "CC"), with_(clinical_care=True), None, None),
        (
            ("HMB",),
            BIOMEDICAL,
            with_(research_area="general"),
            "HMB allows only health/medical/biomedical research, our purpose is general research",
        ),
        (
            ("HMB",),
            with_(research_area="disease", diseases=("MONDO:0004992",)),
            with_(research_area="ancestry"),
            "HMB allows only health/medical/biomedical research, our purpose is ancestry research",
        ),
        (
            ("DS:MONDO:0004992",),
            with_(research_area="disease", diseases=("MONDO:0004992",)),
            with_(research_area="disease", diseases=("MONDO:0005015",)),
            "DS:MONDO:0004992 allows only research on MONDO:0004992, we research MONDO:0005015",
        ),
        (
            ("DS:MONDO:0004992",),
            with_(research_area="disease", diseases=("MONDO:0004992",)),
            BIOMEDICAL,
            "DS:MONDO:0004992 allows only research on that disease, our purpose is biomedical research",
        ),
        (
            ("POA",),
            with_(research_area="ancestry"),
            BIOMEDICAL,
            "POA allows only population origins or ancestry research, our purpose is biomedical research",
        ),
        (
            ("GRU", "NPOA"),
            BIOMEDICAL,
            with_(research_area="ancestry"),
            "NPOA forbids population origins or ancestry research, which is our purpose",
        ),
        (
            ("HMB", "NMDS"),
            with_(methods_development=False),
            BIOMEDICAL,
            "NMDS forbids methods development, and our purpose includes it",
        ),
        (
            ("HMB", "GSO"),
            with_(genetic_studies=True),
            BIOMEDICAL,
            "GSO allows only genetic studies, our purpose is not one",
        ),
        (
            ("HMB", "NCU"),
            BIOMEDICAL,
            with_(commercial=True),
            "NCU forbids commercial use, and our purpose is commercial",
        ),
        (
            ("HMB", "NPU"),
            BIOMEDICAL,
            with_(for_profit_organisation=True),
            "NPU allows only not-for-profit organisations, and we are for-profit",
        ),
        (
            ("HMB", "NPUNCU"),
            BIOMEDICAL,
            with_(commercial=True),
            "NPUNCU forbids commercial use, and our purpose is commercial",
        ),
        (
            ("HMB", "IRB"),
            BIOMEDICAL,
            with_(ethics_approval=False),
            "IRB requires ethics approval, and our purpose does not declare it",
        ),
        (
            ("HMB", "PUB"),
            with_(accept_obligations=("PUB",)),
            BIOMEDICAL,
            "PUB is an obligation our policy does not accept (import.purpose.accept_obligations)",
        ),
        (
            ("HMB", "GS:EU"),
            with_(accept_obligations=("GS",)),
            BIOMEDICAL,
            "GS:EU is an obligation our policy does not accept (import.purpose.accept_obligations)",
        ),
    ],
)
def test_each_code_allows_one_purpose_and_forbids_another(codes, allowed, forbidden, reason):
    assert incompatibilities(codes, allowed) == ()
    if forbidden is not None:
        assert reason in incompatibilities(codes, forbidden)


def test_every_obligation_needs_explicit_acceptance():
    for code in sorted(OBLIGATIONS):
        assert incompatibilities(("HMB", code), BIOMEDICAL), code
        assert incompatibilities(("HMB", code), with_(accept_obligations=(code,))) == (), code


def test_code_table_matches_duo_identifiers():
    # Spot checks against EBISPOT/DUO duo.csv.
    assert PERMISSIONS["HMB"] == "DUO:0000006" and PERMISSIONS["GRU"] == "DUO:0000042"
    assert MODIFIERS["NPU"] == "DUO:0000045" and MODIFIERS["NCU"] == "DUO:0000046"
    assert MODIFIERS["NPUNCU"] == "DUO:0000018" and MODIFIERS["IRB"] == "DUO:0000021"


@pytest.mark.parametrize(
    ("codes", "problem"),
    [
        (("HMB", "XYZ"), "unknown data-use code 'XYZ'"),
        (("NCU",), "exactly one data-use permission"),
        (("HMB", "GRU"), "exactly one data-use permission"),
        (("DS",), "DS needs its disease term"),
        (("HMB", "NCU:x"), "NCU takes no qualifier"),
        (("HMB", "IRB", "IRB"), "listed twice"),
    ],
)
def test_malformed_code_sets_are_named(codes, problem):
    problems = code_problems(codes)
    assert any(problem in p for p in problems), problems
    # A malformed tag set is never compatible: an unknown restriction cannot be honoured.
    assert incompatibilities(codes, BIOMEDICAL)


def test_purpose_needs_diseases_exactly_for_disease_research():
    with pytest.raises(ValueError, match="diseases are required"):
        Purpose(research_area="disease")
    with pytest.raises(ValueError, match="diseases are required"):
        Purpose(research_area="biomedical", diseases=("MONDO:1",))
