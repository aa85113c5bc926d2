"""The report model: rows follow the ranking and copy each verified statement; JSON round trip."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from report_helpers import NOW, SCRIPT_NAME

from secfp.errors import BadInput, UsageError
from secfp.matching.ranking import MatchResult
from secfp.report import QueryInfo, Report, SourceRow, build_report


def _build(scenario, **changes):
    args = dict(query_name="q", query_fp=scenario.query_fp, ranking=scenario.ranking,
                statements=scenario.statements, plan=scenario.plan, variant="small", now=NOW)
    args.update(changes)
    return build_report(**args)


def test_rows_follow_the_ranking_and_copy_each_statement(scenario, report):
    assert [(r.rank, r.source, r.distance) for r in report.rows] == [
        (m.rank, m.source, m.distance) for m in scenario.ranking]
    for row in report.rows:
        statement = scenario.statements[row.source]
        if statement is None:
            continue
        assert row.verified and row.variant == "small"
        assert row.issuer == statement.issuer_name and row.issuer_key_id == statement.issuer_key_id
        assert row.bundle_id == statement.bundle_id
        assert row.checks == statement.checks
        assert row.privacy == statement.privacy
        assert row.expires_at == statement.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert row.public == statement.public


def test_dp_source_carries_its_ledger_and_data_use_terms(scenario, report):
    row = next(r for r in report.rows if r.source == scenario.labels["us"])
    assert row.task == SCRIPT_NAME
    assert row.privacy["mechanism"] == "discrete_gaussian"
    assert row.privacy["epsilon"] <= 4.0 and row.privacy["delta"] == 1e-5 and row.privacy["sigma"] > 0
    assert row.policy_id == "carol-export-2025" and row.data_use == ("HMB", "NCU", "IRB")
    assert "decryption" in row.checks and "audience" in row.checks


def test_unsigned_file_gets_no_provenance_and_a_note(scenario, report):
    row = next(r for r in report.rows if r.source == scenario.labels["fundus"])
    assert not row.verified
    assert (row.issuer, row.bundle_id, row.privacy, row.checks, row.data_use) == (None, None, None, (), ())
    assert any("1 of 3 sources are unsigned" in n for n in report.notes)


def test_query_and_plan_are_recorded(scenario, report):
    assert report.query == QueryInfo(name="our CT task (ct/a)", spec_id=scenario.query_fp.spec_id, n=16,
                                     noisy=False, features=1280, bins=100)
    assert report.plan == json.loads(json.dumps(scenario.plan.to_json()))
    assert report.generated_at == "2025-06-01T12:00:00Z"


def test_report_round_trips_through_strict_json(report):
    text = json.dumps(report.to_json(), allow_nan=False)
    again = Report.from_json(json.loads(text))
    assert again == report
    assert again.to_json() == report.to_json()


def test_report_holds_private_copies_of_statement_data(scenario):
    statement = scenario.statements[scenario.labels["us"]]
    built = _build(scenario)
    row = next(r for r in built.rows if r.source == scenario.labels["us"])
    row.to_json()["privacy"]["epsilon"] = 0.0
    assert row.privacy["epsilon"] == statement.privacy["epsilon"]


def test_ranked_source_without_statement_entry_is_a_usage_error(scenario):
    # A caller that forgets a source must not silently get an "unsigned" row.
    partial = {k: v for k, v in scenario.statements.items() if k != scenario.labels["ct"]}
    with pytest.raises(UsageError, match="no statement entry"):
        _build(scenario, statements=partial)


def test_expired_statement_is_noted(scenario):
    later = _build(scenario, now=NOW + timedelta(days=365))
    assert any("2 statements have expired" in n for n in later.notes)


def test_naive_clock_is_refused(scenario):
    with pytest.raises(UsageError, match="timezone-aware"):
        _build(scenario, now=NOW.replace(tzinfo=None))


def test_empty_ranking_is_refused(scenario):
    with pytest.raises(UsageError, match="at least one"):
        _build(scenario, ranking=[])


def test_non_finite_distance_is_refused(scenario):
    bad = [MatchResult(scenario.labels["fundus"], float("nan"), 1)]
    with pytest.raises(BadInput, match="finite"):
        _build(scenario, ranking=bad)


def test_unverified_row_naming_an_issuer_is_refused():
    with pytest.raises(BadInput, match="unverified"):
        SourceRow(rank=1, source="x", distance=0.1, variant="small", verified=False, issuer="mallory")


@pytest.mark.parametrize("change", [{"v": 2}, {"kind": "secfp.fingerprint"}, {"extra": 1}])
def test_report_json_of_another_kind_or_version_is_refused(report, change):
    obj = {**report.to_json(), **change}
    with pytest.raises(BadInput):
        Report.from_json(obj)


def test_report_without_plan(scenario):
    built = _build(scenario, plan=None, notes=("reviewed by the data protection officer",))
    assert built.plan is None and built.notes[-1] == "reviewed by the data protection officer"
    assert replace(built, notes=()).notes == ()
