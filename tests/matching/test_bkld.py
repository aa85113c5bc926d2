"""bKLD: the one-vs-many matrix form equals the per-pair formula; the formula is the paper's."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secfp.errors import IncompatibleFingerprints, UsageError
from secfp.fingerprint.histogram import Fingerprint
from secfp.matching.bkld import bkld, one_vs_many
from secfp.matching.ranking import rank_sources


def _by_hand(target: Fingerprint, source: Fingerprint, variant: str) -> float:
    """The DEVELOPERS.md definition, written as plain loops."""
    total, weight_sum = 0.0, 0.0
    mean = target.feature_mean
    weights = np.exp(mean - mean.max()) / np.exp(mean - mean.max()).sum() if variant == "small" else np.ones(len(mean))
    for j in range(target.shape[0]):
        p = target.counts[j] / target.counts[j].sum()
        h = source.counts[j] / source.counts[j].sum()
        q = np.exp(h) / np.exp(h).sum()
        kl = sum(pb * np.log(pb / qb) for pb, qb in zip(p, q) if pb > 0)
        total += weights[j] * kl
        weight_sum += weights[j]
    return total / weight_sum


def _random_fp(rng: np.random.Generator, m: int, b: int, n: int, spec_id: str = "s" * 64) -> Fingerprint:
    counts = np.stack([rng.multinomial(n, rng.dirichlet(np.full(b, 0.3))) for _ in range(m)])
    return Fingerprint(spec_id, counts, n, rng.normal(size=m))


@pytest.mark.parametrize("variant", ["small", "large"])
def test_matrix_form_agrees_with_per_pair_formula_on_real_fingerprints(task_fingerprints, variant):
    target = task_fingerprints[("ct", "a")]
    sources = [fp for (name, half), fp in task_fingerprints.items() if half == "b"]
    fast = one_vs_many(target, sources, variant=variant)
    slow = np.array([bkld(target, s, variant=variant) for s in sources])
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-9)


def test_per_pair_formula_matches_the_definition_written_by_hand(task_fingerprints):
    target, source = task_fingerprints[("us", "a")], task_fingerprints[("cr", "b")]
    small = _by_hand(target, source, "small")
    assert bkld(target, source, variant="small") == pytest.approx(small, abs=1e-12)
    assert bkld(target, source, variant="large") == pytest.approx(_by_hand(target, source, "large"), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 6), b=st.integers(2, 30), n=st.integers(1, 60), variant=st.sampled_from(["small", "large"]))
def test_matrix_form_agrees_with_per_pair_on_random_counts(seed, m, b, n, variant):
    rng = np.random.default_rng(seed)
    target = _random_fp(rng, m, b, n)
    sources = [_random_fp(rng, m, b, int(rng.integers(1, 80))) for _ in range(5)]
    fast = one_vs_many(target, sources, variant=variant)
    for s, d in zip(sources, fast):
        assert d == pytest.approx(_by_hand(target, s, variant), abs=1e-9)
        assert d >= -1e-12


def test_distance_to_itself_is_lowest_possible_only_through_softmax_gap():
    # bKLD compares p with softmax(p), so a task's distance to itself is small but not zero;
    # it must still be lower than to a clearly different histogram.
    rng = np.random.default_rng(0)
    a = _random_fp(rng, 4, 10, 500)
    b = Fingerprint(a.spec_id, np.roll(a.counts, 5, axis=1), a.n, a.feature_mean)
    assert bkld(a, a) < bkld(a, b)


def test_different_specs_never_compare_and_the_message_names_both(task_fingerprints):
    fp = task_fingerprints[("ct", "a")]
    alien = Fingerprint("f" * 64, fp.counts, fp.n, fp.feature_mean)
    with pytest.raises(IncompatibleFingerprints) as err:
        one_vs_many(fp, [task_fingerprints[("ct", "b")], alien])
    assert fp.spec_id in str(err.value) and "f" * 64 in str(err.value)
    assert err.value.exit_code == 6


def test_unknown_variant_is_a_usage_error(task_fingerprints):
    with pytest.raises(UsageError):
        bkld(task_fingerprints[("ct", "a")], task_fingerprints[("ct", "b")], variant="medium")


def test_noisy_target_negative_counts_are_clipped_but_source_rows_are_not():
    rng = np.random.default_rng(1)
    clean = _random_fp(rng, 3, 8, 200)
    noise = rng.integers(-3, 4, size=clean.counts.shape)
    noisy = Fingerprint(clean.spec_id, clean.counts + noise, clean.n, clean.feature_mean, noisy=True)
    assert np.isfinite(bkld(noisy, clean)) and np.isfinite(bkld(clean, noisy))
    np.testing.assert_allclose(one_vs_many(noisy, [clean, noisy]), [bkld(noisy, clean), bkld(noisy, noisy)], atol=1e-9)


def test_ranking_is_closest_first_with_top_k(task_fingerprints):
    target = task_fingerprints[("histology", "a")]
    sources = [(name, fp) for (name, half), fp in task_fingerprints.items() if half == "b"]
    ranking = rank_sources(target, sources, top=3)
    assert [r.rank for r in ranking] == [1, 2, 3]
    assert ranking[0].distance <= ranking[1].distance <= ranking[2].distance
