"""Every import rule: one bundle allowed, one refused, with the reason text.

Attack class throughout: a bundle that verifies cryptographically (a trusted signer,
addressed to us, fresh) but that our institution must not use.
"""

from __future__ import annotations

import datetime as dt

from gov_helpers import (
    EXPORT_TOML,
    IMPORT_TOML,
    NOW,
    PARTNER,
    SISTER,
    SPEC_A,
    SPEC_B,
    STRANGER,
    import_facts,
    kid,
    policy_from,
)

from secfp.governance import ImportFacts, Party, evaluate_import


def refusal(policy, facts) -> tuple[str, ...]:
    verdict = evaluate_import(policy, facts)
    assert not verdict.allowed
    return verdict.reasons


def test_baseline_bundle_is_accepted(import_policy):
    verdict = evaluate_import(import_policy, import_facts())
    assert verdict.allowed and verdict.action == "import"


def test_import_facts_round_trip_through_json():
    facts = import_facts()
    assert ImportFacts.from_json(facts.to_json()) == facts


# --- issuers -------------------------------------------------------------------------------


def test_unlisted_issuer_is_refused(import_policy):
    assert refusal(import_policy, import_facts(issuer=STRANGER)) == (
        f"import.issuers: issuer stranger ({STRANGER.key_id[:12]}…) is not listed",
    )


def test_listed_issuer_name_with_another_key_is_refused(import_policy):
    # Attack: a second card in the trust store under a partner's name.
    other = Party(name="partner", key_id=kid("rotated"))
    assert refusal(import_policy, import_facts(issuer=other)) == (
        f"import.issuers: issuer partner ({other.key_id[:12]}…) signs with another key than the policy "
        f"lists for 'partner' ({PARTNER.key_id[:12]}…)",
    )


def test_any_trusted_issuer_is_accepted_when_the_policy_says_so():
    policy = policy_from(IMPORT_TOML.replace("allow_any_issuer = false", "allow_any_issuer = true"))
    assert evaluate_import(policy, import_facts(issuer=STRANGER)).allowed


def test_any_issuer_policy_still_refuses_a_listed_name_with_another_key():
    policy = policy_from(IMPORT_TOML.replace("allow_any_issuer = false", "allow_any_issuer = true"))
    other = Party(name="sister", key_id=kid("rotated"))
    (reason,) = refusal(policy, import_facts(issuer=other))
    assert "signs with another key than the policy lists for 'sister'" in reason


def test_any_issuer_policy_applies_the_global_rules_to_unlisted_issuers():
    policy = policy_from(IMPORT_TOML.replace("allow_any_issuer = false", "allow_any_issuer = true"))
    assert refusal(policy, import_facts(issuer=STRANGER, epsilon=9.0)) == (
        "import.max_epsilon: epsilon 9 is above the cap of 8",
    )


# --- dp_required (global and per issuer) -------------------------------------------------------


def test_bundle_without_dp_is_refused(import_policy):
    assert refusal(import_policy, import_facts(dp_mechanism="none", epsilon=None, delta=None)) == (
        "import.dp_required: differential privacy is required, the release uses mechanism 'none'",
    )


def test_bundle_with_an_unknown_mechanism_is_refused(import_policy):
    (reason,) = refusal(import_policy, import_facts(dp_mechanism="laplace"))
    assert reason.startswith("import.dp_required:") and "'laplace'" in reason


def test_issuer_exempted_from_dp_may_send_bundles_without_dp(import_policy):
    facts = import_facts(issuer=SISTER, dp_mechanism="none", epsilon=None, delta=None)
    assert evaluate_import(import_policy, facts).allowed


# --- max_epsilon / max_delta ---------------------------------------------------------------------


def test_epsilon_at_the_import_cap_is_accepted(import_policy):
    assert evaluate_import(import_policy, import_facts(epsilon=8.0)).allowed


def test_epsilon_above_the_import_cap_is_refused(import_policy):
    assert refusal(import_policy, import_facts(epsilon=9.0)) == ("import.max_epsilon: epsilon 9 is above the cap of 8",)


def test_dp_bundle_without_an_epsilon_is_refused(import_policy):
    # A trusted issuer's claim is still a claim: DP without a number is not DP we can weigh.
    assert refusal(import_policy, import_facts(epsilon=None)) == (
        "import.max_epsilon: the release declares DP but no valid epsilon (None)",
    )


def test_delta_above_the_import_cap_is_refused(import_policy):
    assert refusal(import_policy, import_facts(delta=1e-3)) == (
        "import.max_delta: delta 0.001 is above the cap of 1e-05",
    )


def test_per_issuer_epsilon_cap_replaces_the_global_one():
    text = IMPORT_TOML.replace(f'key_id = "{PARTNER.key_id}"\n', f'key_id = "{PARTNER.key_id}"\nmax_epsilon = 2.0\n', 1)
    policy = policy_from(text)
    assert evaluate_import(policy, import_facts(epsilon=2.0)).allowed
    assert refusal(policy, import_facts(epsilon=3.0)) == (
        "import.issuers[0].max_epsilon: epsilon 3 is above the cap of 2",
    )


# --- max_age_days ----------------------------------------------------------------------------------


def test_bundle_at_the_maximum_age_is_accepted(import_policy):
    assert evaluate_import(import_policy, import_facts(issued_at=NOW - dt.timedelta(days=365))).allowed


def test_bundle_older_than_the_maximum_age_is_refused(import_policy):
    # Freeze/replay of stale knowledge: an old fingerprint that no longer describes the task.
    assert refusal(import_policy, import_facts(issued_at=NOW - dt.timedelta(days=366))) == (
        "import.max_age_days: the bundle was issued 366.0 days ago, at most 365 days are accepted",
    )


def test_per_issuer_age_limit_replaces_the_global_one(import_policy):
    assert evaluate_import(import_policy, import_facts(issuer=SISTER, issued_at=NOW - dt.timedelta(days=700))).allowed
    assert refusal(import_policy, import_facts(issuer=SISTER, issued_at=NOW - dt.timedelta(days=731))) == (
        "import.issuers[1].max_age_days: the bundle was issued 731.0 days ago, at most 730 days are accepted",
    )


# --- spec_ids ---------------------------------------------------------------------------------------


def test_bundle_with_an_accepted_spec_is_accepted(import_policy):
    assert evaluate_import(import_policy, import_facts(spec_id=SPEC_A)).allowed


def test_bundle_with_another_spec_is_refused(import_policy):
    assert refusal(import_policy, import_facts(spec_id=SPEC_B)) == (
        f"import.spec_ids: fingerprint spec '{SPEC_B}' is not accepted",
    )


def test_per_issuer_spec_list_replaces_the_global_one(import_policy):
    assert evaluate_import(import_policy, import_facts(issuer=SISTER, spec_id=SPEC_B)).allowed


def test_any_spec_is_accepted_when_the_policy_says_so():
    policy = policy_from(IMPORT_TOML.replace(f'spec_ids = ["{SPEC_A}"]\n', "accept_any_spec = true\n", 1))
    assert evaluate_import(policy, import_facts(spec_id=SPEC_B)).allowed


# --- purpose (DUO) --------------------------------------------------------------------------------------


def test_bundle_whose_terms_allow_our_purpose_is_accepted(import_policy):
    assert evaluate_import(import_policy, import_facts(data_use=("HMB", "NCU", "PUB"))).allowed


def test_bundle_whose_terms_forbid_our_purpose_is_refused(import_policy):
    assert refusal(import_policy, import_facts(data_use=("HMB", "NMDS"))) == (
        "import.purpose: NMDS forbids methods development, and our purpose includes it",
    )


def test_bundle_without_data_use_terms_is_refused(import_policy):
    assert refusal(import_policy, import_facts(data_use=())) == (
        "import.purpose: the bundle declares no data-use terms",
    )


# --- validity, deny by default, every reason ----------------------------------------------------------


def test_import_before_the_policy_is_in_force_is_refused(import_policy):
    early = dt.datetime(2026, 12, 31, tzinfo=dt.UTC)
    (reason,) = refusal(import_policy, import_facts(now=early, issued_at=early - dt.timedelta(days=1)))
    assert reason.startswith("policy: not in force at 2026-12-31T00:00:00Z")


def test_import_under_an_export_only_policy_is_refused():
    assert refusal(policy_from(EXPORT_TOML), import_facts()) == (
        "policy test-export has no [import] rules, so it accepts no bundle",
    )


def test_import_refusal_lists_every_reason(import_policy):
    facts = import_facts(epsilon=50.0, spec_id=SPEC_B, issued_at=NOW - dt.timedelta(days=400), data_use=("POA",))
    keys = [reason.split(":")[0] for reason in evaluate_import(import_policy, facts).reasons]
    assert keys == ["import.max_epsilon", "import.max_age_days", "import.spec_ids", "import.purpose"]
