"""Matching against the pool: the same numbers as rank_sources, over usable bundles of one spec only."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from pool_helpers import card, make_fingerprint, trust_without

from secfp.errors import IncompatibleFingerprints, UsageError
from secfp.fingerprint.histogram import Fingerprint
from secfp.matching.ranking import rank_sources
from secfp.pool.store import Pool
from secfp.workflows.use import pool_status, rank_pool


def _stacked_ids(pool: Pool, spec_id: str) -> set[str] | None:
    keys = pool.cache.stacked_keys(spec_id)
    return None if keys is None else {k[0] for k in keys}


def test_rank_over_pool_equals_rank_sources_on_real_fingerprints(world, real_fps):
    ids = {}
    for name in ("ct", "mr", "cr"):
        ids[world.add(world.bundle(real_fps[name], card=card(name))).entry.bundle_id] = real_fps[name]
    query = real_fps["ct-query"]
    for variant in ("small", "large"):
        ranking = world.rank(query, variant=variant)
        expected = rank_sources(query, list(ids.items()), variant=variant)
        assert [m.source for m in ranking.matches] == [r.source for r in expected]
        assert [m.rank for m in ranking.matches] == [r.rank for r in expected]
        np.testing.assert_allclose([m.distance for m in ranking.matches], [r.distance for r in expected],
                                   rtol=1e-12, atol=1e-12)
    # The other half of the same CT task is the closest source.
    assert ranking.matches[0].entry.task_name == "ct"
    cached = world.rank(query, top=2)
    assert cached.cached and [m.source for m in cached.matches] == [r.source for r in expected[:2]]


def test_expired_bundle_is_kept_and_listed_but_not_used(world):
    short = world.add(world.bundle(make_fingerprint(seed=1), lifetime=timedelta(days=1))).entry
    long = world.add(world.bundle(make_fingerprint(seed=2))).entry
    later = world.now + timedelta(days=2)
    ranking = world.rank(make_fingerprint(seed=3), now=later)
    assert [m.source for m in ranking.matches] == [long.bundle_id]
    assert [(s.bundle_id, s.reason.split(" at ")[0]) for s in ranking.skipped] == [(short.bundle_id, "expired")]
    assert {e.bundle_id for e in world.pool.entries()} == {short.bundle_id, long.bundle_id}
    assert pool_status(world.pool, short, now=later, trust_store=world.peers.trust).startswith("expired")


def test_bundles_of_other_specs_are_counted_not_compared(world):
    world.add(world.bundle(make_fingerprint(seed=1)))
    other = make_fingerprint(seed=2)
    other = Fingerprint(spec_id="0e" * 32, counts=other.counts, n=other.n, feature_mean=other.feature_mean)
    world.add(world.bundle(other))
    ranking = world.rank(make_fingerprint(seed=3))
    assert len(ranking.matches) == 1 and ranking.other_specs == {"0e" * 32: 1}


def test_query_sharing_no_spec_with_the_pool_is_incompatible(world):
    world.add(world.bundle(make_fingerprint(seed=1)))
    fp = make_fingerprint(seed=2)
    query = Fingerprint(spec_id="ab" * 32, counts=fp.counts, n=fp.n, feature_mean=fp.feature_mean)
    with pytest.raises(IncompatibleFingerprints, match=f"{'ab' * 32}.*{make_fingerprint().spec_id}"):
        world.rank(query)


def test_empty_pool_is_a_usage_error(world):
    with pytest.raises(UsageError, match="holds no bundles"):
        rank_pool(world.pool.directory, "query", make_fingerprint(), receiver=world.receiver, now=world.now)


def test_cached_matrix_is_invalidated_on_add_and_remove(world):
    spec = make_fingerprint().spec_id
    query = make_fingerprint(seed=9)
    a = world.add(world.bundle(make_fingerprint(seed=1))).entry
    b = world.add(world.bundle(make_fingerprint(seed=2))).entry
    first = world.rank(query)
    assert not first.cached and _stacked_ids(world.pool, spec) == {a.bundle_id, b.bundle_id}
    assert world.rank(query).cached
    c = world.add(world.bundle(make_fingerprint(seed=3))).entry
    assert _stacked_ids(world.pool, spec) is None  # add invalidates
    after_add = world.rank(query)
    assert not after_add.cached and {m.source for m in after_add.matches} == {a.bundle_id, b.bundle_id, c.bundle_id}
    world.pool.remove(b.bundle_id, now=world.now)
    assert _stacked_ids(world.pool, spec) is None  # remove invalidates, and drops the row
    assert not list((world.pool.directory / "cache" / "rows").glob(f"{b.bundle_id}.*"))
    after_remove = world.rank(query)
    assert {m.source for m in after_remove.matches} == {a.bundle_id, c.bundle_id}
    assert _stacked_ids(world.pool, spec) == {a.bundle_id, c.bundle_id}


def test_issuer_removed_from_trust_store_is_no_longer_used(world):
    alice = world.add(world.bundle(issuer="alice")).entry
    carol = world.add(world.bundle(make_fingerprint(seed=4), issuer="carol")).entry
    receiver = world.with_receiver(trust_store=trust_without(("alice",)))
    ranking = world.rank(make_fingerprint(seed=5), receiver=receiver)
    assert [m.source for m in ranking.matches] == [carol.bundle_id]
    assert ranking.skipped[0].bundle_id == alice.bundle_id and "no longer in the trust store" in ranking.skipped[0].reason


def test_stored_file_changed_on_disk_is_not_used(world):
    entry = world.add(world.bundle()).entry
    path = world.pool.bundles_dir / f"{entry.bundle_id}.bundle"
    path.write_bytes(path.read_bytes().replace(b'"v":1', b'"v":2'))
    ranking = world.rank(make_fingerprint(seed=5))
    assert ranking.matches == () and "no longer matches the digest" in ranking.skipped[0].reason


def test_missing_cache_row_is_rebuilt_by_full_reverification(world):
    entry = world.add(world.bundle()).entry
    for path in (world.pool.directory / "cache" / "rows").iterdir():
        path.unlink()
    ranking = world.rank(make_fingerprint(seed=5))
    assert [m.source for m in ranking.matches] == [entry.bundle_id]
    assert "reverified" in ranking.matches[0].entry.checks
    assert [r.event.event for r in world.audit()][-2:] == ["pool-read", "match"]
    # Without our key, a sealed bundle cannot be re-verified: it is skipped, with the reason.
    for path in (world.pool.directory / "cache" / "rows").iterdir():
        path.unlink()
    world.pool.cache.invalidate(entry.spec_id)
    keyless = world.rank(make_fingerprint(seed=5), receiver=world.with_receiver(identity=None))
    assert keyless.matches == () and "--key" in keyless.skipped[0].reason


def test_reverify_checks_every_bundle_again(world):
    world.add(world.bundle(make_fingerprint(seed=1)))
    world.add(world.bundle(make_fingerprint(seed=2), public=True))
    plain = world.rank(make_fingerprint(seed=5))
    full = world.rank(make_fingerprint(seed=5), reverify=True)
    assert [m.source for m in full.matches] == [m.source for m in plain.matches]
    assert [m.distance for m in full.matches] == [m.distance for m in plain.matches]
    assert all("reverified" in m.entry.checks for m in full.matches)
