"""The local per-dataset privacy budget: charging, refusal, reservations, concurrency."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from secfp.errors import BadInput, BudgetExceeded
from secfp.privacy.ledger import BudgetStore

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.json"))}


def test_charges_add_up_and_persist(tmp_path: Path) -> None:
    store = BudgetStore(tmp_path, total_epsilon=3.0)
    store.charge("ct-liver", epsilon=1.0, delta=1e-6, label="first", now=NOW)
    state = store.charge("ct-liver", epsilon=0.5, delta=1e-6, label="second", now=NOW)
    assert state.spent_epsilon == 1.5 and state.remaining_epsilon == 1.5 and state.spent_delta == 2e-6
    again = BudgetStore(tmp_path, total_epsilon=3.0).state("ct-liver")
    assert [c.label for c in again.charges] == ["first", "second"]
    assert all(c.state == "charged" and c.at == NOW.isoformat() for c in again.charges)
    assert BudgetStore(tmp_path, total_epsilon=3.0).state("other-dataset").spent_epsilon == 0.0


def test_budget_file_is_private_and_strict_json(tmp_path: Path) -> None:
    BudgetStore(tmp_path, total_epsilon=1.0).charge("d", epsilon=0.25, delta=0.0, now=NOW)
    (path,) = tmp_path.glob("*.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    obj = json.loads(path.read_bytes())
    assert obj["v"] == 1 and obj["kind"] == "secfp.privacy-budget" and obj["dataset_id"] == "d"


def test_ten_tenths_fit_a_budget_of_one(tmp_path: Path) -> None:
    store = BudgetStore(tmp_path, total_epsilon=1.0)
    for _ in range(10):
        store.charge("d", epsilon=0.1, delta=0.0, now=NOW)
    with pytest.raises(BudgetExceeded):
        store.charge("d", epsilon=0.1, delta=0.0, now=NOW)


def test_export_over_budget_is_refused_with_what_is_left_and_state_unchanged(tmp_path: Path) -> None:
    # Budget exhaustion: the third release would exceed the configured total.
    store = BudgetStore(tmp_path, total_epsilon=2.0)
    store.charge("d", epsilon=1.2, delta=1e-6, now=NOW)
    before = _files(tmp_path)
    with pytest.raises(BudgetExceeded, match=r"needs epsilon 1, only 0\.8 of 2 left") as info:
        store.charge("d", epsilon=1.0, delta=1e-6, now=NOW)
    assert info.value.exit_code == 7
    assert _files(tmp_path) == before
    with pytest.raises(BudgetExceeded, match=r"only 0\.8 of 2 left"):
        store.check("d", epsilon=0.81)
    assert store.check("d", epsilon=0.8).remaining_epsilon == pytest.approx(0.8)
    assert _files(tmp_path) == before


@pytest.mark.parametrize("epsilon", [0.0, -1.0, float("nan"), float("inf"), True])
def test_release_without_a_positive_finite_cost_is_refused(tmp_path: Path, epsilon: float) -> None:
    with pytest.raises(BadInput, match="finite epsilon"):
        BudgetStore(tmp_path, total_epsilon=1.0).charge("d", epsilon=epsilon, delta=0.0)


def test_reservation_is_charged_only_after_the_release_succeeds(tmp_path: Path) -> None:
    store = BudgetStore(tmp_path, total_epsilon=1.0)
    with store.reserve("d", epsilon=0.6, delta=1e-6, label="export", now=NOW) as reserved:
        assert [c.state for c in reserved.charges] == ["pending"]
        # While the release runs, the reservation already counts for any other export.
        with pytest.raises(BudgetExceeded, match="1 release\\(s\\) in progress"):
            store.check("d", epsilon=0.5)
    assert [c.state for c in store.state("d").charges] == ["charged"]


def test_failed_release_gives_its_reservation_back(tmp_path: Path) -> None:
    store = BudgetStore(tmp_path, total_epsilon=1.0)
    store.charge("d", epsilon=0.2, delta=0.0, now=NOW)
    before = store.state("d")
    with pytest.raises(RuntimeError, match="signing failed"):
        with store.reserve("d", epsilon=0.6, delta=0.0, now=NOW):
            raise RuntimeError("signing failed")
    assert store.state("d") == before


def test_reservation_over_budget_never_runs_the_release(tmp_path: Path) -> None:
    store = BudgetStore(tmp_path, total_epsilon=1.0)
    ran = []
    with pytest.raises(BudgetExceeded, match="only 1 of 1 left"):
        with store.reserve("d", epsilon=1.5, delta=0.0):
            ran.append(True)
    assert ran == [] and _files(tmp_path) == {}


def test_corrupted_budget_file_is_refused_not_reset(tmp_path: Path) -> None:
    # Resetting a damaged budget to zero would silently hand back spent epsilon.
    store = BudgetStore(tmp_path, total_epsilon=1.0)
    store.charge("d", epsilon=0.5, delta=0.0, now=NOW)
    (path,) = tmp_path.glob("*.json")
    path.write_bytes(path.read_bytes().replace(b'"epsilon":0.5', b'"epsilon":NaN'))
    with pytest.raises(BadInput):
        store.check("d", epsilon=0.1)
    path.write_bytes(b'{"v":1,"kind":"secfp.privacy-budget","dataset_id":"d","charges":[],"extra":1}')
    with pytest.raises(BadInput):
        store.charge("d", epsilon=0.1, delta=0.0)


def test_budget_file_of_another_dataset_is_refused(tmp_path: Path) -> None:
    store = BudgetStore(tmp_path, total_epsilon=1.0)
    store.charge("a", epsilon=0.1, delta=0.0, now=NOW)
    store.charge("b", epsilon=0.9, delta=0.0, now=NOW)
    path_a, _ = store._paths("a")
    path_b, _ = store._paths("b")
    path_a.write_bytes(path_b.read_bytes())  # swap in b's (nearly spent) file under a's name
    with pytest.raises(BadInput, match="another dataset"):
        store.state("a")


def test_dataset_id_cannot_escape_the_budget_folder(tmp_path: Path) -> None:
    folder = tmp_path / "budgets"
    BudgetStore(folder, total_epsilon=1.0).charge("../../etc/passwd", epsilon=0.1, delta=0.0, now=NOW)
    assert {p.parent for p in tmp_path.rglob("*") if p.is_file()} == {folder}


_WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from secfp.errors import BudgetExceeded
    from secfp.privacy.ledger import BudgetStore
    folder, go = Path(sys.argv[1]), Path(sys.argv[2])
    store = BudgetStore(folder, total_epsilon=1.0)
    while not go.exists():
        time.sleep(0.005)
    ok = 0
    for _ in range(8):
        try:
            store.charge("shared", epsilon=0.1, delta=0.0, label=sys.argv[3])
            ok += 1
        except BudgetExceeded:
            pass
    print(ok)
    """
)


def test_two_processes_charging_concurrently_never_overspend(tmp_path: Path) -> None:
    # Race to double-spend: two exporters charge the same dataset at the same moment.
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    workers = [
        subprocess.Popen([sys.executable, "-c", _WORKER, str(tmp_path / "budgets"), str(go), name],
                         stdout=subprocess.PIPE, env=env, text=True)
        for name in ("p1", "p2")
    ]
    time.sleep(0.3)
    go.touch()
    successes = [int(w.communicate(timeout=120)[0].strip()) for w in workers]
    assert all(w.returncode == 0 for w in workers)
    state = BudgetStore(tmp_path / "budgets", total_epsilon=1.0).state("shared")
    assert sum(successes) == len(state.charges) == 10
    assert state.spent_epsilon <= 1.0 + 1e-12
    assert {c.label for c in state.charges} <= {"p1", "p2"}


def test_export_killed_mid_release_keeps_its_reservation(tmp_path: Path) -> None:
    # Crash between release and charge: the epsilon may already be out, so it stays spent.
    code = textwrap.dedent(
        """
        import os, sys
        from pathlib import Path
        from secfp.privacy.ledger import BudgetStore
        with BudgetStore(Path(sys.argv[1]), total_epsilon=1.0).reserve("d", epsilon=0.7, delta=0.0):
            os._exit(9)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, timeout=120)
    assert done.returncode == 9
    state = BudgetStore(tmp_path, total_epsilon=1.0).state("d")
    assert [c.state for c in state.charges] == ["pending"] and state.remaining_epsilon == pytest.approx(0.3)
