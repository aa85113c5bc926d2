"""How well DP fingerprints still match: split-half retrieval on the real sample tasks as epsilon falls.

Run:  python benchmarks/dp_utility.py [--cache DIR] [--json-out FILE] [--trials 20]
                                      [--records 300 | --records-per-image K] [--sample-rate 1]
                                      [--max-images-per-unit K] [--bins 100 20]
                                      [--epsilons 8 4 2 1 0.5] [--noise-seed S]
      python benchmarks/dp_utility.py --units-table [--epsilons ...] [--ks 1 4 16]

Patient-level utility. ``--max-images-per-unit K`` groups a half's records into units of K
consecutive records (record r is image r mod N, so a unit holds K different images of the
half: K slices of the fMRI volume, K frames of the cine, K tiles of a CT patient) and
calibrates the noise for K images per unit (sensitivity K sqrt(m)), as a DP export with
``--max-images-per-unit K`` does. The number of units is then records / K. ``--units-table``
prints, from the calibration alone (no images), sigma for each epsilon and k and the number
of units whose k images make sigma / n = 0.05, the level at which retrieval stayed at 100%.

Retrieval task. The 7 real sample tasks (``secfp.sample_tasks``) are each written as two
halves that share no pixels. Every half is ranked, as a query, against the 7 halves of the
other side with the shipped matcher (bKLD, small variant): 14 queries per trial, the true
partner should be rank 1. We report top-1 accuracy and the mean rank of the true partner
(chance: top-1 = 1/7, mean rank 4).

Records. A DP release counts each record (image) at most once per feature row, so the
fingerprints here are Poisson samples of a half's records, never draws with replacement.
The halves hold only 21 to 60 source images, so by default a half's records are
``--records 300`` (image, crop, flip) triples spread evenly over its images (record r is
image r mod N with its own random crop and flip): a stand-in for a collection of 300
images. ``--records-per-image 1`` uses the images themselves (n = 21..60, the honest unit
for these files); ``--records-per-image K`` gives K crops per image (n proportional to
the task's size, so tasks differ in n). Records are Poisson-sampled at ``--sample-rate``
q (default 1: every record, n = 300, and no amplification is claimed). The sampling
generator is seeded (``--seed``): that is fine for measuring utility, while a real export
must draw the sample with secret randomness for amplification to hold.

Fingerprints are computed once per half and cached in ``--cache``: the probe runs once
per half and its features are binned under every spec (``spec.with_bins(B)`` keeps the
edges), so the specs see exactly the same samples.

Noise. Each trial privatizes every half afresh with ``secfp.privacy.privatize`` (queries
and sources alike: every party releases under DP) at (epsilon, delta = ``--delta``, q). The
noise is independent of the sampling, so re-noising one clean fingerprint per trial is a
faithful simulation of independent releases. Noise comes from os.urandom, exactly as in
a real export, unless ``--noise-seed`` is given (a seeded generator: reproducible, not
private; its SeededNoiseWarning is silenced). ``calibrate`` is a pure function of
(epsilon, delta, q, m), so it is memoised for the run: ``privatize`` is otherwise used as is.

Matching rules. All rules score the same noisy draws, and all agree exactly with the shipped
matcher on noise-free fingerprints (checked at start-up). The target side (rows clipped at 0,
then normalised) is the shipped one unless said otherwise:

``shipped``           ``secfp.matching.bkld`` as installed (it reports which rule it equals).
``row-totals``        source rows divided by their own noisy totals, not clipped: the rule
                      distances.py shipped when this benchmark was written.
``clip-both``         sources clipped and normalised like targets.
``nhat``              source rows divided by the released n-hat (the mean of all m row totals)
                      instead of their own noisy totals; not clipped.
``nhat+ev``           ``nhat`` with an expected-value correction: noise of standard deviation s
                      in the softmax logits raises E[logsumexp] by about s^2 (1 - 1/B) / 2, so
                      that amount is subtracted from each source's distance, with s = sigma-hat
                      / n-hat and sigma-hat^2 = Var(row totals) / B read off the source itself
                      (zero for noise-free fingerprints). The proposed rule.
``raw-target+ev``     ``nhat+ev`` with the target not clipped either (p = counts / n-hat).
``large/...``         the large bKLD variant (every feature weighs the same).

Prints one table per spec and writes everything, per-trial values included, to
``--json-out``. Reading guide: docs/dp-utility.md.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from scipy.special import log_softmax, rel_entr, softmax

import secfp.privacy.release as release_module
from secfp.fingerprint.binning import BinAccumulator
from secfp.fingerprint.histogram import Fingerprint, load_fingerprint, save_fingerprint
from secfp.fingerprint.images import scan
from secfp.fingerprint.pipeline import extract_features, probe_network_for
from secfp.fingerprint.sampling import SamplePlan, plan_poisson
from secfp.fingerprint.spec import FingerprintSpec, load_spec
from secfp.matching.bkld import one_vs_many, source_log_q, target_terms
from secfp.matching.ranking import rank_sources
from secfp.privacy import SeededNoiseWarning, calibrate, privatize
from secfp.sample_tasks import build_sample_tasks

HALVES = ("a", "b")
DEFAULT_EPSILONS = (8.0, 4.0, 2.0, 1.0, 0.5)
TARGET_SIGMA_OVER_N = 0.05  # retrieval stayed at 100% up to this noise level (README, docs/dp-utility.md)

Key = tuple[str, str, int]  # (task, half, bins)


# --------------------------------------------------------------------------- fingerprints


def record_plan(num_images: int, *, pool: int, sample_rate: float, rng: np.random.Generator) -> SamplePlan:
    """Poisson sample of ``pool`` records spread evenly over ``num_images`` (record r is image r mod N)."""
    plan = plan_poisson(pool, rate=sample_rate, rng=rng)
    return SamplePlan(plan.image_index % num_images, plan.crop_uv, plan.flip)


@dataclass(frozen=True)
class Records:
    """How a half's records are defined: a fixed pool, or K crops per source image."""

    fixed: int | None = 300
    per_image: int | None = None

    def pool(self, num_images: int) -> int:
        return self.fixed if self.fixed is not None else num_images * int(self.per_image or 1)

    @property
    def label(self) -> str:
        return f"r{self.fixed}" if self.fixed is not None else f"k{self.per_image}"

    def describe(self) -> str:
        if self.fixed is not None:
            return f"{self.fixed} (image, crop) records per half"
        if self.per_image == 1:
            return "one record per source image"
        return f"{self.per_image} (image, crop) records per source image"


def task_fingerprints(
    cache: str | Path, specs: list[FingerprintSpec], *, records: Records, sample_rate: float, seed: int
) -> dict[Key, Fingerprint]:
    """Noise-free fingerprint of every task half under every spec, computed once and cached."""
    base = specs[0]
    if any((s.probe, s.weights_sha256, s.num_features) != (base.probe, base.weights_sha256, base.num_features) for s in specs):
        raise SystemExit("all specs must share the probe, its weights and its features")
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    tasks = build_sample_tasks(cache / "tasks")
    out: dict[Key, Fingerprint] = {}
    for task, folders in sorted(tasks.items()):
        for half, folder in zip(HALVES, folders):
            paths = {s.bins: cache / f"{task}-{half}-{s.short_id()}-{records.label}-q{sample_rate:g}-s{seed}.json" for s in specs}
            if all(p.exists() for p in paths.values()):
                for s in specs:
                    out[(task, half, s.bins)] = load_fingerprint(paths[s.bins])
                continue
            started = time.perf_counter()
            refs = scan([folder]).refs
            # One generator per (seed, task, half): a half's sample does not depend on the others.
            key = int.from_bytes(hashlib.sha256(f"{seed}:{task}:{half}".encode()).digest()[:8], "little")
            plan = record_plan(len(refs), pool=records.pool(len(refs)), sample_rate=sample_rate, rng=np.random.default_rng(key))
            if len(plan) == 0:
                raise SystemExit(f"{task}/{half}: Poisson sampling at q = {sample_rate} selected no record")
            accs = {s.bins: BinAccumulator(s) for s in specs}
            failures: dict[int, str] = {}
            for _, features in extract_features(refs, plan, network=probe_network_for(base), failures=failures):
                for acc in accs.values():
                    acc.add(features)
            if failures:
                raise SystemExit(f"{task}/{half}: {len(failures)} images failed to decode")
            for s in specs:
                acc = accs[s.bins]
                fp = Fingerprint(spec_id=s.spec_id, counts=acc.counts_matrix(), n=acc.n, feature_mean=(acc.feature_sum / acc.n).numpy())
                save_fingerprint(fp, paths[s.bins])
                out[(task, half, s.bins)] = fp
            print(f"  fingerprinted {task}/{half}: {len(refs)} images, n = {len(plan)} "
                  f"({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    return out


# --------------------------------------------------------------------------- matching rules


def _clipped_probabilities(fp: Fingerprint) -> np.ndarray:
    counts = np.clip(fp.counts.astype(np.float64), 0.0, None)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def _weights(fp: Fingerprint, variant: str) -> np.ndarray:
    w = softmax(fp.feature_mean) if variant == "small" else np.ones(fp.shape[0])
    return w / w.sum()


def noise_sigma_estimate(fp: Fingerprint) -> float:
    """sigma-hat from the fingerprint alone: noise-free rows all sum to n, so Var(row totals) = B sigma^2."""
    if not fp.noisy:
        return 0.0
    totals = fp.counts.sum(axis=1).astype(np.float64)
    return float(math.sqrt(totals.var(ddof=1) / fp.shape[1]))


def ev_offset(fp: Fingerprint) -> float:
    """Expected rise of logsumexp over B logits from noise of sd s = sigma-hat / n-hat: s^2 (1 - 1/B) / 2."""
    s = noise_sigma_estimate(fp) / fp.n
    return 0.5 * s * s * (1.0 - 1.0 / fp.shape[1])


def _raw_target_terms(fp: Fingerprint, *, variant: str) -> tuple[np.ndarray, float]:
    p_raw = fp.counts.astype(np.float64) / fp.n if fp.noisy else fp.probabilities()
    p = _clipped_probabilities(fp) if fp.noisy else fp.probabilities()
    w = _weights(fp, variant)
    plogp = rel_entr(p, np.ones_like(p)).sum(axis=1)  # a per-target constant: no effect on ranking
    return (w[:, None] * p_raw).reshape(-1), float(np.dot(w, plogp))


def _log_q_clipped(fp: Fingerprint) -> np.ndarray:
    counts = np.clip(fp.counts.astype(np.float64), 0.0, None)
    totals = counts.sum(axis=1, keepdims=True)
    return log_softmax(counts / np.where(totals > 0, totals, float(fp.n)), axis=1).reshape(-1)


def _log_q_row_totals(fp: Fingerprint) -> np.ndarray:
    counts = fp.counts.astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return log_softmax(counts / np.where(totals > 0, totals, float(fp.n)), axis=1).reshape(-1)


def _log_q_nhat(fp: Fingerprint) -> np.ndarray:
    return log_softmax(fp.counts.astype(np.float64) / fp.n, axis=1).reshape(-1)


def _no_offset(fp: Fingerprint) -> float:
    return 0.0


@dataclass(frozen=True)
class Rule:
    """distance(T, S) = c(T) - v(T) . log_q(S) - offset(S); lower is closer."""

    name: str
    variant: str
    target: Callable[..., tuple[np.ndarray, float]]
    log_q: Callable[[Fingerprint], np.ndarray]
    offset: Callable[[Fingerprint], float]


RULES = [
    Rule("shipped", "small", target_terms, source_log_q, _no_offset),  # whatever distances.py does now
    Rule("row-totals", "small", target_terms, _log_q_row_totals, _no_offset),
    Rule("clip-both", "small", target_terms, _log_q_clipped, _no_offset),
    Rule("nhat", "small", target_terms, _log_q_nhat, _no_offset),
    Rule("nhat+ev", "small", target_terms, _log_q_nhat, ev_offset),
    Rule("raw-target+ev", "small", _raw_target_terms, _log_q_nhat, ev_offset),
    Rule("large/row-totals", "large", target_terms, _log_q_row_totals, _no_offset),
    Rule("large/nhat+ev", "large", target_terms, _log_q_nhat, ev_offset),
]
HEADLINE = ("row-totals", "nhat+ev")


def partner_ranks(
    fps: dict[Key, Fingerprint], tasks: list[str], bins: int, rule: Rule, memo: dict[Any, Any] | None = None
) -> np.ndarray:
    """Rank (1 = closest) of the true partner for each of the 2 x len(tasks) queries, ties broken by name.

    ``memo`` (one per set of fingerprints) shares per-fingerprint terms between rules that use the same function.
    """
    memo = {} if memo is None else memo

    def cached(fn: Callable[..., Any], key: Key, **kw: Any) -> Any:
        slot = (fn, key, tuple(sorted(kw.items())))
        if slot not in memo:
            memo[slot] = fn(fps[key], **kw)
        return memo[slot]

    log_q = {h: np.stack([cached(rule.log_q, (t, h, bins)) for t in tasks]) for h in HALVES}
    offsets = {h: np.array([cached(rule.offset, (t, h, bins)) for t in tasks]) for h in HALVES}
    ranks = []
    for qh, sh in (("a", "b"), ("b", "a")):
        for i, task in enumerate(tasks):
            v, c = cached(rule.target, (task, qh, bins), variant=rule.variant)
            dist = c - log_q[sh] @ v - offsets[sh]
            order = sorted(range(len(tasks)), key=lambda j: (float(dist[j]), tasks[j]))
            ranks.append(order.index(i) + 1)
    return np.array(ranks)


def _distances(rule: Rule, query: Fingerprint, sources: list[Fingerprint]) -> np.ndarray:
    v, c = rule.target(query, variant=rule.variant)
    return c - np.stack([rule.log_q(s) for s in sources]) @ v - np.array([rule.offset(s) for s in sources])


def check_rules(fps: dict[Key, Fingerprint], tasks: list[str], bins: int, *, noisy: bool) -> list[str]:
    """Self-checks against the shipped matcher; returns the rules that reproduce it on these fingerprints.

    Noise-free, every rule must equal ``one_vs_many`` (of its variant) exactly; noisy, at least
    ``shipped`` must, and ``rank_sources`` must order by it.
    """
    query, sources = fps[(tasks[0], "a", bins)], [fps[(t, "b", bins)] for t in tasks]
    agree = []
    for rule in RULES:
        same = np.allclose(_distances(rule, query, sources), one_vs_many(query, sources, variant=rule.variant), rtol=1e-9, atol=1e-12)
        if not same and (rule.name == "shipped" or not noisy):
            raise SystemExit(f"rule {rule.name} disagrees with the shipped matcher ({'noisy' if noisy else 'noise-free'})")
        if same and rule.name != "shipped":
            agree.append(rule.name)
    plain = [r.source for r in rank_sources(query, [(t, s) for t, s in zip(tasks, sources)], variant="small")]
    dist = one_vs_many(query, sources)
    if plain != [tasks[j] for j in sorted(range(len(tasks)), key=lambda j: (float(dist[j]), tasks[j]))]:
        raise SystemExit("rank_sources disagrees with one_vs_many")
    return agree


# --------------------------------------------------------------------------- trials


def privatize_all(
    clean: dict[Key, Fingerprint], specs: dict[int, FingerprintSpec], *, epsilon: float, delta: float, sample_rate: float,
    rng: np.random.Generator | None, max_images_per_unit: int = 1,
) -> tuple[dict[Key, Fingerprint], float]:
    """One independent DP release of every half under every spec; returns them and the sigma used."""
    out, sigmas = {}, set()
    for key, fp in clean.items():
        out[key], ledger = privatize(fp, epsilon=epsilon, delta=delta, sample_rate=sample_rate, spec=specs[key[2]], rng=rng,
                                     max_images_per_unit=max_images_per_unit, privacy_unit="volume")
        sigmas.add(ledger.sigma)
    (sigma,) = sigmas  # m is the same for every spec, so is sigma
    return out, sigma


def _mean_sd(x: list[float]) -> tuple[float, float]:
    a = np.asarray(x, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


def run(args: argparse.Namespace) -> dict[str, Any]:
    started, cpu_started = time.perf_counter(), time.process_time()
    base = load_spec(args.spec)
    specs = {b: (base if b == base.bins else base.with_bins(b)) for b in args.bins}
    records = Records(fixed=None, per_image=args.records_per_image) if args.records_per_image else Records(fixed=args.records)
    clean = task_fingerprints(args.cache, list(specs.values()), records=records, sample_rate=args.sample_rate, seed=args.seed)
    fingerprint_s = time.perf_counter() - started
    tasks = sorted({k[0] for k in clean})
    for b in specs:
        check_rules(clean, tasks, b, noisy=False)
    n_by_half = {f"{t}/{h}": clean[(t, h, base.bins)].n for t in tasks for h in HALVES}
    n_mean = float(np.mean(list(n_by_half.values())))

    rng = np.random.default_rng(args.noise_seed) if args.noise_seed is not None else None
    cached_calibrate = functools.lru_cache(maxsize=None)(calibrate)
    results: list[dict[str, Any]] = []
    calibrations: dict[str, Any] = {}
    shipped_matches: set[str] | None = None
    levels: list[float | None] = [None, *args.epsilons]
    with warnings.catch_warnings(), mock.patch.object(release_module, "calibrate", cached_calibrate):
        warnings.simplefilter("ignore", SeededNoiseWarning)
        for eps in levels:
            trials = 1 if eps is None else args.trials
            per: dict[tuple[int, str], list[np.ndarray]] = {(b, r.name): [] for b in specs for r in RULES}
            sigma = None
            t0 = time.perf_counter()
            for trial in range(trials):
                if eps is None:
                    fps = clean
                else:
                    fps, sigma = privatize_all(clean, specs, epsilon=eps, delta=args.delta, sample_rate=args.sample_rate, rng=rng,
                                               max_images_per_unit=args.max_images_per_unit)
                    if trial == 0:
                        for b in specs:
                            agree = set(check_rules(fps, tasks, b, noisy=True))
                            shipped_matches = agree if shipped_matches is None else shipped_matches & agree
                memo: dict[Any, Any] = {}
                for b in specs:
                    for rule in RULES:
                        per[(b, rule.name)].append(partner_ranks(fps, tasks, b, rule, memo))
            if eps is not None:
                cal = cached_calibrate(epsilon=eps, delta=args.delta, sample_rate=args.sample_rate, contributions=base.num_features,
                                       max_images_per_unit=args.max_images_per_unit)
                calibrations[f"{eps:g}"] = {
                    "sigma": cal.sigma, "noise_multiplier": cal.noise_multiplier, "declared_epsilon": cal.epsilon,
                    "accountants": [a.to_json() for a in cal.accountants], "sigma_over_mean_n": cal.sigma / n_mean,
                }
            for (b, name), ranks in per.items():
                top1 = [float(np.mean(r == 1)) for r in ranks]
                mrank = [float(np.mean(r)) for r in ranks]
                queries = [f"{t}/{h}" for h in HALVES for t in tasks]
                misses = {q: int(sum(r[i] != 1 for r in ranks)) for i, q in enumerate(queries)}
                results.append({
                    "bins": b, "spec_id": specs[b].spec_id, "epsilon": eps, "rule": name, "trials": trials,
                    "sigma": sigma, "sigma_over_mean_n": None if sigma is None else sigma / n_mean,
                    "top1_mean": _mean_sd(top1)[0], "top1_sd": _mean_sd(top1)[1],
                    "rank_mean": _mean_sd(mrank)[0], "rank_sd": _mean_sd(mrank)[1],
                    "trials_all_top1": int(sum(t == 1.0 for t in top1)),
                    "top1_per_trial": top1, "rank_per_trial": mrank,
                    "misses_per_query": {q: m for q, m in misses.items() if m},
                })
            print(f"  epsilon {'none' if eps is None else f'{eps:g}'}: {trials} trial(s) in {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr, flush=True)
    return {
        "v": 1,
        "benchmark": "dp_utility",
        "config": {
            "spec": base.spec_id, "bins": list(specs), "records": records.describe(), "records_label": records.label,
            "max_images_per_unit": args.max_images_per_unit, "mean_units": n_mean / args.max_images_per_unit,
            "sample_rate": args.sample_rate, "delta": args.delta, "epsilons": list(args.epsilons), "trials": args.trials,
            "sampling_seed": args.seed, "noise": "os.urandom" if args.noise_seed is None else f"seeded generator {args.noise_seed}",
            "queries_per_trial": 2 * len(tasks), "tasks": tasks, "headline_rules": list(HEADLINE),
            "shipped_matcher_equals": sorted(r for r in (shipped_matches or ()) if not r.startswith("large/")),
        },
        "n_per_half": n_by_half,
        "mean_n": n_mean,
        "calibration": calibrations,
        "results": results,
        "runtime_s": {"fingerprints": fingerprint_s, "total": time.perf_counter() - started,
                      "cpu_total": time.process_time() - cpu_started},
        "machine": f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs",
    }


# --------------------------------------------------------------------------- report


def _cell(r: dict[str, Any]) -> str:
    return f"{r['top1_mean']:.2f} {r['rank_mean']:4.2f}"


def print_tables(report: dict[str, Any]) -> None:
    cfg = report["config"]
    print(f"dp_utility: {len(cfg['tasks'])} real tasks, {cfg['queries_per_trial']} split-half queries per trial, "
          f"{cfg['records']}, mean n = {report['mean_n']:.0f}, q = {cfg['sample_rate']:g}, delta = {cfg['delta']:g}, "
          f"noise from {cfg['noise']}; chance: top-1 0.14, mean rank 4.00")
    index = {(r["bins"], r["epsilon"], r["rule"]): r for r in report["results"]}
    names = [r.name for r in RULES]
    for b in cfg["bins"]:
        print(f"\n== {b} bins: '{HEADLINE[0]}' (distances.py before the proposed patch) vs '{HEADLINE[1]}' (proposed), "
              "small variant; mean ± sd over trials; all-14: trials with every query right ==")
        print(f"{'epsilon':>7} {'sigma':>7} {'sigma/n':>7} {'trials':>6} | {'top-1':>13} {'mean rank':>11} {'all-14':>6} | "
              f"{'top-1':>13} {'mean rank':>11} {'all-14':>6}")
        for eps in [None, *cfg["epsilons"]]:
            cur, new = index[(b, eps, HEADLINE[0])], index[(b, eps, HEADLINE[1])]
            sig = "-" if eps is None else f"{cur['sigma']:.1f}"
            rel = "-" if eps is None else f"{cur['sigma_over_mean_n']:.3f}"
            cols = []
            for r in (cur, new):
                cols.append(f"{r['top1_mean']:.2f}±{r['top1_sd']:.2f}".rjust(13) + f" {r['rank_mean']:.2f}±{r['rank_sd']:.2f}".rjust(12)
                            + f" {r['trials_all_top1']:>2}/{r['trials']:<3}")
            print(f"{'none' if eps is None else f'{eps:g}':>7} {sig:>7} {rel:>7} {cur['trials']:>6} | {cols[0]} | {cols[1]}")
        print(f"\n   {b} bins, every rule on the same draws (top-1, mean rank):")
        print(f"{'epsilon':>7} " + " ".join(f"{n:>{max(10, len(n))}}" for n in names))
        for eps in [None, *cfg["epsilons"]]:
            print(f"{'none' if eps is None else f'{eps:g}':>7} "
                  + " ".join(f"{_cell(index[(b, eps, n)]):>{max(10, len(n))}}" for n in names))
    misses = {f"{b} bins": index[(b, None, "shipped")]["misses_per_query"] for b in cfg["bins"]}
    print(f"\nnoise-free misses of the shipped matcher (query: trials missed): {misses}")
    print(f"on noisy fingerprints the shipped matcher equals: {', '.join(cfg['shipped_matcher_equals']) or 'none of the other rules'}")
    rt = report["runtime_s"]
    print(f"runtime: {rt['total']:.0f} s wall ({rt['fingerprints']:.0f} s fingerprints), {rt['cpu_total']:.0f} s CPU; "
          f"{report['machine']}")


def units_table(args: argparse.Namespace) -> dict[str, Any]:
    """sigma per (epsilon, k) from the calibration, and the units that make sigma / n = 0.05 at n = k units."""
    base = load_spec(args.spec)
    rows = []
    print(f"units needed for sigma / n <= {TARGET_SIGMA_OVER_N} (m = {base.num_features}, delta {args.delta:g}, q 1)")
    print(f"{'epsilon':>8} {'k':>3} {'sigma':>10} {'sigma/k':>9} {'units':>7}")
    for eps in args.epsilons:
        for k in args.ks:
            cal = calibrate(epsilon=eps, delta=args.delta, sample_rate=1.0, contributions=base.num_features, max_images_per_unit=k)
            units = math.ceil(cal.sigma / (TARGET_SIGMA_OVER_N * k))
            rows.append({"epsilon": eps, "k": k, "sigma": cal.sigma, "declared_epsilon": cal.epsilon, "units_needed": units})
            print(f"{eps:>8g} {k:>3} {cal.sigma:>10.2f} {cal.sigma / k:>9.2f} {units:>7}", flush=True)
    return {"v": 1, "benchmark": "dp_utility.units_table", "target_sigma_over_n": TARGET_SIGMA_OVER_N, "rows": rows}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-images-per-unit", type=int, default=1,
                        help="K: records grouped into units of K, noise calibrated for K images per unit (needs q = 1)")
    parser.add_argument("--units-table", action="store_true", help="print sigma and the units needed per (epsilon, k), then stop")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 4, 16], help="k values of --units-table")
    parser.add_argument("--cache", default="dp-utility-cache", help="folder for the sample tasks and clean fingerprints")
    parser.add_argument("--json-out", type=Path, help="write all results as JSON here")
    parser.add_argument("--spec", default="mobilenet_v2-b100")
    parser.add_argument("--bins", type=int, nargs="+", default=[100, 20], help="bins per spec (same edges)")
    parser.add_argument("--epsilons", type=float, nargs="+", default=list(DEFAULT_EPSILONS))
    parser.add_argument("--delta", type=float, default=1e-6)
    parser.add_argument("--sample-rate", type=float, default=1.0, help="Poisson rate q over a half's records")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--records", type=int, default=300, help="records per half: (image, crop) pairs spread over its images")
    group.add_argument("--records-per-image", type=int, help="K (image, crop) records per source image instead (1 = the images)")
    parser.add_argument("--trials", type=int, default=20, help="independent noise draws per epsilon")
    parser.add_argument("--seed", type=int, default=0, help="seed of the record sampling (fingerprints)")
    parser.add_argument("--noise-seed", type=int, help="draw DP noise from a seeded generator (reproducible, NOT private)")
    args = parser.parse_args(argv)
    if args.units_table:
        report = units_table(args)
        if args.json_out:
            args.json_out.write_text(json.dumps(report, indent=1) + "\n")
        return
    if args.max_images_per_unit > 1 and args.sample_rate != 1.0:
        parser.error("--max-images-per-unit above 1 simulates units at q = 1 only")
    if args.trials < 2:
        parser.error("--trials must be at least 2 (the table reports a standard deviation)")
    report = run(args)
    print_tables(report)
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {args.json_out}")


if __name__ == "__main__":
    main()
