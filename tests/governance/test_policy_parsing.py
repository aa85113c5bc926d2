"""Malformed policies are InvalidPolicy (exit 3), naming the file and the key.

Attack class: policy confusion. A typo, a duplicate or a wrong type must never leave
a rule silently unset or set to something the officer did not write.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re

import pytest
from gov_helpers import EXPORT_TOML, IMPORT_TOML, NOW, SPEC_A, SPEC_B, policy_from
from hypothesis import given, settings
from hypothesis import strategies as st

from secfp.errors import InvalidPolicy
from secfp.governance import load_policy, parse_policy


def invalid(text: str, match: str) -> InvalidPolicy:
    with pytest.raises(InvalidPolicy, match=match) as info:
        policy_from(text, source="policies/test.toml")
    assert info.value.exit_code == 3
    assert str(info.value).startswith("policies/test.toml: ")
    return info.value


def test_valid_policies_parse(export_policy, import_policy):
    assert export_policy.id == "test-export" and export_policy.version == 1
    assert export_policy.valid_from == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert export_policy.export.max_epsilon == 4.0 and export_policy.import_ is None
    assert import_policy.import_.issuers[1].dp_required is False


def test_digest_is_sha256_of_the_file_bytes(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(EXPORT_TOML)
    policy = load_policy(path, now=NOW)
    assert policy.digest == hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_text("# reviewed by the DPO\n" + EXPORT_TOML)
    assert load_policy(path, now=NOW).digest != policy.digest


# --- duplicates ------------------------------------------------------------------------------


def test_duplicate_key_is_rejected_and_named():
    # Attack: a second max_epsilon further down that a reviewer overlooks.
    text = EXPORT_TOML.replace("max_delta = 1e-6", "max_delta = 1e-6\nmax_epsilon = 100.0")
    invalid(text, r"not valid TOML: Cannot overwrite a value .*\(duplicate key 'max_epsilon'\)")


def test_duplicate_table_is_rejected():
    invalid(EXPORT_TOML + "\n[export]\nallow_public = true\n", r"not valid TOML: .*export")


def test_duplicate_recipient_is_rejected():
    start = EXPORT_TOML.index("[[export.recipients]]")
    block = EXPORT_TOML[start : EXPORT_TOML.index("[export.card]")]
    invalid(EXPORT_TOML.replace(block, block + block), r"export\.recipients: name partner listed more than once")


# --- unknown keys ------------------------------------------------------------------------------


def test_misspelt_key_is_rejected_and_named():
    # A typo must not disable the epsilon cap.
    invalid(
        EXPORT_TOML.replace("max_epsilon = 4.0", "max_epsilon = 4.0\nmax_epsilion = 1.0"),
        r"unknown key\(s\): export\.max_epsilion",
    )


def test_unknown_table_is_rejected():
    invalid(EXPORT_TOML + "\n[exports]\nx = 1\n", r"unknown key\(s\): exports")


def test_unknown_key_in_an_array_of_tables_is_rejected():
    invalid(
        EXPORT_TOML.replace('name = "partner"', 'name = "partner"\nrole = "any"'),
        r"unknown key\(s\): export\.recipients\[0\]\.role",
    )


def test_unknown_key_in_purpose_is_rejected():
    invalid(
        IMPORT_TOML.replace('research_area = "biomedical"', 'research_area = "biomedical"\nprofit = 0'),
        r"unknown key\(s\): import\.purpose\.profit",
    )


# --- wrong types -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "min_source_images = 500",
            'min_source_images = "500"',
            r"export\.min_source_images: expected an integer, got a string",
        ),
        (
            "min_source_images = 500",
            "min_source_images = true",
            r"export\.min_source_images: expected an integer, got a boolean",
        ),
        (
            "min_source_images = 500",
            "min_source_images = 500.0",
            r"export\.min_source_images: expected an integer, got a float",
        ),
        (
            "dp_required = true",
            "dp_required = 1",
            r"export\.dp_required: expected a boolean \(true or false\), got an integer",
        ),
        ("max_epsilon = 4.0", 'max_epsilon = "4"', r"export\.max_epsilon: expected a number, got a string"),
        ("max_epsilon = 4.0", "max_epsilon = nan", r"export\.max_epsilon: must be a finite number"),
        ("max_epsilon = 4.0", "max_epsilon = inf", r"export\.max_epsilon: must be a finite number"),
        ("max_epsilon = 4.0", "max_epsilon = 0", r"export\.max_epsilon: must be greater than 0"),
        ("max_delta = 1e-6", "max_delta = 1.5", r"export\.max_delta: must be at least 0 and below 1"),
        (
            'data_use = ["HMB", "IRB"]',
            'data_use = "HMB"',
            r"export\.data_use: expected an array of strings, got a string",
        ),
        (
            'data_use = ["HMB", "IRB"]',
            'data_use = ["HMB", 3]',
            r"export\.data_use\[1\]: expected a non-empty string, got an integer",
        ),
        ("[[export.recipients]]", "[export.recipients]", r"export\.recipients: expected an array of tables"),
        ("version = 1", "version = 0", r"policy\.version: must be at least 1"),
        (
            "valid_from = 2027-01-01",
            "valid_from = 2027-01-01T00:00:00",
            r"policy\.valid_from: a date-time needs a UTC offset",
        ),
        ("valid_from = 2027-01-01", 'valid_from = "2027-01-01"', r"policy\.valid_from: expected a date"),
    ],
)
def test_wrong_type_is_rejected_and_named(old, new, message):
    assert old in EXPORT_TOML
    invalid(EXPORT_TOML.replace(old, new, 1), message)


# --- missing fields --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('id = "test-export"\n', "policy.id"),
        ("valid_until = 2028-01-01\n", "policy.valid_until"),
        ("dp_required = true\n", "export.dp_required"),
        ("max_epsilon = 4.0\n", "export.max_epsilon"),
        ("max_lifetime_days = 365\n", "export.max_lifetime_days"),
        ('data_use = ["HMB", "IRB"]\n', "export.data_use"),
        ("allow_public = false\n", "export.allow_public"),
    ],
)
def test_missing_required_key_is_rejected_and_named(line, key):
    invalid(EXPORT_TOML.replace(line, "", 1), re.escape(key) + ": required key is missing")


def test_missing_purpose_is_rejected():
    text = IMPORT_TOML[: IMPORT_TOML.index("[import.purpose]")]
    invalid(text, r"import\.purpose: required key is missing")


def test_policy_without_rules_is_rejected():
    invalid(EXPORT_TOML[: EXPORT_TOML.index("[export]")], r"needs an \[export\] or an \[import\] table")


# --- validity ---------------------------------------------------------------------------------


def test_expired_policy_is_rejected():
    # Freeze attack: a policy nobody reviewed for years keeps authorising releases.
    with pytest.raises(InvalidPolicy, match=r"policy\.valid_until: policy expired at 2028-01-01T00:00:00Z"):
        policy_from(EXPORT_TOML, now=dt.datetime(2028, 1, 1, tzinfo=dt.UTC))


def test_not_yet_valid_policy_is_rejected():
    with pytest.raises(InvalidPolicy, match=r"policy\.valid_from: policy is not valid yet"):
        policy_from(EXPORT_TOML, now=dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.UTC))


def test_validity_window_must_not_be_empty():
    invalid(
        EXPORT_TOML.replace("valid_until = 2028-01-01", "valid_until = 2027-01-01"),
        r"policy\.valid_until: must be after valid_from",
    )


def test_offset_datetimes_are_converted_to_utc():
    text = EXPORT_TOML.replace("valid_from = 2027-01-01", "valid_from = 2027-01-01T02:00:00+02:00")
    assert policy_from(text).valid_from == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)


# --- contradictions ---------------------------------------------------------------------------------


def test_epsilon_cap_without_dp_requirement_is_rejected():
    # It would read as a privacy cap while letting a release without DP through.
    invalid(
        EXPORT_TOML.replace("dp_required = true", "dp_required = false"),
        r"export\.max_epsilon: only allowed with dp_required = true",
    )


def test_budget_below_the_per_release_cap_is_rejected():
    invalid(
        EXPORT_TOML.replace("dataset_epsilon_budget = 10.0", "dataset_epsilon_budget = 1.0"),
        r"export\.dataset_epsilon_budget: is smaller than max_epsilon",
    )


def test_bad_key_id_is_rejected():
    invalid(
        EXPORT_TOML.replace('key_id = "', 'key_id = "sha256:', 1),
        r"export\.recipients\[0\]\.key_id: not a key id \(64 lower-case hex digits\)",
    )


def test_unknown_data_use_code_is_rejected():
    invalid(EXPORT_TOML.replace('["HMB", "IRB"]', '["HMB", "ABC"]'), r"export\.data_use: unknown data-use code 'ABC'")


def test_card_allow_entry_under_a_never_entry_is_rejected():
    invalid(
        EXPORT_TOML.replace('never = ["patient_ids", "dataset.site"]', 'never = ["dataset"]'),
        r"export\.card: allow entry 'dataset' is withheld anyway by never entry 'dataset'",
    )


def test_spec_ids_and_accept_any_spec_together_are_rejected():
    invalid(
        IMPORT_TOML.replace("max_age_days = 365", "max_age_days = 365\naccept_any_spec = true", 1),
        r"import\.spec_ids: give exactly one of spec_ids and accept_any_spec = true",
    )


def test_import_with_neither_spec_ids_nor_accept_any_spec_is_rejected():
    invalid(
        IMPORT_TOML.replace(f'spec_ids = ["{SPEC_A}"]\n', "", 1),
        r"import\.spec_ids: give exactly one of spec_ids and accept_any_spec = true",
    )


def test_empty_per_issuer_spec_list_is_rejected():
    invalid(
        IMPORT_TOML.replace(f'spec_ids = ["{SPEC_A}", "{SPEC_B}"]', "spec_ids = []"),
        r"import\.issuers\[1\]\.spec_ids: must not be empty",
    )


def test_export_that_can_reach_nobody_is_rejected():
    start = EXPORT_TOML.index("[[export.recipients]]")
    text = EXPORT_TOML[:start] + EXPORT_TOML[EXPORT_TOML.index("[export.card]") :]
    invalid(text, r"export\.recipients: required unless allow_public or allow_any_recipient")


def test_import_without_issuers_or_allow_any_is_rejected():
    text = IMPORT_TOML[: IMPORT_TOML.index("[[import.issuers]]")] + IMPORT_TOML[IMPORT_TOML.index("[import.purpose]") :]
    invalid(text, r"import\.issuers: required unless allow_any_issuer = true")


def test_issuer_exemption_carrying_an_epsilon_cap_is_rejected():
    invalid(
        IMPORT_TOML.replace("dp_required = false\n", "dp_required = false\nmax_epsilon = 3.0\n"),
        r"import\.issuers\[1\]\.max_epsilon: only allowed when DP is required of this issuer",
    )


def test_disease_research_without_diseases_is_rejected():
    invalid(
        IMPORT_TOML.replace('research_area = "biomedical"', 'research_area = "disease"'),
        r"import\.purpose: diseases are required",
    )


# --- the file itself ---------------------------------------------------------------------------------


def test_missing_file_is_invalid_policy(tmp_path):
    with pytest.raises(InvalidPolicy, match="cannot read policy") as info:
        load_policy(tmp_path / "nope.toml", now=NOW)
    assert info.value.exit_code == 3


def test_non_utf8_file_is_rejected(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(
        EXPORT_TOML.replace('id = "test-export"', 'id = "x"\ndescription = "Kr\xe4nkenhaus"').encode("latin-1")
    )
    with pytest.raises(InvalidPolicy, match=rf"{path}: not UTF-8 text"):
        load_policy(path, now=NOW)


def test_oversized_file_is_rejected_before_parsing(tmp_path):
    path = tmp_path / "big.toml"
    path.write_bytes(EXPORT_TOML.encode() + b"#" * (1 << 20))
    with pytest.raises(InvalidPolicy, match="more than the limit"):
        load_policy(path, now=NOW)


def test_relative_audit_log_is_resolved_against_the_policy_folder(tmp_path):
    path = tmp_path / "conf" / "p.toml"
    path.parent.mkdir()
    path.write_text(EXPORT_TOML.replace("version = 1", 'version = 1\naudit_log = "logs/audit.jsonl"'))
    assert load_policy(path, now=NOW).audit_log == tmp_path / "conf" / "logs" / "audit.jsonl"


# --- structured garbage ---------------------------------------------------------------------------

_VALUES = st.sampled_from(
    [
        "1",
        "0",
        "-3",
        "1.5",
        "nan",
        "true",
        '"x"',
        '""',
        "[]",
        '["HMB"]',
        "[1, 2]",
        "{}",
        "{ a = 1 }",
        "2027-01-01",
        "2027-01-01T00:00:00",
        "12:00:00",
        '"' + "a" * 64 + '"',
    ]
)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_policy_raises_only_invalid_policy(data):
    # Whatever a hand edit does to a policy, the parser answers with InvalidPolicy or a Policy.
    text = data.draw(st.sampled_from([EXPORT_TOML, IMPORT_TOML]))
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["delete", "duplicate", "revalue"]))
        if action == "delete":
            del lines[index]
        elif action == "duplicate":
            lines.insert(index, lines[index])
        elif "=" in lines[index]:
            key = lines[index].split("=", 1)[0]
            lines[index] = f"{key}= {data.draw(_VALUES)}"
        if not lines:
            break
    with contextlib.suppress(InvalidPolicy):
        policy_from("\n".join(lines))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_invalid_policy(garbage):
    with pytest.raises(InvalidPolicy):
        parse_policy(garbage, source="garbage.toml", now=NOW)
