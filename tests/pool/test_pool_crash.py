"""Crash consistency: an interrupted add or a lost file never leaves the index naming a missing bundle."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pool_helpers import snapshot

from secfp.pool import store as pool_module
from secfp.pool.store import Pool


def _files(pool: Pool) -> list[str]:
    return sorted(p.name for p in pool.bundles_dir.iterdir()) if pool.bundles_dir.is_dir() else []


def test_interrupt_between_file_write_and_index_row_cleans_up(world, monkeypatch):
    world.add(world.bundle())
    before = snapshot(world.pool.directory)

    def interrupted(con, entry):
        raise KeyboardInterrupt  # Ctrl-C after the bundle file and cache row were written

    monkeypatch.setattr(pool_module, "_insert_row", interrupted)
    with pytest.raises(KeyboardInterrupt):
        world.add(world.bundle())
    assert snapshot(world.pool.directory) == before
    assert len(Pool.open(world.pool.directory).entries()) == 1


KILL_SCRIPT = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    sys.path[:0] = [{tests!r}, {exchange!r}]
    from pool_helpers import World
    from secfp_peers import PeerSimulator
    from secfp.pool import store as pool_module

    def killed(con, entry):
        os._exit(137)  # the process dies between the file writes and the index transaction

    world = World(Path({tmp!r}), PeerSimulator(Path({tmp!r})))
    pool_module._insert_row = killed
    world.add(world.bundle())
""")


def test_process_killed_mid_add_is_reconciled_on_open(world):
    world.add(world.bundle())
    here = Path(__file__).resolve().parent
    script = KILL_SCRIPT.format(tests=str(here), exchange=str(here.parent / "exchange"), tmp=str(world.tmp))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 137, proc.stderr
    assert len(_files(world.pool)) == 2  # the orphan is on disk ...
    reopened = Pool.open(world.pool.directory)
    assert len(reopened.reconciled.removed_files) == 1  # ... and is deleted, never indexed or used
    assert len(_files(reopened)) == 1 and len(reopened.entries()) == 1
    rows = sorted(p.name.split(".")[0] for p in (reopened.directory / "cache" / "rows").iterdir())
    assert rows == [reopened.entries()[0].bundle_id]


def test_index_row_whose_file_is_gone_is_dropped_on_open(world):
    kept, lost = world.add(world.bundle()).entry, world.add(world.bundle()).entry
    (world.pool.bundles_dir / f"{lost.bundle_id}.bundle").unlink()
    reopened = Pool.open(world.pool.directory)
    assert reopened.reconciled.dropped_rows == (lost.bundle_id,)
    assert [e.bundle_id for e in reopened.entries()] == [kept.bundle_id]
    assert not list((reopened.directory / "cache" / "rows").glob(f"{lost.bundle_id}.*"))


def test_leftover_temp_file_of_an_atomic_write_is_removed(world):
    world.add(world.bundle())
    leftover = world.pool.bundles_dir / ".0123.bundle.abc.tmp"
    leftover.write_bytes(b"partial")
    Pool.open(world.pool.directory)
    assert not leftover.exists()


def test_file_dropped_into_bundles_folder_is_never_used(world):
    # A bundle copied by hand into bundles/ has no index row: it was never verified by the pool.
    entry = world.add(world.bundle()).entry
    stray = world.pool.bundles_dir / ("f" * 32 + ".bundle")
    stray.write_bytes(world.bundle(issuer="mallory"))
    reopened = Pool.open(world.pool.directory)
    assert not stray.exists()
    assert [e.bundle_id for e in reopened.entries()] == [entry.bundle_id]
