"""Import-policy bypass with unsigned files: ``match --policy`` must not rank what the policy cannot judge.

Attack: the import policy admits only DP bundles from listed issuers, but an
adversary hands the analyst a plain fingerprint file (no signature, no privacy
ledger). Ranked silently next to verified bundles, it steers the transfer
decision around the policy. Under a policy, unsigned inputs are now refused
(exit 5) unless ``--allow-unsigned``, which ranks them marked ``verified: false``.
"""

from __future__ import annotations

import json

from secfp.fingerprint.histogram import save_fingerprint
from secfp_peers import make_fingerprint

from _cli_world import cli

POLICY = """
[policy]
id = "import-dp"
version = 1
valid_from = 2025-01-01
valid_until = 2099-01-01

[import]
allow_any_issuer = true
dp_required = true
max_epsilon = 8.0
max_age_days = 365
spec_ids = ["any"]

[import.purpose]
research_area = "biomedical"
methods_development = true
commercial = false
for_profit_organisation = false
ethics_approval = true
accept_obligations = []
"""


def _files(tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    query, planted = tmp_path / "query.fp", tmp_path / "planted.fp"
    save_fingerprint(make_fingerprint(seed=1), query)
    save_fingerprint(make_fingerprint(seed=2), planted)
    return policy, query, planted


def test_unsigned_source_under_an_import_policy_is_refused(tmp_path):
    # Policy-bypass attack: an unsigned file carries no facts the policy could judge.
    policy, query, planted = _files(tmp_path)
    result = cli("match", query, planted, "--policy", policy, "--audit-log", tmp_path / "a.jsonl", "--json")
    assert result.exit_code == 5, result.output
    error = json.loads(result.stdout)["error"]
    (reason,) = error["details"]["reasons"]
    assert error["code"] == 5 and f"{planted} is an unsigned fingerprint file" in reason
    assert error["details"]["policy_id"] == "import-dp"


def test_allow_unsigned_ranks_it_marked_unverified(tmp_path):
    policy, query, planted = _files(tmp_path)
    result = cli("match", query, planted, "--policy", policy, "--allow-unsigned", "--audit-log", tmp_path / "a.jsonl",
                 "--json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["results"]
    assert row["verified"] is False
