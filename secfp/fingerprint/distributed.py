"""Fingerprinting on a Dask cluster: shards of the sample plan go to workers, counts and exact sums come back.

Counts are integers and feature sums are exact (:class:`~secfp.fingerprint.numerics.ExactFeatureSum`),
and a sample's features do not depend on its batch neighbours or on the number of
threads, so the merged result is bit for bit the single-process fingerprint of the
same plan, however the plan is split and in whatever order shards finish
(tests/perf/test_distributed.py checks this on a local cluster of two processes).

Each worker process loads and verifies the probe once (``prepared_probe`` is
cached per process) and keeps it for every shard it runs. Workers read the
images themselves, so they must see the same paths as the client (a shared
file system on an HPC cluster; dask-jobqueue's ``SLURMCluster`` gives such workers).
The plan, the sampling and the redraws stay on the client, so the seed means
the same thing everywhere.

Optional: ``pip install 'secfp[dask]'``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from secfp.errors import UsageError
from secfp.fingerprint.images import ImageRef
from secfp.fingerprint.numerics import FORWARD_BATCH, ExactBinAccumulator, ExactFeatureSum
from secfp.fingerprint.sampling import SamplePlan
from secfp.fingerprint.spec import FingerprintSpec

__all__ = ["DaskRunner", "ShardResult", "dask_runner", "split_plan", "run_shard", "DEFAULT_SHARD_BATCHES"]

# Shards of 16 batches: small enough to balance load and show progress, large enough
# that a shard's padded last batch and its scheduling overhead stay negligible.
DEFAULT_SHARD_BATCHES = 16


@dataclass(frozen=True)
class ShardResult:
    """What a worker sends back: counts, exact-sum limbs, n, failures by shard-local image, path used."""

    counts: np.ndarray
    limbs: np.ndarray
    n: int
    failures: dict[int, str]
    numerics: str


def split_plan(plan: SamplePlan, shard_size: int) -> list[np.ndarray]:
    """Sample ids of each shard: contiguous runs in image order, so each image is decoded by few shards."""
    if shard_size < 1:
        raise UsageError("the shard size must be positive")
    order = np.lexsort((np.arange(len(plan)), plan.image_index))
    return [order[i : i + shard_size] for i in range(0, len(order), shard_size)]


def run_shard(
    spec: FingerprintSpec, refs: list[ImageRef], image_index: np.ndarray, crop_uv: np.ndarray, flip: np.ndarray,
    batch_size: int, numerics: str | None,
) -> ShardResult:
    """Worker side: fingerprint one shard with this process's cached probe."""
    from secfp.fingerprint.pipeline import fingerprint_refs, prepared_probe

    failures: dict[int, str] = {}
    plan = SamplePlan(image_index, crop_uv, flip)
    acc = fingerprint_refs(refs, plan, spec=spec, batch_size=batch_size, failures=failures, numerics=numerics)
    used = prepared_probe(spec, numerics, batch_size=batch_size, samples=len(plan)).path.value
    return ShardResult(acc.counts.numpy(), acc.exact.limbs, acc.n, failures, used)


class DaskRunner:
    """A :class:`~secfp.fingerprint.pipeline.ShardRunner` that maps shards over a Dask client.

    ``numerics_used`` lists the numeric path(s) the workers actually ran (a worker
    without a compiler falls back from ``compile`` to ``channels-last``).
    """

    def __init__(self, client, *, shard_size: int | None = None) -> None:  # noqa: ANN001 - dask.distributed.Client
        self.client = client
        self.shard_size = shard_size
        self.numerics_used = ""

    def _shard_size(self, samples: int, batch_size: int) -> int:
        # At least four shards per worker (load balance, progress), at most 16 batches, whole forward batches.
        workers = max(1, len(self.client.scheduler_info().get("workers", {})))
        size = min(DEFAULT_SHARD_BATCHES * batch_size, -(-samples // (4 * workers)))
        return max(FORWARD_BATCH, -(-size // FORWARD_BATCH) * FORWARD_BATCH)

    def __call__(
        self, refs: list[ImageRef], plan: SamplePlan, *, spec: FingerprintSpec, batch_size: int,
        failures: dict[int, str], on_progress: Callable[[int, int], None] | None, numerics: str | None,
    ) -> ExactBinAccumulator:
        from dask.distributed import as_completed

        acc = ExactBinAccumulator(spec)
        shards = split_plan(plan, self.shard_size or self._shard_size(len(plan), batch_size))
        # hash=False: a fresh key per call. With content-hashed keys a second run of the same spec
        # reused the first run's key while the scheduler was releasing it ("lost dependencies").
        [spec_future] = self.client.scatter([spec], broadcast=True, hash=False)
        futures, sizes, images_of = [], {}, {}
        for ids in shards:
            images, local = np.unique(plan.image_index[ids], return_inverse=True)
            future = self.client.submit(
                run_shard, spec_future, [refs[i] for i in images], local.astype(np.int64), plan.crop_uv[ids], plan.flip[ids],
                batch_size, numerics, pure=False,
            )
            futures.append(future)
            sizes[future.key], images_of[future.key] = len(ids), images
        used: set[str] = set()
        done = 0
        try:
            for future in as_completed(futures):
                result: ShardResult = future.result()
                acc.counts += _as_tensor(result.counts)
                acc.exact.merge(ExactFeatureSum(spec.num_features, result.limbs))
                acc.n += result.n
                failures.update({int(images_of[future.key][i]): why for i, why in result.failures.items()})
                used.add(result.numerics)
                done += sizes[future.key]
                if on_progress is not None:
                    on_progress(done, len(plan))
        except BaseException:
            self.client.cancel(futures)  # Ctrl-C or a failed shard: nothing keeps running for us
            raise
        self.numerics_used = "+".join(sorted(used))
        return acc


def _as_tensor(counts: np.ndarray):  # noqa: ANN202
    import torch

    return torch.from_numpy(np.asarray(counts, dtype=np.int64))


@contextlib.contextmanager
def dask_runner(*, scheduler: str | None = None, workers: int | None = None, shard_size: int | None = None) -> Iterator[DaskRunner]:
    """A :class:`DaskRunner` on an existing scheduler (``tcp://HOST:PORT``) or a local cluster of ``workers`` processes.

    The local cluster runs one single-threaded process per worker (Dask sets
    ``OMP_NUM_THREADS=1`` in them), which is also the fastest layout for CPU
    inference. Clients and clusters are closed on the way out, Ctrl-C included.
    """
    if (scheduler is None) == (workers is None):
        raise UsageError("give either a scheduler address or a number of local workers")
    if workers is not None and workers < 1:
        raise UsageError("--workers must be at least 1")
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("distributed fingerprinting needs Dask: pip install 'secfp[dask]'") from None
    cluster = None
    if scheduler is not None:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        yield DaskRunner(client, shard_size=shard_size)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
