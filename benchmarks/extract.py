"""Fingerprinting throughput and numerics: every numeric path, bare forward vs full pipeline, on real images.

In one run, at one batch size, for each numeric path available here (fp32 eager,
channels-last, torch.compile, bf16 where the CPU has native bf16):

* images/s of the bare forward pass on ready tensors (in the path's memory layout) and of
  the full pipeline (decode, resize, crop, normalise, forward, bin) on real sample-task
  images with the real mobilenet_v2 weights, their ratio, and the speed-up over fp32 eager;
* what the path does to the numbers, against fp32 eager on the very same samples:
  (a) the share of (image, feature) values that land in a different bin, and
  (b) per task, the bKLD from the path's fingerprint to the fp32 fingerprint of the same
  task, next to the bKLD from the closest *other* task, both above the floor bKLD(T -> T)
  (bKLD is not zero for identical fingerprints), and whether any task's ranking changes.

The reference for "how different is acceptable" is fp32 eager itself run with AVX2
kernels instead of AVX-512 (``--isa-floor``: a subprocess with ONEDNN_MAX_CPU_ISA=AVX2):
what a hospital with another CPU would compute from the same spec.

    python benchmarks/extract.py [--samples-per-task 96] [--batch-size 32] [--isa-floor]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from secfp.fingerprint.binning import bin_indices
from secfp.fingerprint.histogram import Fingerprint
from secfp.fingerprint.images import scan
from secfp.fingerprint.numerics import ExactBinAccumulator, NumericPath, path_availability, prepare
from secfp.fingerprint.pipeline import extract_features, probe_network_for
from secfp.fingerprint.sampling import plan_with_replacement
from secfp.fingerprint.spec import load_spec
from secfp.matching.bkld import bkld
from secfp.sample_tasks import build_sample_tasks

PATHS = [NumericPath.FP32, NumericPath.CHANNELS_LAST, NumericPath.COMPILE, NumericPath.BF16]


def bare_forward(probe, *, batch_size: int, batches: int) -> float:
    batch = torch.randn(batch_size, 3, 224, 224).contiguous(memory_format=probe.memory_format)
    with torch.inference_mode():
        probe(batch)  # warm-up
        start = time.perf_counter()
        for _ in range(batches):
            probe(batch)
    return batches * batch_size / (time.perf_counter() - start)


def pipeline(probe, tasks: dict, spec, *, samples: int, batch_size: int) -> tuple[float, dict, dict]:
    """images/s of decode..bin over all tasks; per task the features (plan order) and the fingerprint."""
    features, prints, total, start = {}, {}, 0, time.perf_counter()
    for name, refs in tasks.items():
        plan = plan_with_replacement(len(refs), samples=samples, rng=np.random.default_rng(7))
        acc, rows = ExactBinAccumulator(spec), torch.zeros(samples, spec.num_features)
        for ids, feats in extract_features(refs, plan, network=probe, batch_size=batch_size):
            acc.add(feats)
            rows[torch.from_numpy(ids)] = feats
        features[name] = rows
        prints[name] = Fingerprint(spec.spec_id, acc.counts_matrix(), acc.n, (acc.feature_sum / acc.n).numpy())
        total += samples
    return total / (time.perf_counter() - start), features, prints


def compare(spec, ref_feats: dict, ref_prints: dict, feats: dict, prints: dict) -> dict:
    changed = sum(int((bin_indices(feats[t], spec) != bin_indices(ref_feats[t], spec)).sum()) for t in feats)
    values = sum(f.numel() for f in feats.values())
    ratios, rank_changes = [], 0
    for t in prints:
        floor = bkld(ref_prints[t], ref_prints[t])
        same = bkld(ref_prints[t], prints[t]) - floor
        others = {o: bkld(ref_prints[t], ref_prints[o]) - floor for o in prints if o != t}
        ratios.append(same / min(others.values()))
        ranking = sorted(prints, key=lambda o: bkld(prints[t], ref_prints[o]))
        rank_changes += ranking != sorted(prints, key=lambda o: bkld(ref_prints[t], ref_prints[o]))
    return {"changed_bins": changed / values, "max_abs_diff": max(float((feats[t] - ref_feats[t]).abs().max()) for t in feats),
            "same_task_over_closest_other": max(ratios), "rankings_changed": rank_changes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples-per-task", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--forward-batches", type=int, default=4)
    parser.add_argument("--spec", default="mobilenet_v2-b100")
    parser.add_argument("--paths", nargs="+", default=[p.value for p in PATHS])
    parser.add_argument("--isa-floor", action="store_true", help="also fp32 eager with AVX2 kernels (the cross-CPU floor)")
    parser.add_argument("--dump", default=None, help=argparse.SUPPRESS)  # internal: features as JSON for --isa-floor
    args = parser.parse_args()
    spec = load_spec(args.spec)
    network = probe_network_for(spec)
    available = path_availability()
    with tempfile.TemporaryDirectory() as tmp:
        folders = build_sample_tasks(tmp)
        tasks = {name: scan([str(pair[0])]).refs for name, pair in folders.items()}
        if args.dump:
            _, feats, _ = pipeline(prepare(network, "fp32"), tasks, spec, samples=args.samples_per_task, batch_size=args.batch_size)
            torch.save(feats, args.dump)
            return
        print(f"probe {spec.probe}, batch {args.batch_size}, {torch.get_num_threads()} torch threads, "
              f"{len(tasks)} tasks x {args.samples_per_task} samples; load average {os.getloadavg()[0]:.1f}", flush=True)
        results, reference = {}, None
        for name in args.paths:
            path = NumericPath(name)
            if available[path] is not None:
                print(f"{path.value:14s} unavailable: {available[path]}")
                continue
            start = time.perf_counter()
            probe = prepare(network, path)
            ready = time.perf_counter() - start
            # The machine is shared: the bare forward pass is timed before and after the pipeline and the
            # faster of the two kept, which can only make the pipeline's share look smaller.
            fwd = bare_forward(probe, batch_size=args.batch_size, batches=args.forward_batches)
            rate, feats, prints = pipeline(probe, tasks, spec, samples=args.samples_per_task, batch_size=args.batch_size)
            fwd = max(fwd, bare_forward(probe, batch_size=args.batch_size, batches=args.forward_batches))
            if reference is None:
                reference = (feats, prints)
            row = {"used": probe.path.value, "prepare_s": ready, "forward_img_s": fwd, "pipeline_img_s": rate, "pipeline_over_forward": rate / fwd}
            row.update(compare(spec, *reference, feats, prints))
            results[path.value] = row
            print(f"{path.value:14s} " + " | ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
        if args.isa_floor and reference is not None:
            dump = os.path.join(tmp, "avx2.pt")
            env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
            subprocess.run([sys.executable, __file__, "--samples-per-task", str(args.samples_per_task), "--batch-size", str(args.batch_size),
                            "--spec", args.spec, "--dump", dump], check=True, env=env)
            feats = torch.load(dump)
            prints = {t: _fingerprint(spec, f) for t, f in feats.items()}
            row = compare(spec, *reference, feats, prints)
            results["fp32-avx2 (other CPU)"] = row
            print("fp32-avx2      " + " | ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    base = results.get("fp32", {}).get("forward_img_s")
    if base:
        for name, row in results.items():
            if "forward_img_s" in row:
                print(f"{name:14s} speed-up over fp32 eager: forward {row['forward_img_s'] / base:.2f}x, "
                      f"pipeline {row['pipeline_img_s'] / results['fp32']['pipeline_img_s']:.2f}x")
    print(json.dumps(results, indent=None, default=float))


def _fingerprint(spec, feats: torch.Tensor) -> Fingerprint:
    acc = ExactBinAccumulator(spec)
    acc.add(feats)
    return Fingerprint(spec.spec_id, acc.counts_matrix(), acc.n, (acc.feature_sum / acc.n).numpy())


if __name__ == "__main__":
    main()
