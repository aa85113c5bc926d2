"""Fingerprints of real images: determinism, merge = whole, clamping, file format."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from secfp.errors import BadInput, IncompatibleFingerprints
from secfp.fingerprint.binning import BinAccumulator
from secfp.fingerprint.histogram import Fingerprint, load_fingerprint, merge, save_fingerprint
from secfp.fingerprint.images import scan
from secfp.fingerprint.pipeline import fingerprint_paths, fingerprint_refs
from secfp.fingerprint.sampling import plan_with_replacement


def _as_fingerprint(acc: BinAccumulator) -> Fingerprint:
    return Fingerprint(acc.spec.spec_id, acc.counts_matrix(), acc.n, (acc.feature_sum / acc.n).numpy())


def test_every_row_sums_to_n_and_same_seed_gives_same_fingerprint(sample_tasks, default_spec):
    folder = sample_tasks["histology"][0]
    first = fingerprint_paths([folder], spec=default_spec, samples=40, seed=7).fingerprint
    again = fingerprint_paths([folder], spec=default_spec, samples=40, seed=7).fingerprint
    other = fingerprint_paths([folder], spec=default_spec, samples=40, seed=8).fingerprint
    assert first.shape == (1280, 100)
    assert np.all(first.counts.sum(axis=1) == 40)
    assert first == again
    assert not np.array_equal(first.counts, other.counts)


def test_merge_of_two_halves_equals_fingerprint_of_the_whole(sample_tasks, default_spec):
    refs = scan([sample_tasks["ct"][0], sample_tasks["us"][1]]).refs
    plan = plan_with_replacement(len(refs), samples=70, rng=np.random.default_rng(3))
    whole = _as_fingerprint(fingerprint_refs(refs, plan, spec=default_spec))
    first = _as_fingerprint(fingerprint_refs(refs, plan.subset(slice(0, 33)), spec=default_spec))
    second = _as_fingerprint(fingerprint_refs(refs, plan.subset(slice(33, None)), spec=default_spec))
    merged = merge(first, second)
    np.testing.assert_array_equal(merged.counts, whole.counts)
    assert merged.n == whole.n == 70
    np.testing.assert_allclose(merged.feature_mean, whole.feature_mean, rtol=0, atol=1e-9)


def test_batch_size_does_not_change_the_fingerprint(sample_tasks, default_spec):
    folder = sample_tasks["fundus"][1]
    a = fingerprint_paths([folder], spec=default_spec, samples=30, seed=2, batch_size=8).fingerprint
    b = fingerprint_paths([folder], spec=default_spec, samples=30, seed=2, batch_size=32).fingerprint
    np.testing.assert_array_equal(a.counts, b.counts)


def test_values_outside_the_edges_are_clamped_into_the_end_bins(default_spec):
    acc = BinAccumulator(default_spec)
    low = torch.tensor(np.array(default_spec.low))
    high = torch.tensor(np.array(default_spec.high))
    acc.add(torch.stack([low - 100.0, high + 100.0, (low + high) / 2]).to(torch.float32))
    counts = acc.counts_matrix()
    assert np.all(counts.sum(axis=1) == 3)
    assert np.all(counts[:, 0] >= 1) and np.all(counts[:, -1] >= 1)
    assert np.all(counts[:, default_spec.bins // 2 - 1 : default_spec.bins // 2 + 1].sum(axis=1) == 1)


def test_bad_images_are_redrawn_from_good_ones(tmp_path, sample_tasks, default_spec):
    import shutil

    for f in sorted(sample_tasks["histology"][0].iterdir())[:3]:
        shutil.copy(f, tmp_path / f.name)
    # Passes the header scan but cannot be decoded: a truncated PNG.
    good = sorted(tmp_path.iterdir())[0].read_bytes()
    (tmp_path / "zz_truncated.png").write_bytes(good[: len(good) // 3])
    run = fingerprint_paths([tmp_path], spec=default_spec, samples=40, seed=0)
    assert run.fingerprint.n == 40
    assert [p.split("/")[-1] for p, _ in run.failed] == ["zz_truncated.png#0"]


def test_fingerprint_file_round_trip_and_strict_parsing(tmp_path, task_fingerprints):
    fp = task_fingerprints[("mr", "a")]
    path = tmp_path / "fp.json"
    save_fingerprint(fp, path)
    assert load_fingerprint(path) == fp
    obj = json.loads(path.read_text())
    for bad in (
        {**obj, "extra": 1},
        {**obj, "n": obj["n"] + 1},  # rows no longer sum to n
        {**obj, "shape": [obj["shape"][0], obj["shape"][1] + 1]},
        {**obj, "v": 2},
    ):
        path.write_text(json.dumps(bad))
        with pytest.raises(BadInput):
            load_fingerprint(path)
    path.write_text(path.read_text()[:-50])
    with pytest.raises(BadInput):
        load_fingerprint(path)
    path.write_text('{"v": 1, "v": 1}')
    with pytest.raises(BadInput, match="duplicate key"):
        load_fingerprint(path)


def test_fingerprints_of_different_specs_never_merge(task_fingerprints):
    fp = task_fingerprints[("mr", "a")]
    other = Fingerprint("0" * 64, fp.counts, fp.n, fp.feature_mean)
    with pytest.raises(IncompatibleFingerprints, match=fp.spec_id):
        merge(fp, other)
