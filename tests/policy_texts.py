"""Policy texts the tests share: an import policy that takes DP bundles from any trusted issuer.

A module of its own (not a conftest) so that any test folder imports it by one unique name;
``tests/`` is on the import path because it holds the root conftest.
"""

from __future__ import annotations

__all__ = ["dp_import_policy"]


def dp_import_policy(policy_id: str, *, valid_from: str = "2020-01-01", valid_until: str = "2100-01-01") -> str:
    """TOML of an import policy: any trusted issuer, DP required (epsilon <= 8), at most a year old,
    any spec, for non-commercial biomedical methods research with ethics approval."""
    return f"""
[policy]
id = "{policy_id}"
version = 1
valid_from = {valid_from}
valid_until = {valid_until}

[import]
allow_any_issuer = true
dp_required = true
max_epsilon = 8.0
max_age_days = 365
accept_any_spec = true

[import.purpose]
research_area = "biomedical"
methods_development = true
commercial = false
for_profit_organisation = false
ethics_approval = true
"""
