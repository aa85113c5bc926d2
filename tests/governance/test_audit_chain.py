"""The audit log: record layout, chaining, appends, and where the log lives."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from pathlib import Path

import pytest
from gov_helpers import NOW, PARTNER, SISTER

from secfp._io import canonical_json
from secfp.errors import AuditChainBroken
from secfp.governance import (
    GENESIS,
    AuditEvent,
    append_event,
    default_audit_log,
    read_log,
    resolve_audit_log,
    verify_log,
)


def event(n: int = 0, **changes) -> AuditEvent:
    values = dict(
        event="export",
        outcome="ok",
        actor="alice@ws1",
        bundle_id=f"{n:032x}",
        recipients=(PARTNER,),
        policy_id="hospital-default",
        policy_digest="ab" * 32,
        dataset="chest-2024",
        epsilon_spent=1.0,
        budget_remaining=9.0 - n,
        details={"n": n},
    )
    values.update(changes)
    return AuditEvent(**values)


def fill(path: Path, count: int) -> None:
    for n in range(count):
        append_event(path, event(n), now=NOW + dt.timedelta(seconds=n))


def test_first_record_has_the_documented_layout(tmp_path):
    log = tmp_path / "audit.jsonl"
    record = append_event(log, event(), now=NOW)
    line = log.read_bytes()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    data = json.loads(line)
    assert data == {
        "v": 1,
        "seq": 0,
        "time": "2027-03-01T12:00:00.000000Z",
        "event": "export",
        "outcome": "ok",
        "actor": "alice@ws1",
        "bundle_id": "0" * 32,
        "issuer": None,
        "recipients": [{"name": "partner", "key_id": PARTNER.key_id}],
        "policy": {"id": "hospital-default", "digest": "ab" * 32},
        "dataset": "chest-2024",
        "epsilon_spent": 1.0,
        "budget_remaining": 9.0,
        "reasons": [],
        "details": {"n": 0},
        "prev": GENESIS,
    }
    assert canonical_json(data) + b"\n" == line
    assert record.hash == hashlib.sha256(line[:-1]).hexdigest()
    assert (log.stat().st_mode & 0o777) == 0o600


def test_each_record_holds_the_hash_of_the_previous_one(tmp_path):
    log = tmp_path / "audit.jsonl"
    fill(log, 5)
    lines = log.read_bytes().splitlines()
    for before, after in itertools.pairwise(lines):
        assert json.loads(after)["prev"] == hashlib.sha256(before).hexdigest()
    records = read_log(log)
    assert [r.seq for r in records] == [0, 1, 2, 3, 4]
    assert [r.event.details["n"] for r in records] == [0, 1, 2, 3, 4]
    summary = verify_log(log)
    assert summary.count == 5 and summary.head == hashlib.sha256(lines[-1]).hexdigest()


def test_refusals_and_imports_are_recorded_with_reasons_and_issuer(tmp_path):
    log = tmp_path / "audit.jsonl"
    append_event(
        log,
        event(outcome="refused", reasons=("export.max_epsilon: epsilon 9 is above the cap of 4",), epsilon_spent=None),
        now=NOW,
    )
    append_event(
        log, AuditEvent(event="import", outcome="ok", actor="bob@ws2", issuer=SISTER, bundle_id="f" * 32), now=NOW
    )
    first, second = read_log(log)
    assert first.event.outcome == "refused" and first.event.reasons[0].startswith("export.max_epsilon")
    assert second.event.issuer == SISTER and second.event.recipients == ()


def test_empty_log_verifies_with_the_genesis_head(tmp_path):
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b"")
    assert verify_log(log).count == 0 and verify_log(log).head == GENESIS


def test_append_creates_the_folder_and_the_log(tmp_path):
    log = tmp_path / "deep" / "er" / "audit.jsonl"
    append_event(log, event(), now=NOW)
    assert verify_log(log).count == 1


def test_append_to_a_broken_chain_is_refused_and_writes_nothing(tmp_path):
    # Writes happen only after the chain verifies (STYLE.md, rule 15).
    log = tmp_path / "audit.jsonl"
    fill(log, 3)
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(lines[0] + lines[2])
    before = log.read_bytes()
    with pytest.raises(AuditChainBroken, match="line 2"):
        append_event(log, event(9), now=NOW)
    assert log.read_bytes() == before


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"event": "Export!"}, "short lower-case name"),
        ({"outcome": "maybe"}, "outcome must be one of"),
        ({"actor": ""}, "actor must be a non-empty string"),
        ({"policy_digest": None}, "policy_id and policy_digest go together"),
        ({"details": {"x": float("nan")}}, "not JSON compliant|Out of range"),
    ],
)
def test_malformed_events_cannot_be_built(changes, message):
    with pytest.raises(ValueError, match=message):
        event(**changes)


def test_naive_clock_is_a_programming_error(tmp_path):
    with pytest.raises(ValueError, match="timezone-aware"):
        append_event(tmp_path / "a.jsonl", event(), now=dt.datetime(2027, 1, 1))


def test_log_location_prefers_flag_then_policy_then_secfp_home(tmp_path):
    env = {"SECFP_HOME": str(tmp_path / "home")}
    assert resolve_audit_log(tmp_path / "flag.jsonl", tmp_path / "pol.jsonl", environ=env) == tmp_path / "flag.jsonl"
    assert resolve_audit_log(None, tmp_path / "pol.jsonl", environ=env) == tmp_path / "pol.jsonl"
    assert resolve_audit_log(None, None, environ=env) == tmp_path / "home" / "audit.jsonl"


def test_default_log_is_under_the_per_user_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_audit_log({}) == tmp_path / ".secfp" / "audit.jsonl"
    assert default_audit_log({"SECFP_HOME": ""}) == tmp_path / ".secfp" / "audit.jsonl"
    assert default_audit_log({"SECFP_HOME": "/srv/secfp"}) == Path("/srv/secfp/audit.jsonl")
