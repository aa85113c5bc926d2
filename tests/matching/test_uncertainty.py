"""Readable distances on real fingerprints: the query's floor, bootstrap intervals, ties, rank and percentile."""

from __future__ import annotations

import json

import numpy as np
import pytest

from secfp.errors import IncompatibleFingerprints, UsageError
from secfp.fingerprint.histogram import Fingerprint
from secfp.matching.bkld import bkld
from secfp.matching.uncertainty import distance_floor, explain_matches


@pytest.fixture(scope="module")
def pool(task_fingerprints):
    return [(name, fp) for (name, half), fp in task_fingerprints.items() if half == "b"]


def test_floor_is_the_distance_to_an_exact_copy_and_is_not_zero(task_fingerprints):
    query = task_fingerprints[("ct", "a")]
    floor = distance_floor(query)
    assert floor == pytest.approx(bkld(query, query))
    assert floor > 0.01  # the paper's bKLD compares p with a softmax of the source's rows: never 0


def test_every_source_gets_an_interval_around_its_distance_rank_and_percentile(task_fingerprints, pool):
    query = next(fp for (name, half), fp in task_fingerprints.items() if half == "a")
    rows = explain_matches(query, pool, resamples=60)
    assert [r.rank for r in rows] == list(range(1, len(pool) + 1))
    assert [r.distance for r in rows] == sorted(r.distance for r in rows)
    assert rows[0].percentile == 1.0 and rows[-1].percentile == 0.0
    for r in rows:
        assert r.distance == pytest.approx(bkld(query, dict(pool)[r.source]))
        lo, hi = r.distance_ci
        # Centred on the measured distance (the resampling bias is shifted out), and not degenerate.
        assert lo < r.distance < hi and hi - lo < 0.5 * r.distance
    json.dumps([r.to_json() for r in rows], allow_nan=False)


def test_a_copy_of_a_source_is_shown_tied_with_it(task_fingerprints, pool):
    # An attacker (or a careless pool) lists the same fingerprint twice under two names: the
    # two can never be told apart, so they must share a tie group.
    query = next(fp for (name, half), fp in task_fingerprints.items() if half == "a")
    name, fp = pool[0]
    twin = Fingerprint(fp.spec_id, fp.counts.copy(), fp.n, fp.feature_mean.copy())
    rows = explain_matches(query, [*pool, ("twin", twin)], resamples=60)
    groups = {r.source: r.tie_group for r in rows}
    assert groups[name] == groups["twin"]


def test_resampling_is_seeded(task_fingerprints, pool):
    query = next(fp for (name, half), fp in task_fingerprints.items() if half == "a")
    a = explain_matches(query, pool, resamples=40, seed=3)
    b = explain_matches(query, pool, resamples=40, seed=3)
    assert a == b


def test_bad_inputs_are_refused(task_fingerprints, pool):
    query = next(iter(task_fingerprints.values()))
    with pytest.raises(UsageError):
        explain_matches(query, [], resamples=60)
    with pytest.raises(UsageError):
        explain_matches(query, pool, resamples=5)
    counts = np.zeros(query.shape, dtype=np.int64)
    counts[:, 0] = 1
    other = Fingerprint("other-spec", counts, 1, np.zeros(query.shape[0]))
    with pytest.raises(IncompatibleFingerprints):
        explain_matches(query, [("x", other)], resamples=60)
