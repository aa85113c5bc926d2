"""Numeric paths: same bins as fp32 eager within the documented tolerance, clean fallbacks, exact sums."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from secfp.errors import UsageError
from secfp.fingerprint import numerics
from secfp.fingerprint.binning import bin_indices
from secfp.fingerprint.images import scan
from secfp.fingerprint.numerics import ExactFeatureSum, NumericPath, prepare, resolve
from secfp.fingerprint.pipeline import extract_features, fingerprint_paths, probe_network_for
from secfp.fingerprint.preprocess import crop_and_normalise, normalise_batch, resize_shortest
from secfp.fingerprint.sampling import plan_with_replacement

# docs/performance.md: fp32-class paths move 2.5e-5 (channels-last) and 4.4e-5 (compile) of the
# values across a bin edge, as fp32 eager with another CPU's kernels does (2.6e-5). Tests allow 1e-3.
BIN_TOLERANCE = 1e-3


def test_batch_normalisation_is_bit_identical_to_per_image():
    rng = np.random.default_rng(0)
    resized = resize_shortest(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
    uvs, flips = rng.random((5, 2)), [True, False, True, True, False]
    from secfp.fingerprint.preprocess import crop

    single = torch.stack([crop_and_normalise(resized, uv, f) for uv, f in zip(uvs, flips)])
    batch = torch.stack([crop(resized, uv, f) for uv, f in zip(uvs, flips)])
    for fmt in (torch.contiguous_format, torch.channels_last):
        out = normalise_batch(batch, memory_format=fmt)
        assert out.is_contiguous(memory_format=fmt)
        assert torch.equal(out, single)


def test_exact_sums_are_order_independent_and_correctly_rounded():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((500, 6)) * np.exp(rng.uniform(-40, 40, (500, 6)))).astype(np.float32)
    x[0, 0], x[1, 1] = np.float32(1e-45), np.float32(3e38)  # a subnormal and a near-overflow value
    whole = ExactFeatureSum(6)
    whole.add(torch.from_numpy(x))
    shards = ExactFeatureSum(6)
    for part in np.array_split(rng.permutation(500), 7):
        piece = ExactFeatureSum(6)
        piece.add(x[part])
        shards.merge(piece)
    expected = [math.fsum(float(v) for v in x[:, j]) for j in range(6)]
    assert whole.value().tolist() == expected
    assert shards.value().tolist() == expected


def test_unknown_path_is_a_usage_error_and_auto_resolves_by_run_size(monkeypatch):
    with pytest.raises(UsageError, match="unknown numeric path"):
        resolve("fp8")
    assert resolve("auto", samples=10) is NumericPath.CHANNELS_LAST
    monkeypatch.setattr(numerics, "compiler_available", lambda: None)
    assert resolve(None, samples=numerics.AUTO_COMPILE_MIN_SAMPLES) is NumericPath.COMPILE
    monkeypatch.setattr(numerics, "compiler_available", lambda: "no C++ compiler on PATH")
    assert resolve(None, samples=10**6) is NumericPath.CHANNELS_LAST


def test_compile_without_a_working_compiler_falls_back_to_channels_last(monkeypatch):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).eval()
    monkeypatch.setattr(numerics, "compiler_available", lambda: "no C++ compiler on PATH")
    with pytest.warns(RuntimeWarning, match="no C.. compiler"):
        probe = prepare(net, "compile", image_size=8)
    assert probe.path is NumericPath.CHANNELS_LAST and probe.requested is NumericPath.COMPILE

    def broken(*args, **kwargs):
        raise RuntimeError("inductor exploded")

    monkeypatch.setattr(numerics, "compiler_available", lambda: None)
    monkeypatch.setattr(torch, "compile", broken)
    with pytest.warns(RuntimeWarning, match="inductor exploded"):
        probe = prepare(net, "compile", image_size=8)
    x = torch.rand(2, 3, 8, 8)
    with torch.inference_mode():
        assert torch.allclose(probe(x), net(x), atol=1e-6)


def test_bf16_is_refused_without_native_bf16_and_for_an_fp32_spec(monkeypatch, sample_tasks, default_spec):
    # A bf16 fingerprint under an fp32 spec id would be silently incomparable: refuse, never mix.
    with pytest.raises(UsageError, match="fp32 spec"):
        fingerprint_paths([sample_tasks["us"][0]], spec=default_spec, samples=4, numerics="bf16")
    monkeypatch.setattr(numerics, "bf16_native", lambda: False)
    with pytest.raises(UsageError, match="avx512_bf16 or AMX"):
        prepare(torch.nn.Identity(), "bf16")


def _features(refs, plan, probe) -> torch.Tensor:
    out = torch.zeros(len(plan), 1280)
    for ids, feats in extract_features(refs, plan, network=probe, batch_size=16):
        out[torch.from_numpy(ids)] = feats
    return out


# compile costs 10-60 s the first time (inductor's disk cache makes later runs fast); it runs in CI.
@pytest.mark.parametrize("path", ["channels-last", "compile"])
def test_fast_paths_bin_real_images_like_fp32_eager(path, sample_tasks, default_spec, torch_home):
    refs = scan([sample_tasks["histology"][0], sample_tasks["ct"][0]]).refs
    plan = plan_with_replacement(len(refs), samples=32, rng=np.random.default_rng(4))
    net = probe_network_for(default_spec)
    reference = _features(refs, plan, prepare(net, "fp32"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback here would test the wrong path
        fast = _features(refs, plan, prepare(net, path))
    assert float((fast - reference).abs().max()) < 1e-4
    changed = (bin_indices(fast, default_spec) != bin_indices(reference, default_spec)).double().mean()
    assert changed <= BIN_TOLERANCE


def test_progress_reaches_the_total_and_fingerprint_reports_its_path(sample_tasks, default_spec):
    seen = []
    run = fingerprint_paths([sample_tasks["us"][1]], spec=default_spec, samples=20, seed=3, batch_size=8,
                            numerics="channels-last", on_progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (20, 20) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert run.numerics == "channels-last" and run.fingerprint.n == 20


def test_thread_count_does_not_change_features(default_spec, torch_home):
    # The pipeline leaves a core to decoding and Dask workers run one thread: neither may change a bit.
    probe = prepare(probe_network_for(default_spec), "channels-last")
    x = torch.randn(4, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    threads = torch.get_num_threads()
    try:
        with torch.inference_mode():
            torch.set_num_threads(1)
            one = probe(x)
            torch.set_num_threads(2)
            two = probe(x)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)
