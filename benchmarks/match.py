"""One-vs-N bKLD: the matrix form against the naive per-pair loop, on real-shaped fingerprints.

Sources are synthetic count matrices of the default spec's shape (1280 x 100);
the timing does not depend on their content. Prints the time per query of both
paths, the speed ratio and the largest disagreement.

    python benchmarks/match.py [--sources 1000 10000] [--naive-limit 300]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from secfp.fingerprint.histogram import Fingerprint
from secfp.knowledge.distances import bkld, one_vs_many, source_log_q, target_terms


def synthetic(rng: np.random.Generator, m: int, b: int, n: int) -> Fingerprint:
    probs = rng.dirichlet(np.full(b, 0.5), size=m)
    counts = np.stack([rng.multinomial(n, p) for p in probs])
    return Fingerprint("0" * 64, counts, n, rng.normal(size=m))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--features", type=int, default=1280)
    parser.add_argument("--bins", type=int, default=100)
    parser.add_argument("--naive-limit", type=int, default=200, help="time the per-pair loop on at most this many sources")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    query = synthetic(rng, args.features, args.bins, 1000)
    pool = [synthetic(rng, args.features, args.bins, int(rng.integers(200, 5000))) for _ in range(max(args.sources))]
    print(f"fingerprints {args.features} x {args.bins}")
    for n in args.sources:
        sources = pool[:n]
        start = time.perf_counter()
        log_q = np.stack([source_log_q(s) for s in sources])
        build = time.perf_counter() - start
        start = time.perf_counter()
        v, c = target_terms(query, variant="small")
        fast = c - log_q @ v
        per_query = time.perf_counter() - start
        k = min(n, args.naive_limit)
        start = time.perf_counter()
        slow = np.array([bkld(query, s) for s in sources[:k]])
        naive = (time.perf_counter() - start) / k * n
        err = float(np.max(np.abs(fast[:k] - slow)))
        check = float(np.max(np.abs(one_vs_many(query, sources[:k]) - slow)))
        print(f"N={n:6d}: matrix form {per_query * 1e3:8.2f} ms/query (+{build:6.2f} s to build the source matrix once), "
              f"naive loop {naive:8.2f} s/query (extrapolated from {k}), speed-up {naive / per_query:9.0f}x, "
              f"max |diff| {max(err, check):.1e}")


if __name__ == "__main__":
    main()
