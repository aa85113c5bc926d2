"""Fingerprinting throughput: the full pipeline (read, decode, preprocess, forward, bin) vs the bare forward pass.

Prints, in one run and at the same batch size, images/s of the bare network on
ready tensors and of ``fingerprint_paths`` on real sample-task images (decode
included), and their ratio. Needs the mobilenet_v2 weights imported (``make weights``).

    python benchmarks/extract.py [--samples 512] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from secfp.fingerprint.pipeline import fingerprint_paths, probe_network_for
from secfp.fingerprint.spec import load_spec
from secfp.sample_tasks import build_sample_tasks


def bare_forward(network: torch.nn.Module, *, samples: int, batch_size: int) -> float:
    batch = torch.randn(batch_size, 3, 224, 224)
    with torch.inference_mode():
        network(batch)  # warm-up
        start = time.perf_counter()
        done = 0
        while done < samples:
            network(batch)
            done += batch_size
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--spec", default="mobilenet_v2-b100")
    args = parser.parse_args()
    spec = load_spec(args.spec)
    network = probe_network_for(spec)
    with tempfile.TemporaryDirectory() as tmp:
        folders = build_sample_tasks(tmp, ["ct", "us", "fundus"])
        paths = [str(f) for pair in folders.values() for f in pair]
        fingerprint_paths(paths, spec=spec, samples=args.batch_size, seed=0, batch_size=args.batch_size)  # warm-up
        forward = bare_forward(network, samples=args.samples, batch_size=args.batch_size)
        start = time.perf_counter()
        fingerprint_paths(paths, spec=spec, samples=args.samples, seed=0, batch_size=args.batch_size)
        pipeline = args.samples / (time.perf_counter() - start)
    print(f"probe {spec.probe}, batch {args.batch_size}, {torch.get_num_threads()} torch threads, {args.samples} samples")
    print(f"bare forward pass : {forward:8.1f} images/s")
    print(f"full pipeline     : {pipeline:8.1f} images/s (DICOM/PNG decode, resize, crop, forward, bin)")
    print(f"pipeline / forward: {pipeline / forward:8.1%}")


if __name__ == "__main__":
    main()
