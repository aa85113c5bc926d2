"""The replay store file: format, pruning, failing closed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from secfp_peers import NOW

from secfp.errors import BadInput
from secfp.exchange import ReplayStore
from secfp.exchange.errors import Replayed

ID, DIGEST = "ab" * 16, "cd" * 32


def test_record_then_check(tmp_path):
    store = ReplayStore(tmp_path)
    store.check(ID, digest=DIGEST)
    store.record(ID, digest=DIGEST, now=NOW, expires_at=NOW + timedelta(days=1))
    with pytest.raises(Replayed, match="already received"):
        store.check(ID, digest=DIGEST)
    with pytest.raises(Replayed, match="different statement"):
        store.check(ID, digest="ef" * 32)
    assert store.entries()[ID].first_seen == NOW


def test_long_expired_entries_are_pruned(tmp_path):
    store = ReplayStore(tmp_path)
    store.record(ID, digest=DIGEST, now=NOW, expires_at=NOW + timedelta(days=1))
    store.record("12" * 16, digest=DIGEST, now=NOW + timedelta(days=10), expires_at=NOW + timedelta(days=20))
    assert set(store.entries()) == {"12" * 16}


def test_corrupt_store_fails_closed(tmp_path):
    store = ReplayStore(tmp_path)
    store.record(ID, digest=DIGEST, now=NOW, expires_at=NOW + timedelta(days=1))
    store.path.write_text("{not json")
    with pytest.raises(BadInput, match="corrupt"):
        store.check(ID, digest=DIGEST)


def test_store_file_is_private(tmp_path):
    store = ReplayStore(tmp_path)
    store.record(ID, digest=DIGEST, now=NOW, expires_at=NOW + timedelta(days=1))
    assert store.path.stat().st_mode & 0o077 == 0
