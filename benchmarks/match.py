"""Matching large pools: the SourceMatrix engine's exact top-10 beside the per-pair formula, in one run.

Synthetic sources (default shape 1280 features x 100 bins, the default spec's) drawn from
"task families" (20 sources per family: the same kind of images with other samples and
sample sizes, n from 200 to 10,000), so a query has a neighbourhood as in a real pool. For
each N the pool is streamed into a memory-mapped SourceMatrix file (uint16 counts,
bin-major) while the exact float64 distance of every query to every source is computed in
the same pass with one_vs_many (the brute force). Then, per N and shape, in the same run:

* ``top10_s``: one query, exact top-10 (median of Q queries; page cache warm), how many
  sources needed the float64 formula, and whether the top-10 equals brute force;
* ``scan_s``: one float32 pass with error bars over the query's non-zero cells;
  ``batch_per_query_s``: Q queries in one pass (the union of their cells), per query;
* ``read_s``: only reading the touched rows (no arithmetic): the memory-bandwidth floor of
  this machine for this query, with the bytes touched (``touched_gb``) and the rate;
* ``per_pair_s``: the per-pair formula ``bkld()`` per source (timed on 20, scaled to N);
  ``dense_s``: the previous engine's form, ``log q`` float64 rows times ``v``, timed on 1,000
  sources and scaled to N (memory traffic: 8 bytes per cell);
* the largest error of the float32 pass, file size, build time, peak RSS.

N = 100,000 at 1280 x 100 is 12.8e9 cells (25.6 GB as uint16): projected from the measured
per-cell cost and stated as such; ``--sizes 100000 --shapes 128x100`` runs a memory-mapped
100,000-source pool for real.

    python benchmarks/match.py [--sizes 1000 10000] [--shapes 1280x100 512x100] [--queries 5]
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

from secfp.fingerprint.histogram import Fingerprint
from secfp.matching.bkld import bkld, source_log_q, target_terms
from secfp.matching.engine import SourceMatrix

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
        counts[np.arange(m), np.argmax(x, axis=1)] += n - counts.sum(axis=1)  # rows sum to n
        return Fingerprint(SPEC_ID, counts, n, mean + rng.normal(0, 0.05, m))


def _reference(sources: list[Fingerprint], terms: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """Exact float64 distances of a chunk of sources to each query (one_vs_many's formula)."""
    log_q = np.stack([source_log_q(s) for s in sources])
    v = np.stack([t[0] for t in terms], axis=1)
    return np.array([t[1] for t in terms])[None, :] - log_q @ v


def run_size(pool: Pool, n: int, queries: list[Fingerprint], workdir: str, per_pair: float, dense: float) -> dict:
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

    path = os.path.join(workdir, f"pool-{n}.secfpidx")
    start = time.perf_counter()
    index = SourceMatrix.build(names, stream(), path=path, counts_dtype="uint16")
    build = time.perf_counter() - start
    index.top_k(queries[0], 10)  # warm the page cache once
    times, agree, cands = [], 0, []
    for qi, q in enumerate(queries):
        t = time.perf_counter()
        top = index.top_k(q, 10)
        times.append(time.perf_counter() - t)
        cands.append(index.last_candidates[0])
        brute = [names[i] for i in sorted(range(n), key=lambda i: (ref[i, qi], names[i]))[:10]]
        agree += [r.source for r in top] == brute
    t = time.perf_counter()
    full = index.distances(queries[0])
    scan = time.perf_counter() - t
    t = time.perf_counter()
    index.distances_many(queries)
    batch = (time.perf_counter() - t) / len(queries)
    cells = np.flatnonzero(target_terms(queries[0], variant="small")[0])
    counts = index._a["counts"]
    raw = np.empty((16, n), dtype=counts.dtype)
    t = time.perf_counter()
    for z0 in range(0, len(cells), 16):
        np.take(counts, cells[z0 : z0 + 16], axis=0, out=raw[: len(cells[z0 : z0 + 16])])
    read = time.perf_counter() - t
    touched = len(cells) * n * counts.dtype.itemsize / 1e9
    topk = statistics.median(times)
    row = {
        "shape": f"{pool.m}x{pool.b}", "N": n, "top10_s": topk, "exact_evals": statistics.median(cands),
        "top10_equal": f"{agree}/{len(queries)}", "scan_s": scan, "batch_per_query_s": batch, "read_s": read,
        "touched_gb": touched, "read_gb_per_s": touched / read, "cells_touched": f"{len(cells) / counts.shape[0]:.0%}",
        "per_pair_s": per_pair * n, "dense_s": dense * n, "speedup_vs_per_pair": per_pair * n / topk,
        "max_err": float(np.max(np.abs(full - ref[:, 0]))), "file_gb": os.path.getsize(path) / 1e9,
        "build_s": build, "peak_rss_gb": _rss_gb(),
    }
    print(" | ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
    del index
    os.unlink(path)
    return row


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--shapes", nargs="+", default=["1280x100", "512x100"], help="features x bins")
    parser.add_argument("--queries", type=int, default=5)
    parser.add_argument("--workdir", default=None, help="where the index files go (default: a temp dir)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as workdir:
        for shape in args.shapes:
            m, b = (int(x) for x in shape.split("x"))
            pool = Pool(m, b, seed=0, structured=True)
            queries = [pool.source(10**8 + FAMILY_SIZE * i, n=2000) for i in range(args.queries)]  # new members of families
            t = time.perf_counter()
            for i in range(20):
                bkld(queries[0], pool.source(i))
            per_pair = (time.perf_counter() - t) / 20
            some = [pool.source(i) for i in range(min(1000, max(args.sizes)))]
            log_q = np.stack([source_log_q(s) for s in some])
            v, c = target_terms(queries[0], variant="small")
            t = time.perf_counter()
            _ = c - log_q @ v
            dense = (time.perf_counter() - t) / len(some)
            del log_q, some
            print(f"{shape}: per-pair bkld() {per_pair * 1e3:.1f} ms per source; dense float64 log q rows "
                  f"{dense * 1e6:.1f} us per source", flush=True)
            for n in args.sizes:
                rows.append(run_size(pool, n, queries, workdir, per_pair, dense))
    for shape in args.shapes:
        m, b = (int(x) for x in shape.split("x"))
        big = max((r for r in rows if r["shape"] == shape), key=lambda r: r["N"], default=None)
        if big is None or big["N"] >= 100_000:
            continue
        scale = 100_000 / big["N"]
        print(f"{shape} N=100,000 (projected x{scale:.0f} from N={big['N']:,}): top-10 ~{big['top10_s'] * scale:.2f} s/query, "
              f"batched ~{big['batch_per_query_s'] * scale:.3f} s/query, counts {100_000 * m * b * 2 / 1e9:.1f} GB (uint16), "
              f"memory-mapped; the bandwidth floor at {big['read_gb_per_s']:.1f} GB/s is "
              f"~{big['read_s'] * scale:.2f} s/query")


if __name__ == "__main__":
    main()
