"""Time to draw exact discrete Gaussian noise from os.urandom, and to calibrate sigma.

Run: python benchmarks/dp_noise.py [--repeat 3]

Prints the best of ``--repeat`` wall-clock times for 51,200 cells (512 features x
100 bins), 128,000 (the default spec, 1280 x 100), 512,000 (512 x 1000) and
1,280,000 (1280 x 1000), at the sigma each would get for epsilon = 1, delta = 1e-6.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time

from secfp.privacy.accounting import calibrate
from secfp.privacy.mechanism import discrete_gaussian

SHAPES = ((512, 100), (1280, 100), (512, 1000), (1280, 1000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--epsilon", type=float, default=1.0)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; noise from os.urandom")
    print(f"{'cells':>10} {'shape':>12} {'sigma':>10} {'calibrate s':>12} {'noise s':>9} {'ns/cell':>8}")
    for m, bins in SHAPES:
        start = time.perf_counter()
        sigma = calibrate(epsilon=args.epsilon, delta=1e-6, sample_rate=1.0, contributions=m).sigma
        calib = time.perf_counter() - start
        best = math.inf
        for _ in range(args.repeat):
            start = time.perf_counter()
            discrete_gaussian(m * bins, sigma=sigma)
            best = min(best, time.perf_counter() - start)
        print(f"{m * bins:>10,} {f'{m}x{bins}':>12} {sigma:>10.4g} {calib:>12.3f} {best:>9.3f} {1e9 * best / (m * bins):>8.0f}")


if __name__ == "__main__":
    main()
