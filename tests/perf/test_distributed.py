"""Dask map-reduce fingerprinting: two worker processes give the single-process fingerprint, bit for bit."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

# dask is the optional extra secfp[dask]; `make test` installs it, so this never skips there.
import dask.distributed as distributed  # noqa: E402

from secfp.fingerprint.distributed import DaskRunner, split_plan  # noqa: E402
from secfp.fingerprint.pipeline import fingerprint_paths  # noqa: E402
from secfp.fingerprint.sampling import plan_with_replacement  # noqa: E402


@pytest.fixture(scope="module")
def client(torch_home):
    # Workers inherit TORCH_HOME and SECFP_OFFLINE from this process (set by the session fixtures).
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def test_shards_cover_the_plan_once_in_image_order():
    plan = plan_with_replacement(9, samples=50, rng=np.random.default_rng(0))
    shards = split_plan(plan, 8)
    ids = np.concatenate(shards)
    assert sorted(ids.tolist()) == list(range(50)) and all(len(s) <= 8 for s in shards)
    assert np.all(np.diff(plan.image_index[ids]) >= 0)


def test_two_worker_cluster_gives_the_single_process_fingerprint(client, sample_tasks, default_spec, tmp_path):
    folders = [sample_tasks["ct"][0], sample_tasks["fundus"][1]]
    single = fingerprint_paths(folders, spec=default_spec, samples=40, seed=11, batch_size=8)
    runner = DaskRunner(client, shard_size=8)
    progress = []
    spread = fingerprint_paths(folders, spec=default_spec, samples=40, seed=11, batch_size=8, runner=runner,
                               on_progress=lambda d, t: progress.append((d, t)))
    assert spread.fingerprint == single.fingerprint  # counts, n and the feature mean, bit for bit
    assert len(client.scheduler_info()["workers"]) == 2
    assert progress[-1] == (40, 40) and spread.numerics == single.numerics

    # An undecodable image is found by a worker, reported under its global index, and redrawn the same way.
    for f in sorted(sample_tasks["histology"][0].iterdir())[:4]:
        shutil.copy(f, tmp_path / f.name)
    good = sorted(tmp_path.iterdir())[0].read_bytes()
    (tmp_path / "zz_truncated.png").write_bytes(good[: len(good) // 3])
    single = fingerprint_paths([tmp_path], spec=default_spec, samples=24, seed=5, batch_size=8)
    spread = fingerprint_paths([tmp_path], spec=default_spec, samples=24, seed=5, batch_size=8, runner=runner)
    assert spread.fingerprint == single.fingerprint
    assert spread.failed == single.failed and [p.rsplit("/", 1)[-1] for p, _ in spread.failed] == ["zz_truncated.png#0"]
