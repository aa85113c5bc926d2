"""``secfp policy check`` and ``secfp audit verify/show`` through typer's CliRunner.

Exit codes (ARCHITECTURE.md): 0 ok, 3 malformed or expired policy / unreadable log,
4 broken audit chain. ``--json`` prints one document on stdout and keeps the code.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from gov_helpers import EXPORT_TOML, REPO
from typer.testing import CliRunner

from secfp.governance import AuditEvent, append_event, verify_log

runner = CliRunner()


@pytest.fixture(scope="module")
def app():
    from secfp.cli import app as secfp_app

    return secfp_app


def current_policy(tmp_path: Path, *, days_left: int = 30, extra: str = "") -> Path:
    """EXPORT_TOML made valid around the real clock (the CLI reads the real time)."""
    today = dt.datetime.now(dt.UTC).date()
    text = EXPORT_TOML.replace("valid_from = 2027-01-01", f"valid_from = {today - dt.timedelta(days=1)}")
    text = text.replace("valid_until = 2028-01-01", f"valid_until = {today + dt.timedelta(days=days_left)}")
    path = tmp_path / "policy.toml"
    path.write_text(text.replace("[export]\n", "[export]\n" + extra, 1))
    return path


def make_log(tmp_path: Path, count: int = 3) -> Path:
    log = tmp_path / "audit.jsonl"
    now = dt.datetime.now(dt.UTC)
    for n in range(count):
        append_event(
            log,
            AuditEvent(
                event="export",
                outcome="refused" if n == 1 else "ok",
                actor="alice@ws1",
                bundle_id=f"{n:032x}",
                policy_id="p",
                policy_digest="cd" * 32,
                reasons=("export.max_epsilon: epsilon 9 is above the cap of 4",) if n == 1 else (),
                epsilon_spent=1.0,
            ),
            now=now,
        )
    return log


# --- policy check ------------------------------------------------------------------------


def test_policy_check_prints_a_readable_summary(app, tmp_path):
    path = current_policy(tmp_path)
    result = runner.invoke(app, ["policy", "check", str(path)])
    assert result.exit_code == 0, result.stderr
    assert "policy test-export version 1: valid" in result.stdout
    assert "required, epsilon <= 4, delta <= 1e-06, dataset budget 10" in result.stdout
    assert "partner (" in result.stdout and "at most 365 days" in result.stdout


def test_policy_check_json_is_one_document(app, tmp_path):
    path = current_policy(tmp_path)
    result = runner.invoke(app, ["policy", "check", str(path), "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["id"] == "test-export" and len(doc["digest"]) == 64
    assert doc["export"]["max_epsilon"] == 4.0 and doc["import"] is None


def test_policy_check_of_a_shipped_example(app):
    result = runner.invoke(app, ["policy", "check", str(REPO / "policies" / "import-default.toml")])
    # The examples carry real validity dates; past them, check must say so with exit 3.
    if result.exit_code == 3:
        assert "expired" in result.stderr
    else:
        assert result.exit_code == 0, result.stderr
        assert "sister-clinic" in result.stdout


def test_policy_check_names_an_unknown_key_with_exit_3(app, tmp_path):
    path = current_policy(tmp_path, extra="max_epsilion = 1.0\n")
    result = runner.invoke(app, ["policy", "check", str(path), "--json"])
    assert result.exit_code == 3
    assert f"{path}: unknown key(s): export.max_epsilion (did you mean export.max_epsilon?)" in result.stderr
    assert json.loads(result.stdout)["error"]["code"] == 3  # --json: the failure is one JSON document


def test_policy_check_rejects_an_expired_policy_with_exit_3(app, tmp_path):
    path = current_policy(tmp_path, days_left=0)
    result = runner.invoke(app, ["policy", "check", str(path)])
    assert result.exit_code == 3
    assert "policy.valid_until: policy expired" in result.stderr


def test_policy_check_of_a_missing_file_exits_3(app, tmp_path):
    result = runner.invoke(app, ["policy", "check", str(tmp_path / "none.toml")])
    assert result.exit_code == 3


# --- audit verify ------------------------------------------------------------------------------


def test_audit_verify_reports_count_and_head(app, tmp_path):
    log = make_log(tmp_path)
    result = runner.invoke(app, ["audit", "verify", str(log)])
    assert result.exit_code == 0, result.stderr
    assert "3 records, chain intact" in result.stdout
    assert verify_log(log).head in result.stdout


def test_audit_verify_json(app, tmp_path):
    log = make_log(tmp_path)
    result = runner.invoke(app, ["audit", "verify", str(log), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"path": str(log), "records": 3, "head": verify_log(log).head, "ok": True}


def test_audit_verify_of_a_log_with_a_deleted_record_exits_4_and_says_where(app, tmp_path):
    # Cover-up attack: the refusal in the middle is removed.
    log = make_log(tmp_path)
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(lines[0] + lines[2])
    result = runner.invoke(app, ["audit", "verify", str(log)])
    assert result.exit_code == 4
    assert "line 2: chain broken" in result.stderr and "deleted" in result.stderr


def test_audit_verify_json_of_a_broken_log_still_prints_one_document(app, tmp_path):
    log = make_log(tmp_path)
    log.write_bytes(log.read_bytes()[:-10])
    result = runner.invoke(app, ["audit", "verify", str(log), "--json"])
    assert result.exit_code == 4
    doc = json.loads(result.stdout)["error"]
    assert doc["code"] == 4 and doc["details"]["ok"] is False
    assert "line 3: the last record is incomplete" in doc["message"]


def test_audit_verify_with_an_anchor_detects_cut_records(app, tmp_path):
    log = make_log(tmp_path)
    head = verify_log(log).head
    log.write_bytes(b"".join(log.read_bytes().splitlines(keepends=True)[:2]))
    assert runner.invoke(app, ["audit", "verify", str(log)]).exit_code == 0
    result = runner.invoke(app, ["audit", "verify", str(log), "--anchor", head])
    assert result.exit_code == 4 and "is not in the log" in result.stderr


def test_audit_verify_with_a_malformed_anchor_exits_2(app, tmp_path):
    result = runner.invoke(app, ["audit", "verify", str(make_log(tmp_path)), "--anchor", "HEAD"])
    assert result.exit_code == 2 and "is not a record hash" in result.stderr


def test_audit_verify_of_a_missing_log_exits_3(app, tmp_path):
    result = runner.invoke(app, ["audit", "verify", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 3 and "does not exist" in result.stderr


# --- audit show ------------------------------------------------------------------------------------


def test_audit_show_lists_records_with_reasons(app, tmp_path):
    log = make_log(tmp_path)
    result = runner.invoke(app, ["audit", "show", str(log)])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("#0  ") and "export  ok  alice@ws1" in lines[0]
    assert "refused" in lines[1] and lines[2].strip() == "- export.max_epsilon: epsilon 9 is above the cap of 4"


def test_audit_show_json_lists_every_record_with_its_hash(app, tmp_path):
    log = make_log(tmp_path)
    result = runner.invoke(app, ["audit", "show", str(log), "--json"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert [r["seq"] for r in doc] == [0, 1, 2]
    assert doc[1]["prev"] == doc[0]["hash"] and doc[-1]["hash"] == verify_log(log).head


def test_audit_show_of_a_tampered_log_exits_4(app, tmp_path):
    log = make_log(tmp_path)
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(lines[1] + lines[0] + lines[2])
    result = runner.invoke(app, ["audit", "show", str(log), "--json"])
    assert result.exit_code == 4 and json.loads(result.stdout)["error"]["code"] == 4
    assert "line 1: chain broken" in result.stderr
