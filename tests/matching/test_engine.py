"""SourceMatrix: one pass equals the per-pair formula within its error bars, exact top-k equals brute force,
files map and refuse damage."""

from __future__ import annotations

import numpy as np
import pytest

from secfp.errors import BadInput, IncompatibleFingerprints
from secfp.fingerprint.histogram import Fingerprint
from secfp.matching.bkld import bkld, one_vs_many
from secfp.matching.engine import SourceMatrix

SPEC = "c" * 64
M, B = 24, 20


def _pool(seed: int = 0, n_sources: int = 60) -> tuple[list[str], list[Fingerprint], Fingerprint]:
    """Sources in families of 6 (a neighbourhood, as in real pools), two noisy ones and one exact duplicate."""
    rng = np.random.default_rng(seed)
    centres = rng.dirichlet(np.full(B, 0.7), size=(n_sources // 6 + 1, M))

    def draw(family: int, n: int) -> np.ndarray:
        return np.stack([rng.multinomial(n, rng.dirichlet(200 * p + 0.1)) for p in centres[family]])

    sources = []
    for i in range(n_sources):
        n = int(rng.integers(30, 400))
        sources.append(Fingerprint(SPEC, draw(i // 6, n), n, rng.normal(size=M)))
    for i in (4, 17):  # DP releases: noisy counts, possibly negative, rows not summing to n
        s = sources[i]
        sources[i] = Fingerprint(SPEC, s.counts + rng.integers(-4, 5, s.counts.shape), s.n, s.feature_mean, noisy=True)
    sources[9] = sources[8]  # identical fingerprints: the tie is broken by name
    names = [f"src-{i:03d}" for i in range(n_sources)]
    query = Fingerprint(SPEC, draw(1, 300), 300, rng.normal(size=M))
    return names, sources, query


def _brute(query: Fingerprint, names: list[str], sources: list[Fingerprint], k: int, variant: str = "small") -> list[str]:
    """Brute force with the per-pair reference formula, independent of the engine."""
    dist = [bkld(query, s, variant=variant) for s in sources]
    return [names[i] for i in sorted(range(len(names)), key=lambda i: (dist[i], names[i]))[:k]]


def test_index_distances_equal_one_vs_many_within_their_error_bars():
    names, sources, query = _pool()
    index = SourceMatrix.build(names, sources)
    for variant in ("small", "large"):
        exact = one_vs_many(query, sources, variant=variant)
        fast, err = index._distances([query], variant, exact=False)
        assert np.all(np.abs(fast[0] - exact) <= err[0])
        np.testing.assert_allclose(fast[0], exact, rtol=0, atol=1e-6)
        np.testing.assert_allclose(index.distances(query, variant, exact=True), exact, rtol=0, atol=1e-12)


def test_counts_are_stored_losslessly_in_the_smallest_integer_type():
    names, sources, _ = _pool()
    clean = [s for s in sources if not s.noisy]
    assert SourceMatrix.build(names[: len(clean)], clean)._a["counts"].dtype == np.uint8  # every count < 256
    big = np.zeros((M, B), dtype=np.int64)
    big[:, 3] = 60_000
    wide = clean + [Fingerprint(SPEC, big, 60_000, np.zeros(M))]
    assert SourceMatrix.build(names[: len(wide)], wide)._a["counts"].dtype == np.uint16  # n < 65,536
    assert SourceMatrix.build(names, sources)._a["counts"].dtype == np.int16  # DP noise: negative counts
    index = SourceMatrix.build(names, sources)
    for i in (0, 4, 33):
        np.testing.assert_array_equal(index.fingerprint(i).counts, sources[i].counts)


def test_a_query_reads_only_the_cells_where_it_is_non_zero():
    names, sources, query = _pool()
    index = SourceMatrix.build(names, sources)
    cells = index._terms([query], "small")[0]
    np.testing.assert_array_equal(cells, np.flatnonzero(query.counts.reshape(-1)))
    # Counts at the other cells enter only through each row's logsumexp, which is stored: scrambling them
    # (with the stored logsumexp kept) leaves every distance unchanged, so they are never read.
    scrambled = index._a["counts"].copy()
    other = np.setdiff1d(np.arange(scrambled.shape[0]), cells)
    scrambled[other] = 7
    index._a["counts"] = scrambled
    np.testing.assert_allclose(index.distances(query, exact=True), one_vs_many(query, sources), rtol=0, atol=1e-12)


def test_exact_top10_equals_brute_force():
    names, sources, query = _pool(seed=1)
    index = SourceMatrix.build(names, sources)
    for variant in ("small", "large"):
        for q in (query, sources[8], sources[4]):  # a fresh query, one with a tied twin, a noisy one
            top = index.top_k(q, 10, variant)
            assert [r.source for r in top] == _brute(q, names, sources, 10, variant)
            assert [r.rank for r in top] == list(range(1, 11))
    assert [r.source for r in index.top_k(query, 100)] == _brute(query, names, sources, 100)


def test_many_queries_as_one_matrix_product_equal_repeated_single_queries():
    names, sources, query = _pool(seed=2)
    index = SourceMatrix.build(names, sources)
    queries = [query, sources[3], sources[4], sources[30]]
    many = index.distances_many(queries)
    for row, q in zip(many, queries):
        np.testing.assert_allclose(row, index.distances(q), rtol=0, atol=1e-7)  # fp32 products in another order: within the error bars
    assert [[r.source for r in top] for top in index.top_k_many(queries, 5)] == [[r.source for r in index.top_k(q, 5)] for q in queries]


@pytest.mark.parametrize("mmap", [True, False])
def test_saved_and_streamed_indexes_load_memory_mapped_and_answer_the_same(tmp_path, mmap):
    names, sources, query = _pool(seed=3)
    built = SourceMatrix.build(names, sources, counts_dtype="int32")
    built.save(tmp_path / "saved.secfpidx")
    SourceMatrix.build(names, iter(sources), path=tmp_path / "streamed.secfpidx")
    for path in ("saved.secfpidx", "streamed.secfpidx"):
        loaded = SourceMatrix.load(tmp_path / path, mmap=mmap)
        assert loaded.names == built.names and len(loaded) == len(built)
        np.testing.assert_array_equal(loaded.distances(query, exact=True), built.distances(query, exact=True))
        assert loaded.top_k(query, 10) == built.top_k(query, 10)
    assert isinstance(SourceMatrix.load(tmp_path / "saved.secfpidx")._a["counts"], np.memmap)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved.secfpidx", "streamed.secfpidx"]


def test_target_of_another_spec_is_refused():
    # Matching across specs would compare unrelated feature spaces: an error, never a number.
    names, sources, query = _pool()
    index = SourceMatrix.build(names, sources)
    other = Fingerprint("d" * 64, query.counts, query.n, query.feature_mean)
    with pytest.raises(IncompatibleFingerprints, match="d" * 64):
        index.top_k(other, 3)
    with pytest.raises(IncompatibleFingerprints):
        SourceMatrix.build(names[:2], [sources[0], other])


def test_interrupted_build_leaves_no_file(tmp_path):
    # Ctrl-C half-way through a streamed build: neither the index nor its temp file may remain.
    names, sources, _ = _pool()

    def interrupted():
        yield from sources[:10]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        SourceMatrix.build(names, interrupted(), path=tmp_path / "pool.secfpidx")
    assert list(tmp_path.iterdir()) == []


def test_truncated_index_file_is_rejected(tmp_path):
    names, sources, _ = _pool()
    path = tmp_path / "pool.secfpidx"
    SourceMatrix.build(names, sources).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadInput):
        SourceMatrix.load(path)
    path.write_bytes(b"not an index" + data[12:])
    with pytest.raises(BadInput, match="not a secfp source matrix"):
        SourceMatrix.load(path)
