"""Helpers for the governance tests: a fixed clock, small policies, passing requests.

Each policy here is valid at ``NOW``; each request or fact set passes its policy, so a
test changes exactly one thing and asserts exactly one reason.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from pathlib import Path

from secfp.governance import ExportRequest, ImportFacts, Party, Policy, parse_policy

NOW = dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.UTC)


def kid(name: str) -> str:
    """A key id that looks like the real thing (64 lower-case hex digits)."""
    return hashlib.sha256(f"test-key:{name}".encode()).hexdigest()


PARTNER = Party(name="partner", key_id=kid("partner"))
SISTER = Party(name="sister", key_id=kid("sister"))
STRANGER = Party(name="stranger", key_id=kid("stranger"))
SPEC_A = hashlib.sha256(b"spec-a").hexdigest()
SPEC_B = hashlib.sha256(b"spec-b").hexdigest()

HEADER = """
[policy]
id = "{id}"
version = 1
valid_from = 2027-01-01
valid_until = 2028-01-01
"""

EXPORT_TOML = (
    HEADER.format(id="test-export")
    + f"""
[export]
min_source_images = 500
min_sampled_images = 200
dp_required = true
max_epsilon = 4.0
max_delta = 1e-6
dataset_epsilon_budget = 10.0
allow_public = false
max_lifetime_days = 365
data_use = ["HMB", "IRB"]

[[export.recipients]]
name = "partner"
key_id = "{PARTNER.key_id}"

[export.card]
allow = ["task", "modality", "dataset"]
never = ["patient_ids", "dataset.site"]
"""
)

IMPORT_TOML = (
    HEADER.format(id="test-import")
    + f"""
[import]
allow_any_issuer = false
dp_required = true
max_epsilon = 8.0
max_delta = 1e-5
max_age_days = 365
spec_ids = ["{SPEC_A}"]

[[import.issuers]]
name = "partner"
key_id = "{PARTNER.key_id}"

[[import.issuers]]
name = "sister"
key_id = "{SISTER.key_id}"
dp_required = false
max_age_days = 730
spec_ids = ["{SPEC_A}", "{SPEC_B}"]

[import.purpose]
research_area = "biomedical"
methods_development = true
commercial = false
for_profit_organisation = false
ethics_approval = true
accept_obligations = ["PUB"]
"""
)


def policy_from(text: str, *, now: dt.datetime = NOW, source: str = "test.toml") -> Policy:
    return parse_policy(text.encode(), source=source, now=now)


def export_request(**changes) -> ExportRequest:
    """A request that passes ``EXPORT_TOML``; keyword arguments change single facts."""
    base = ExportRequest(
        now=NOW,
        source_image_count=1000,
        sampled_count=300,
        dp_mechanism="discrete_gaussian",
        epsilon=2.0,
        delta=1e-7,
        dataset_spent_epsilon=0.0,
        recipients=(PARTNER,),
        public=False,
        lifetime=dt.timedelta(days=90),
        card_fields=("dataset.name", "modality", "task"),
        data_use=("HMB", "IRB"),
    )
    return dataclasses.replace(base, **changes)


def import_facts(**changes) -> ImportFacts:
    """Facts that pass ``IMPORT_TOML``; keyword arguments change single facts."""
    base = ImportFacts(
        now=NOW,
        issuer=PARTNER,
        dp_mechanism="discrete_gaussian",
        epsilon=4.0,
        delta=1e-6,
        issued_at=NOW - dt.timedelta(days=10),
        spec_id=SPEC_A,
        data_use=("HMB", "IRB"),
    )
    return dataclasses.replace(base, **changes)


REPO = Path(__file__).resolve().parents[2]
