"""Matching large pools: SourceMatrix top-k vs the exact per-pair formula, at N = 1,000 / 10,000 / 100,000.

Synthetic sources of the default spec's shape (1280 features x 100 bins), drawn from
"task families" (20 sources per family: the same kind of images with other samples and
other sample sizes, n from 200 to 10,000), so a query has a neighbourhood, as real pools do.
``--unstructured`` adds a pool of independent sources (no neighbourhood: the worst case
for pruning). For each N (up to 10,000) the pool is streamed into a memory-mapped
SourceMatrix file; the exact float64 distances of every query to every source are computed
in the same pass (one_vs_many's formula), then we time and check:

* top-10 per query (``top_k``, exact re-rank) and whether it equals brute force;
* one full pass (``distances``: one mat-vec over all rows) and Q queries at once (mat-mat);
* the naive per-pair loop (``bkld`` per source, timed on 20 sources, scaled to N);
* peak RSS and file size.

At N = 100,000 the full matrix (25.6 GB in float16, plus 25.6 GB of counts) does not fit
this benchmark's budget; we time the first pyramid level on a real 100,000-row matrix and
project the later stages from the survivor fractions measured at 10,000 (printed as such).

    python benchmarks/match.py [--sizes 1000 10000 100000] [--queries 5] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import tempfile
import time

import numpy as np
import torch
from scipy.special import log_softmax

from secfp.fingerprint.histogram import Fingerprint
from secfp.knowledge.distances import bkld, target_terms
from secfp.knowledge.index import SourceMatrix, default_levels

SPEC_ID = "b" * 64
FAMILY_SIZE = 20


class Pool:
    """Deterministic synthetic sources: source i belongs to family i // FAMILY_SIZE (or its own family)."""

    def __init__(self, m: int, b: int, *, seed: int, structured: bool) -> None:
        self.m, self.b, self.seed, self.structured = m, b, seed, structured

    def _family(self, f: int) -> tuple[np.ndarray, ...]:
        rng = np.random.default_rng([self.seed, 1, f])
        m, b = self.m, self.b
        return (rng.uniform(0.15 * b, 0.85 * b, m), rng.uniform(0.04 * b, 0.2 * b, m), rng.uniform(0.0, 0.4, m), rng.normal(0.5, 0.5, m))

    def source(self, i: int, *, n: int | None = None) -> Fingerprint:
        rng = np.random.default_rng([self.seed, 2, i])
        mu, sd, spike, mean = self._family(i // FAMILY_SIZE if self.structured else 10**9 + i)
        m, b = self.m, self.b
        mu = mu + rng.normal(0, 0.015 * b, m)
        sd = sd * np.exp(rng.normal(0, 0.08, m))
        spike = np.clip(spike + rng.normal(0, 0.02, m), 0, 0.9)
        n = n or int(math.exp(rng.uniform(math.log(200), math.log(10_000))))
        centres = np.arange(b) + 0.5
        p = np.exp(-0.5 * ((centres[None, :] - mu[:, None]) / sd[:, None]) ** 2)
        p = (1 - spike)[:, None] * p / p.sum(axis=1, keepdims=True)
        p[:, 0] += spike
        p = np.clip(p + np.sqrt(p / n) * rng.standard_normal(p.shape), 0, None)  # sampling noise of n draws
        x = n * p / p.sum(axis=1, keepdims=True)
        counts = np.floor(x).astype(np.int64)
        short = n - counts.sum(axis=1)  # largest remainders get the missing counts: rows sum to n
        ranks = np.argsort(np.argsort(counts - x, axis=1, kind="stable"), axis=1, kind="stable")
        counts += ranks < short[:, None]
        return Fingerprint(SPEC_ID, counts, n, mean + rng.normal(0, 0.05, m))


def _reference(sources: list[Fingerprint], terms: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """Exact float64 distances of a chunk of sources to each query (one_vs_many's formula)."""
    counts = np.stack([s.counts for s in sources]).astype(np.float64)
    totals = counts.sum(axis=2, keepdims=True)
    log_q = log_softmax(counts / totals, axis=2).reshape(len(sources), -1)
    v = np.stack([t[0] for t in terms], axis=1)
    return np.array([t[1] for t in terms])[None, :] - log_q @ v


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def run_size(pool: Pool, n: int, queries: list[Fingerprint], workdir: str, precision: str, naive_per_pair: float) -> dict:
    terms = [target_terms(q, variant="small") for q in queries]
    ref = np.zeros((n, len(queries)))
    chunk: list[Fingerprint] = []
    names = [f"src{i:06d}" for i in range(n)]

    def stream():
        for i in range(n):
            fp = pool.source(i)
            chunk.append(fp)
            if len(chunk) == 64 or i == n - 1:
                ref[i + 1 - len(chunk) : i + 1] = _reference(chunk, terms)
                chunk.clear()
            yield fp

    path = os.path.join(workdir, f"pool-{n}-{precision}.secfpidx")
    start = time.perf_counter()
    index = SourceMatrix.build(names, stream(), path=path, precision=precision, counts_dtype="uint16")
    build = time.perf_counter() - start
    index.top_k(queries[0], 10)  # warm the page cache once
    times, agree, stats = [], 0, []
    for qi, q in enumerate(queries):
        t = time.perf_counter()
        top, st = index.top_k(q, 10, return_stats=True)
        times.append(time.perf_counter() - t)
        brute = sorted(range(n), key=lambda i: (ref[i, qi], names[i]))[:10]
        agree += [r.source for r in top] == [names[i] for i in brute]
        stats.append(st)
    t = time.perf_counter()
    full = index.distances(queries[0])
    full_scan = time.perf_counter() - t
    t = time.perf_counter()
    index.distances_many(queries)
    many = (time.perf_counter() - t) / len(queries)
    approx_err = float(np.max(np.abs(full - ref[:, 0])))
    topk = statistics.median(times)
    out = {
        "N": n, "precision": precision, "build_s": build, "file_gb": os.path.getsize(path) / 1e9,
        "topk_s": topk, "topk_max_s": max(times), "agree": f"{agree}/{len(queries)}", "full_scan_s": full_scan,
        "matmat_per_query_s": many, "naive_s": naive_per_pair * n, "speedup": naive_per_pair * n / topk,
        "max_abs_err_full": approx_err, "rss_gb": _rss_gb(),
        "survivors": " / ".join(f"{name}:{statistics.median(dict(s.rows)[name] for s in stats):.0f}" for name, _ in stats[0].rows),
        "exact": statistics.median(s.exact for s in stats),
    }
    del index
    os.unlink(path)
    return out


def first_level_at(n: int, m: int, g: int, precision: str) -> float:
    """Seconds for the cheapest pyramid level (g groups) over n rows: a real n x (m*g) matrix."""
    rows = torch.rand(n, m * g).sub_(0.5).to(torch.float16 if precision == "float16" else torch.bfloat16)
    store = rows.numpy() if precision == "float16" else rows.view(torch.int16).numpy().view(np.uint16)
    header = {"spec_id": SPEC_ID, "features": m, "bins": 100, "levels": [g], "precision": precision, "names": [str(i) for i in range(n)]}
    arrays = {f"level_{g}": store, "qerr": np.zeros((n, 2)), "maxabs": np.ones((n, 2))}
    index = SourceMatrix(header=header, arrays=arrays)
    q = Pool(m, 100, seed=9, structured=True).source(0, n=2000)
    terms = index._terms([q], "small", g)  # noqa: SLF001 - the benchmark times one stage
    index._approx(f"level_{g}", terms, None)  # noqa: SLF001
    t = time.perf_counter()
    index._approx(f"level_{g}", terms, None)  # noqa: SLF001
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--features", type=int, default=1280)
    parser.add_argument("--bins", type=int, default=100)
    parser.add_argument("--queries", type=int, default=5)
    parser.add_argument("--precision", nargs="+", default=["float16"], choices=["float16", "bfloat16"])
    parser.add_argument("--unstructured", action="store_true", help="also a pool without neighbourhoods (N=1000)")
    parser.add_argument("--workdir", default=None, help="where the index files go (default: a temp dir)")
    args = parser.parse_args()
    m, b = args.features, args.bins
    print(f"sources {m} x {b} = {m * b:,} cells; {torch.get_num_threads()} torch threads; load average {os.getloadavg()[0]:.1f}")
    structured = Pool(m, b, seed=0, structured=True)
    queries = [structured.source(10**8 + FAMILY_SIZE * i, n=2000) for i in range(args.queries)]  # new members of families 0..Q-1
    sample = [structured.source(i) for i in range(20)]
    t = time.perf_counter()
    for s in sample:
        bkld(queries[0], s)
    naive = (time.perf_counter() - t) / len(sample)
    print(f"naive per-pair bkld(): {naive * 1e3:.1f} ms per source")
    pools = [("families", structured)] + ([("unstructured", Pool(m, b, seed=1, structured=False))] if args.unstructured else [])
    rows = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as workdir:
        for label, pool in pools:
            q_pool = queries if label == "families" else [pool.source(10**8 + i, n=2000) for i in range(args.queries)]
            for n in [s for s in args.sizes if s <= 10_000 and (label == "families" or s <= 1000)]:
                for precision in args.precision:
                    row = run_size(pool, n, q_pool, workdir, precision, naive)
                    row["pool"] = label
                    rows.append(row)
                    print(" | ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
    for n in [s for s in args.sizes if s > 10_000]:
        g = default_levels(b)[0]  # the cheapest level of the default pyramid
        first = first_level_at(n, m, g, args.precision[0])
        base = next((r for r in rows if r["N"] == 10_000 and r["pool"] == "families"), None)
        print(f"N={n}: level_{g} over all {n:,} rows: {first:.3f} s (measured on a real {n:,} x {m * g:,} {args.precision[0]} matrix)")
        if base is not None:
            stages = base["survivors"]
            later = base["topk_s"] - first / (n / 10_000)
            print(f"  projected top-10 query: {first + later * n / 10_000:.3f} s if survivors scale with N (10,000: {stages}),"
                  f" {first + later:.3f} s if they stay constant; full index on disk: {n * m * b * 4 / 1e9:.1f} GB")


if __name__ == "__main__":
    main()
