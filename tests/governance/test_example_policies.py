"""The shipped example policies parse and behave as their comments claim.

The clock is fixed inside their validity window so that these tests do not start
failing on the day an example expires (``policy check`` will say so instead).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from gov_helpers import NOW, REPO, kid

from secfp.governance import (
    ExportRequest,
    ImportFacts,
    Party,
    evaluate_export,
    evaluate_import,
    load_policy,
)

POLICIES = REPO / "policies"
TESTED = {"hospital-default.toml", "open-research.toml", "strict.toml", "import-default.toml"}

HEIDELBERG = Party(name="uni-heidelberg", key_id="dce309cdf4526c4eb497ccca626bb8999f2e868af86d5a82fd6d79bfdc62e81b")
CHARITE = Party(name="charite-berlin", key_id="38b5267e2e4717e95f5e6fc3004ffc1c5843af8ff0f07be73a8e3bb38b2d0d3d")
DKFZ = Party(name="dkfz-hd", key_id="cccc255d86faca10dbc8a02c5fe6ead336ea1bd5e062ac7a7e6a23f9d487359f")
SISTER = Party(name="sister-clinic", key_id="d446283b9dcde8670d1d1296f8657429014c091750ce84eb129a54bf4ef9c15e")
OTHER = Party(name="some-lab", key_id=kid("some-lab"))


def load(name: str):
    return load_policy(POLICIES / name, now=NOW)


def request(**changes) -> ExportRequest:
    values = dict(
        now=NOW,
        source_image_count=5000,
        sampled_count=2000,
        dp_mechanism="discrete_gaussian",
        epsilon=1.0,
        delta=1e-8,
        dataset_spent_epsilon=0.0,
        recipients=(HEIDELBERG,),
        public=False,
        lifetime=dt.timedelta(days=30),
        card_fields=("task.name", "task.modality"),
        data_use=(),
        privacy_unit="patient",
    )
    values.update(changes)
    return ExportRequest(**values)


def facts(**changes) -> ImportFacts:
    values = dict(
        now=NOW,
        issuer=OTHER,
        dp_mechanism="discrete_gaussian",
        epsilon=2.0,
        delta=1e-7,
        issued_at=NOW - dt.timedelta(days=10),
        spec_id="0" * 64,
        data_use=("HMB",),
    )
    values.update(changes)
    return ImportFacts(**values)


def reasons_export(policy, **changes) -> tuple[str, ...]:
    changes.setdefault("data_use", policy.export.data_use)
    return evaluate_export(policy, request(**changes)).reasons


def test_every_shipped_policy_is_covered_here():
    assert {p.name for p in POLICIES.glob("*.toml")} == TESTED


@pytest.mark.parametrize("name", sorted(TESTED))
def test_shipped_policy_parses_with_its_file_name_as_id(name):
    policy = load(name)
    assert policy.id == name.removesuffix(".toml")
    assert policy.valid_from <= NOW < policy.valid_until


# --- hospital-default --------------------------------------------------------------------------


def test_hospital_default_requires_dp_with_caps_and_a_dataset_budget():
    p = load("hospital-default.toml")
    assert reasons_export(p) == ()
    assert reasons_export(p, dp_mechanism="none", epsilon=None, delta=None)[0].startswith("export.dp_required")
    assert reasons_export(p, epsilon=4.0) == ()
    assert reasons_export(p, epsilon=4.01)[0].startswith("export.max_epsilon")
    assert reasons_export(p, delta=2e-6)[0].startswith("export.max_delta")
    assert reasons_export(p, epsilon=4.0, dataset_spent_epsilon=6.0) == ()
    assert reasons_export(p, epsilon=4.0, dataset_spent_epsilon=6.5)[0].startswith("export.dataset_epsilon_budget")


def test_hospital_default_protects_the_patient_not_a_volume_or_an_image():
    p = load("hospital-default.toml")
    assert reasons_export(p, privacy_unit="patient") == ()
    for unit in ("volume", "image", None):
        assert reasons_export(p, privacy_unit=unit)[0].startswith("export.privacy_unit")


def test_hospital_default_sends_only_to_named_partners_and_never_publicly():
    p = load("hospital-default.toml")
    assert reasons_export(p, recipients=(HEIDELBERG, CHARITE)) == ()
    assert reasons_export(p, recipients=(OTHER,))[0].startswith("export.recipients")
    assert reasons_export(p, recipients=(), public=True) == (
        "export.allow_public: public (unencrypted) bundles are not allowed",
    )


def test_hospital_default_bundles_live_at_most_one_year():
    p = load("hospital-default.toml")
    assert reasons_export(p, lifetime=dt.timedelta(days=365)) == ()
    assert reasons_export(p, lifetime=dt.timedelta(days=366))[0].startswith("export.max_lifetime_days")


def test_hospital_default_minimum_dataset_and_sample():
    p = load("hospital-default.toml")
    assert reasons_export(p, source_image_count=500, sampled_count=200) == ()
    assert len(reasons_export(p, source_image_count=499, sampled_count=199)) == 2


def test_hospital_default_card_and_data_use_terms():
    p = load("hospital-default.toml")
    assert reasons_export(p, card_fields=("v", "task.name", "task.modality", "knowledge.architecture.name")) == ()
    assert reasons_export(p, card_fields=("patient_ids",)) == (
        "export.card: field 'patient_ids' is on the never-list (patient_ids)",
    )
    assert reasons_export(p, card_fields=("knowledge.pretrained_weights.uri",))[0].startswith("export.card")
    assert reasons_export(p, card_fields=("task.unknown",)) == (
        "export.card: field 'task.unknown' is not on the allow-list",
    )
    assert p.export.data_use == ("HMB", "NCU", "IRB")
    assert reasons_export(p, data_use=("HMB",)) == (
        "export.data_use: the statement must carry data-use terms NCU, IRB",
    )
    assert not evaluate_import(p, facts()).allowed


# --- open-research ------------------------------------------------------------------------------


def test_open_research_allows_public_bundles_without_dp_to_anyone():
    p = load("open-research.toml")
    assert reasons_export(p, dp_mechanism="none", epsilon=None, delta=None, recipients=(), public=True) == ()
    assert reasons_export(p, dp_mechanism="none", epsilon=None, delta=None, recipients=(OTHER,)) == ()
    assert p.export.data_use == ("GRU", "PUB")


def test_open_research_limits_lifetime_size_and_card():
    p = load("open-research.toml")
    assert reasons_export(p, lifetime=dt.timedelta(days=1095)) == ()
    assert reasons_export(p, lifetime=dt.timedelta(days=1096))[0].startswith("export.max_lifetime_days")
    assert reasons_export(p, source_image_count=49)[0].startswith("export.min_source_images")
    assert reasons_export(p, card_fields=("v", "task.name", "knowledge.pretrained_weights.uri")) == ()
    assert reasons_export(p, card_fields=("patient",))[0].startswith("export.card")


# --- strict ---------------------------------------------------------------------------------------


def test_strict_export_is_tight():
    p = load("strict.toml")
    ok = dict(recipients=(DKFZ,))
    assert reasons_export(p, **ok) == ()
    assert reasons_export(p, **ok, epsilon=1.5)[0].startswith("export.max_epsilon")
    assert reasons_export(p, **ok, delta=1e-6)[0].startswith("export.max_delta")
    assert reasons_export(p, **ok, dataset_spent_epsilon=1.0) == ()
    assert reasons_export(p, **ok, dataset_spent_epsilon=1.5)[0].startswith("export.dataset_epsilon_budget")
    assert reasons_export(p, **ok, source_image_count=1999)[0].startswith("export.min_source_images")
    assert reasons_export(p, **ok, sampled_count=999)[0].startswith("export.min_sampled_images")
    assert reasons_export(p, recipients=(HEIDELBERG,))[0].startswith("export.recipients")
    assert reasons_export(p, recipients=(), public=True)[0].startswith("export.allow_public")
    assert reasons_export(p, **ok, lifetime=dt.timedelta(days=91))[0].startswith("export.max_lifetime_days")
    assert reasons_export(p, **ok, card_fields=("task.name", "task.modality", "task.images")) == (
        "export.card: field 'task.images' is not on the allow-list",
    )
    assert reasons_export(p, **ok, card_fields=("knowledge.architecture.name",))[0].startswith("export.card")
    assert p.export.data_use == ("DS:MONDO:0004992", "NPUNCU", "IRB", "COL")
    assert reasons_export(p, **ok, privacy_unit="volume")[0].startswith("export.privacy_unit")
    assert reasons_export(p, **ok, dataset_explicit=False)[0].startswith("export.require_dataset")


def test_strict_import_pins_issuer_spec_dp_age_and_purpose():
    p = load("strict.toml")
    spec = json.loads((REPO / "secfp" / "specs" / "mobilenet_v2-b100.json").read_text())["spec_id"]
    ok = dict(issuer=DKFZ, spec_id=spec, epsilon=2.0, data_use=("DS:MONDO:0004992", "IRB"))
    assert evaluate_import(p, facts(**ok)).allowed
    assert evaluate_import(p, facts(**{**ok, "issuer": OTHER})).reasons[0].startswith("import.issuers")
    assert evaluate_import(p, facts(**{**ok, "epsilon": 2.5})).reasons[0].startswith("import.max_epsilon")
    assert (
        evaluate_import(p, facts(**{**ok, "dp_mechanism": "none", "epsilon": None, "delta": None}))
        .reasons[0]
        .startswith("import.dp_required")
    )
    old = NOW - dt.timedelta(days=31)
    assert evaluate_import(p, facts(**{**ok, "issued_at": old})).reasons[0].startswith("import.max_age_days")
    assert evaluate_import(p, facts(**{**ok, "spec_id": "1" * 64})).reasons[0].startswith("import.spec_ids")
    assert evaluate_import(p, facts(**{**ok, "data_use": ("HMB", "COL")})).reasons == (
        "import.purpose: COL is an obligation our policy does not accept (import.purpose.accept_obligations)",
    )
    assert (
        evaluate_import(p, facts(**{**ok, "data_use": ("DS:MONDO:0005015",)})).reasons[0].startswith("import.purpose")
    )


# --- import-default ---------------------------------------------------------------------------------


def test_import_default_accepts_dp_bundles_from_any_trusted_issuer():
    p = load("import-default.toml")
    assert evaluate_import(p, facts(epsilon=8.0, delta=1e-5, spec_id="a" * 64)).allowed
    assert evaluate_import(p, facts(epsilon=8.5)).reasons == ("import.max_epsilon: epsilon 8.5 is above the cap of 8",)
    assert evaluate_import(p, facts(delta=1e-4)).reasons[0].startswith("import.max_delta")
    assert (
        evaluate_import(p, facts(dp_mechanism="none", epsilon=None, delta=None))
        .reasons[0]
        .startswith("import.dp_required")
    )
    assert (
        evaluate_import(p, facts(issued_at=NOW - dt.timedelta(days=366))).reasons[0].startswith("import.max_age_days")
    )


def test_import_default_exempts_the_sister_clinic_from_dp():
    p = load("import-default.toml")
    no_dp = dict(issuer=SISTER, dp_mechanism="none", epsilon=None, delta=None)
    assert evaluate_import(p, facts(**no_dp, issued_at=NOW - dt.timedelta(days=700))).allowed
    assert (
        evaluate_import(p, facts(**no_dp, issued_at=NOW - dt.timedelta(days=731)))
        .reasons[0]
        .startswith("import.issuers[0].max_age_days")
    )
    impostor = Party(name="sister-clinic", key_id=kid("impostor"))
    assert evaluate_import(p, facts(issuer=impostor)).reasons[0].startswith("import.issuers")


def test_import_default_purpose_is_non_commercial_biomedical_methods_research():
    p = load("import-default.toml")
    for terms in [("HMB", "NCU", "NPU", "IRB", "PUB"), ("GRU",), ("NRES",)]:
        assert evaluate_import(p, facts(data_use=terms)).allowed, terms
    for terms, code in [(("HMB", "NMDS"), "NMDS"), (("HMB", "COL"), "COL"), (("POA",), "POA"), (("HMB", "GSO"), "GSO")]:
        (reason,) = evaluate_import(p, facts(data_use=terms)).reasons
        assert reason.startswith(f"import.purpose: {code}"), reason
    assert evaluate_import(p, facts(data_use=())).reasons == ("import.purpose: the bundle declares no data-use terms",)
    assert not evaluate_export(p, request(data_use=("HMB",))).allowed
