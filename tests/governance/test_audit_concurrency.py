"""Two processes appending at once leave one intact chain with every record.

Attack class: none (a race). Without the cross-process lock, two writers read the
same head, both link to it, and the chain forks: the log would then look tampered
with, or records would interleave mid-line.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from gov_helpers import REPO

from secfp.governance import read_log, verify_log

PER_PROCESS = 200

WRITER = textwrap.dedent(
    """
    import datetime as dt, os, sys, time
    from pathlib import Path
    from secfp.governance import AuditEvent, append_event

    log, go, proc, count = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    while not go.exists():
        time.sleep(0.001)
    for n in range(count):
        event = AuditEvent(event="export", outcome="ok", actor=f"writer-{proc}", details={"proc": proc, "n": n})
        append_event(log, event, now=dt.datetime.now(dt.UTC))
        time.sleep(0.001)  # A real command does other work between two records.
    """
)


def test_two_processes_appending_at_once_keep_the_chain_intact(tmp_path: Path):
    log = tmp_path / "audit.jsonl"
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(log), str(go), name, str(PER_PROCESS)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in ("a", "b")
    ]
    time.sleep(0.3)  # Let both interpreters start, then release them together.
    go.touch()
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err.decode()

    summary = verify_log(log)
    assert summary.count == 2 * PER_PROCESS
    records = read_log(log)
    assert [r.seq for r in records] == list(range(2 * PER_PROCESS))
    for name in ("a", "b"):
        mine = [r.event.details["n"] for r in records if r.event.details["proc"] == name]
        assert mine == list(range(PER_PROCESS)), f"writer {name} lost or reordered records"
    # The writers really did interleave (otherwise this test proves little about locking).
    switches = sum(1 for x, y in itertools.pairwise(records) if x.event.actor != y.event.actor)
    assert switches > 1
