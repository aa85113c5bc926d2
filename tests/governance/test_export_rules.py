"""Every export rule: one request allowed, one refused, with the reason text.

Attack class throughout: over-release. A data holder (or a script, or a mistake)
tries to release more than the data-protection officer allowed.
"""

from __future__ import annotations

import datetime as dt

import pytest
from gov_helpers import EXPORT_TOML, IMPORT_TOML, NOW, PARTNER, STRANGER, export_request, kid, policy_from

from secfp.errors import PolicyViolation
from secfp.governance import AllOf, Party, evaluate_export


def refusal(policy, request) -> tuple[str, ...]:
    verdict = evaluate_export(policy, request)
    assert not verdict.allowed
    return verdict.reasons


def test_baseline_request_is_allowed(export_policy):
    verdict = evaluate_export(export_policy, export_request())
    assert verdict.allowed and verdict.reasons == ()
    assert verdict.policy_id == "test-export" and verdict.policy_digest == export_policy.digest
    assert verdict.raise_if_refused() is verdict


# --- min_source_images -----------------------------------------------------------------


def test_dataset_at_minimum_size_is_allowed(export_policy):
    assert evaluate_export(export_policy, export_request(source_image_count=500)).allowed


def test_dataset_below_minimum_size_is_refused(export_policy):
    assert refusal(export_policy, export_request(source_image_count=499)) == (
        "export.min_source_images: the dataset has 499 images, at least 500 are required",
    )


# --- min_sampled_images ----------------------------------------------------------------


def test_sample_at_minimum_size_is_allowed(export_policy):
    assert evaluate_export(export_policy, export_request(sampled_count=200)).allowed


def test_sample_below_minimum_size_is_refused(export_policy):
    assert refusal(export_policy, export_request(sampled_count=199)) == (
        "export.min_sampled_images: 199 images were sampled, at least 200 are required",
    )


# --- dp_required -------------------------------------------------------------------------


def test_release_without_dp_is_refused_when_dp_is_required(export_policy):
    reasons = refusal(export_policy, export_request(dp_mechanism="none", epsilon=None, delta=None))
    assert reasons == ("export.dp_required: differential privacy is required, the release uses mechanism 'none'",)


def test_release_without_dp_is_allowed_when_dp_is_not_required():
    text = EXPORT_TOML.replace("dp_required = true", "dp_required = false")
    for line in ("max_epsilon = 4.0\n", "max_delta = 1e-6\n", "dataset_epsilon_budget = 10.0\n"):
        text = text.replace(line, "")
    policy = policy_from(text)
    assert evaluate_export(policy, export_request(dp_mechanism="none", epsilon=None, delta=None)).allowed


# --- max_epsilon / max_delta -----------------------------------------------------------


def test_epsilon_at_the_cap_is_allowed(export_policy):
    assert evaluate_export(export_policy, export_request(epsilon=4.0)).allowed


def test_epsilon_above_the_cap_is_refused(export_policy):
    assert refusal(export_policy, export_request(epsilon=4.5)) == (
        "export.max_epsilon: epsilon 4.5 is above the cap of 4",
    )


def test_delta_at_the_cap_is_allowed(export_policy):
    assert evaluate_export(export_policy, export_request(delta=1e-6)).allowed


def test_delta_above_the_cap_is_refused(export_policy):
    assert refusal(export_policy, export_request(delta=1e-5)) == (
        "export.max_delta: delta 1e-05 is above the cap of 1e-06",
    )


# --- dataset_epsilon_budget --------------------------------------------------------------


def test_release_that_exactly_spends_the_budget_is_allowed(export_policy):
    assert evaluate_export(export_policy, export_request(epsilon=4.0, dataset_spent_epsilon=6.0)).allowed


def test_release_beyond_the_dataset_budget_is_refused(export_policy):
    assert refusal(export_policy, export_request(epsilon=4.0, dataset_spent_epsilon=7.0)) == (
        "export.dataset_epsilon_budget: this release (epsilon 4) would bring the dataset to 11 "
        "of its budget of 10 (3 left)",
    )


# --- recipients ----------------------------------------------------------------------------


def test_listed_recipient_is_allowed(export_policy):
    assert evaluate_export(export_policy, export_request(recipients=(PARTNER,))).allowed


def test_unlisted_recipient_is_refused(export_policy):
    reasons = refusal(export_policy, export_request(recipients=(PARTNER, STRANGER)))
    assert reasons == (f"export.recipients: recipient stranger ({STRANGER.key_id[:12]}…) is not on the allow-list",)


def test_listed_name_with_another_key_is_refused(export_policy):
    # Attack: a look-alike identity card reusing a partner's name.
    impostor = Party(name="partner", key_id=kid("impostor"))
    reasons = refusal(export_policy, export_request(recipients=(impostor,)))
    assert reasons == (
        f"export.recipients: recipient partner ({impostor.key_id[:12]}…) has another key than the "
        f"allow-list names for 'partner' ({PARTNER.key_id[:12]}…)",
    )


def test_bundle_without_recipients_that_is_not_public_is_refused(export_policy):
    assert refusal(export_policy, export_request(recipients=())) == (
        "export.recipients: the bundle names no recipients and is not public",
    )


def test_any_recipient_is_allowed_when_the_policy_says_so():
    policy = policy_from(
        EXPORT_TOML.replace("allow_public = false", "allow_public = false\nallow_any_recipient = true")
    )
    assert evaluate_export(policy, export_request(recipients=(STRANGER,))).allowed


# --- allow_public --------------------------------------------------------------------------


def test_public_bundle_is_refused_when_not_allowed(export_policy):
    assert refusal(export_policy, export_request(public=True, recipients=())) == (
        "export.allow_public: public (unencrypted) bundles are not allowed",
    )


def test_public_bundle_is_allowed_when_allowed():
    policy = policy_from(EXPORT_TOML.replace("allow_public = false", "allow_public = true"))
    assert evaluate_export(policy, export_request(public=True, recipients=())).allowed


# --- max_lifetime_days -----------------------------------------------------------------------


def test_bundle_living_the_maximum_is_allowed(export_policy):
    assert evaluate_export(export_policy, export_request(lifetime=dt.timedelta(days=365))).allowed


def test_bundle_living_too_long_is_refused(export_policy):
    assert refusal(export_policy, export_request(lifetime=dt.timedelta(days=366))) == (
        "export.max_lifetime_days: the bundle would live 366 days, at most 365 are allowed",
    )


def test_bundle_with_no_lifetime_is_refused(export_policy):
    assert refusal(export_policy, export_request(lifetime=dt.timedelta(0))) == (
        "export.max_lifetime_days: the bundle's lifetime must be positive",
    )


# --- card ---------------------------------------------------------------------------------------


def test_allowed_card_fields_are_allowed(export_policy):
    assert evaluate_export(export_policy, export_request(card_fields=("task", "dataset.name"))).allowed


def test_card_field_on_the_never_list_is_refused(export_policy):
    assert refusal(export_policy, export_request(card_fields=("task", "patient_ids"))) == (
        "export.card: field 'patient_ids' is on the never-list (patient_ids)",
    )


def test_card_field_on_the_never_list_in_other_case_is_refused(export_policy):
    # Attack: slipping a forbidden field out under a different spelling.
    assert refusal(export_policy, export_request(card_fields=("Dataset.Site",))) == (
        "export.card: field 'Dataset.Site' is on the never-list (dataset.site)",
    )


def test_card_field_not_on_the_allow_list_is_refused(export_policy):
    assert refusal(export_policy, export_request(card_fields=("notes",))) == (
        "export.card: field 'notes' is not on the allow-list",
    )


# --- data_use -------------------------------------------------------------------------------------


def test_statement_carrying_the_policy_terms_and_more_is_allowed(export_policy):
    assert evaluate_export(export_policy, export_request(data_use=("HMB", "IRB", "NCU"))).allowed


def test_statement_dropping_a_data_use_term_is_refused(export_policy):
    assert refusal(export_policy, export_request(data_use=("HMB",))) == (
        "export.data_use: the statement must carry data-use terms IRB",
    )


# --- validity, deny by default, every reason ----------------------------------------------------


def test_export_after_the_policy_expired_is_refused(export_policy):
    # Freeze attack on governance: a long-running process keeps using a stale policy.
    late = NOW.replace(year=2028, month=6)
    (reason,) = refusal(export_policy, export_request(now=late))
    assert reason.startswith("policy: not in force at 2028-06-01T12:00:00Z")


def test_export_under_an_import_only_policy_is_refused():
    policy = policy_from(IMPORT_TOML)
    assert refusal(policy, export_request()) == ("policy test-import has no [export] rules, so it allows no export",)


def test_empty_rule_list_denies():
    assert AllOf([]).reasons(export_request()) == ("empty policy: nothing is allowed",)


def test_refusal_lists_every_reason_not_only_the_first(export_policy):
    request = export_request(
        source_image_count=10,
        epsilon=9.0,
        recipients=(STRANGER,),
        lifetime=dt.timedelta(days=999),
        card_fields=("patient_ids",),
    )
    verdict = evaluate_export(export_policy, request)
    keys = [reason.split(":")[0] for reason in verdict.reasons]
    assert keys == [
        "export.min_source_images",
        "export.max_epsilon",
        "export.recipients",
        "export.max_lifetime_days",
        "export.card",
    ]
    with pytest.raises(PolicyViolation, match="refused by policy test-export") as info:
        verdict.raise_if_refused()
    assert info.value.exit_code == 5
    assert info.value.reasons == verdict.reasons
    assert info.value.policy_id == "test-export"


def test_verdict_round_trips_through_json(export_policy):
    from secfp.governance import Verdict

    verdict = evaluate_export(export_policy, export_request(epsilon=9.0))
    assert Verdict.from_json(verdict.to_json()) == verdict


def test_export_request_round_trips_through_json():
    from secfp.governance import ExportRequest

    request = export_request()
    assert ExportRequest.from_json(request.to_json()) == request


def test_inconsistent_export_request_cannot_be_built():
    with pytest.raises(ValueError, match="public bundle has no recipients"):
        export_request(public=True)
    with pytest.raises(ValueError, match="without DP has no epsilon"):
        export_request(dp_mechanism="none")
    with pytest.raises(ValueError, match="timezone-aware"):
        export_request(now=dt.datetime(2027, 1, 1))
