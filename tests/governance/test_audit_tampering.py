"""Tampering with the audit log is detected, and the error says where.

Attack class: cover-up. Someone with write access to the log removes or rewrites the
trace of a release (or a refusal) after the fact.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import tempfile
from pathlib import Path

import pytest
from gov_helpers import NOW
from hypothesis import given, settings
from hypothesis import strategies as st

from secfp._io import canonical_json
from secfp.errors import AuditChainBroken, UsageError
from secfp.governance import AuditEvent, append_event, verify_chain, verify_log

COUNT = 6


def build(path: Path) -> list[bytes]:
    for n in range(COUNT):
        append_event(
            path,
            AuditEvent(
                event="export",
                outcome="ok",
                actor="alice@ws1",
                bundle_id=f"{n:032x}",
                epsilon_spent=1.0,
                budget_remaining=float(10 - n),
            ),
            now=NOW + dt.timedelta(minutes=n),
        )
    return path.read_bytes().splitlines(keepends=True)


@pytest.fixture
def log(tmp_path) -> tuple[Path, list[bytes]]:
    path = tmp_path / "audit.jsonl"
    return path, build(path)


def broken(path: Path, match: str, **kwargs) -> AuditChainBroken:
    with pytest.raises(AuditChainBroken, match=match) as info:
        verify_log(path, **kwargs)
    assert info.value.exit_code == 4
    return info.value


def rewrite(line: bytes, **changes) -> bytes:
    """Re-serialise a record in canonical form with some fields changed (a careful forger)."""
    data = json.loads(line)
    data.update(changes)
    return canonical_json(data) + b"\n"


def test_intact_log_verifies(log):
    path, _ = log
    assert verify_log(path).count == COUNT


def test_audit_log_with_edited_record_breaks_chain(log):
    # Lower the epsilon spent on record 2, keeping the line canonical: record 3 no longer matches.
    path, lines = log
    lines[2] = rewrite(lines[2], epsilon_spent=0.1)
    path.write_bytes(b"".join(lines))
    broken(path, r"line 4: chain broken \(prev does not match line 3\): the previous record was edited or replaced")


def test_audit_log_with_hand_edited_record_is_rejected_at_that_line(log):
    # An edit that is not canonical JSON (as an editor would leave it) is caught on the line itself.
    path, lines = log
    lines[1] = lines[1].replace(b'"epsilon_spent":1.0', b'"epsilon_spent": 0.5')
    path.write_bytes(b"".join(lines))
    broken(path, r"line 2: not a valid audit record: not in canonical form")


def test_audit_log_with_deleted_entry_breaks_chain(log):
    path, lines = log
    del lines[3]
    path.write_bytes(b"".join(lines))
    broken(path, r"line 4: chain broken .*expected seq 3, found 4: 1 record\(s\) before it were deleted")


def test_audit_log_with_deleted_first_entry_breaks_chain(log):
    path, lines = log
    path.write_bytes(b"".join(lines[1:]))
    broken(path, r"line 1: chain broken .*expected seq 0, found 1: 1 record\(s\) before it were deleted")


def test_audit_log_with_inserted_entry_breaks_chain(log):
    # The forger even links the inserted record to its predecessor; the successor still breaks.
    path, lines = log
    forged = rewrite(lines[2], seq=3, prev=hashlib.sha256(lines[2].rstrip(b"\n")).hexdigest(), bundle_id="f" * 32)
    lines.insert(3, forged)
    path.write_bytes(b"".join(lines))
    broken(path, r"line 5: chain broken .*expected seq 4, found 3: records were inserted, duplicated or moved")


def test_audit_log_with_duplicated_entry_breaks_chain(log):
    path, lines = log
    lines.insert(3, lines[2])
    path.write_bytes(b"".join(lines))
    broken(path, r"line 4: chain broken .*expected seq 3, found 2: records were inserted")


def test_audit_log_with_reordered_entries_breaks_chain(log):
    path, lines = log
    lines[2], lines[3] = lines[3], lines[2]
    path.write_bytes(b"".join(lines))
    broken(path, r"line 3: chain broken .*expected seq 2, found 3: 1 record\(s\) before it were deleted or moved")


def test_audit_log_with_truncated_last_line_is_rejected(log):
    # A torn write or a cut file: the last record is incomplete.
    path, lines = log
    path.write_bytes(b"".join(lines)[:-25])
    broken(path, rf"line {COUNT}: the last record is incomplete \(no newline\)")


def test_audit_log_with_last_newline_removed_is_rejected(log):
    path, lines = log
    path.write_bytes(b"".join(lines)[:-1])
    broken(path, rf"line {COUNT}: the last record is incomplete")


def test_audit_log_with_blank_line_is_rejected(log):
    path, lines = log
    lines.insert(2, b"\n")
    path.write_bytes(b"".join(lines))
    broken(path, r"line 3: empty line")


def test_audit_log_with_junk_line_is_rejected(log):
    path, lines = log
    lines.insert(4, b'{"v": 1, "seq": 4, "seq": 5}\n')
    path.write_bytes(b"".join(lines))
    broken(path, r"line 5: not a valid audit record: .*duplicate key")


def test_audit_log_with_rewritten_time_format_is_rejected_at_that_line(log):
    # Canonical JSON, same instant, different spelling: still not what secfp wrote.
    path, lines = log
    lines[0] = rewrite(lines[0], time="2027-03-01T12:00:00Z")
    path.write_bytes(b"".join(lines))
    broken(path, r"line 1: not a valid audit record: fields are not in their v1 form")


def test_malformed_anchor_is_a_usage_error(log):
    path, _ = log
    with pytest.raises(UsageError, match="is not a record hash"):
        verify_log(path, anchor="HEAD~1")


def test_audit_log_with_unknown_version_is_rejected(log):
    path, lines = log
    lines[0] = rewrite(lines[0], v=2)
    path.write_bytes(b"".join(lines))
    broken(path, r"line 1: not a valid audit record: unsupported record version 2")


def test_audit_log_cut_at_the_end_is_caught_by_the_anchor(log):
    # Removing whole records from the end leaves a valid chain; only an anchor kept
    # elsewhere reveals it.
    path, lines = log
    head = verify_log(path).head
    path.write_bytes(b"".join(lines[:-2]))
    assert verify_log(path).count == COUNT - 2
    broken(path, "anchor .* is not in the log", anchor=head)


def test_audit_log_with_rewritten_last_record_is_caught_by_the_anchor(log):
    path, lines = log
    head = verify_log(path).head
    lines[-1] = rewrite(lines[-1], outcome="refused")
    path.write_bytes(b"".join(lines))
    broken(path, "anchor .* is not in the log", anchor=head)


def test_older_anchor_still_verifies_after_more_appends(log):
    path, _ = log
    anchor = verify_log(path).head
    append_event(path, AuditEvent(event="match", outcome="ok", actor="bob@ws2"), now=NOW)
    assert verify_log(path, anchor=anchor).count == COUNT + 1


@functools.cache
def _sample_log() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return b"".join(build(Path(folder) / "audit.jsonl"))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_single_byte_change_is_detected_when_the_head_is_anchored(data):
    original = _sample_log()
    head = verify_chain(original)[-1].hash
    position = data.draw(st.integers(0, len(original) - 1))
    new_byte = data.draw(st.integers(0, 255).filter(lambda b: b != original[position]))
    tampered = original[:position] + bytes([new_byte]) + original[position + 1 :]
    with pytest.raises(AuditChainBroken):
        verify_chain(tampered, anchor=head)
