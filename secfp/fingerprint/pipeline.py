"""Images to fingerprint: scan, plan samples, decode and preprocess, probe, bin.

Decoding and preprocessing run in a background thread that fills a small queue
of ready batches while the network works on the previous one
(:mod:`secfp.fingerprint.preprocess`). Batches always have the same size (the
last is zero-padded and the padding discarded), so a sample's features never
depend on how many others share its batch, and feature sums are exact
(:class:`~secfp.fingerprint.numerics.ExactBinAccumulator`), so neither batching
nor sharding changes a bit: a fingerprint is a pure function of (images, spec,
seed) on a given numeric path. The probe runs on one of the numeric paths of
:mod:`secfp.fingerprint.numerics`; a shard runner (for example
:class:`secfp.fingerprint.distributed.DaskRunner`) can take the forward passes
elsewhere, with the identical result.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from secfp.errors import BadInput, UnreadableImages, UsageError
from secfp.fingerprint.histogram import Fingerprint
from secfp.fingerprint.images import ImageRef, ScanReport, scan
from secfp.fingerprint.numerics import FORWARD_BATCH, ExactBinAccumulator, NumericPath, PreparedProbe, precision_class, prepare, resolve
from secfp.fingerprint.preprocess import PREPROCESSING, batches, prefetched
from secfp.fingerprint.probe import get_probe, load_probe_network, resolve_weights_sha256
from secfp.fingerprint.sampling import SamplePlan, plan_units_poisson, plan_with_replacement
from secfp.fingerprint.spec import FingerprintSpec

__all__ = [
    "FingerprintRun",
    "PoissonCounts",
    "ShardRunner",
    "fingerprint_paths",
    "fingerprint_poisson",
    "fingerprint_refs",
    "extract_features",
    "calibrate_spec",
    "probe_network_for",
    "prepared_probe",
    "DEFAULT_BATCH_SIZE",
]

DEFAULT_BATCH_SIZE = 32
Progress = Callable[[int, int], None]


@dataclass
class FingerprintRun:
    """A fingerprint and what it took: the scan report, images that failed to decode, the numeric path used."""

    fingerprint: Fingerprint
    report: ScanReport
    failed: list[tuple[str, str]] = field(default_factory=list)
    numerics: str = NumericPath.FP32.value


@dataclass(frozen=True)
class PoissonCounts:
    """What a DP release may read of a Poisson-sampled run: the exact counts, nothing else.

    ``counts`` (features x bins, int64) may be all zero: a sample that selected no unit,
    or whose images all failed to decode, is released as pure noise like any other, so
    whether a release happens never depends on the data. The exact image count and the
    exact feature mean are deliberately absent.
    """

    counts: np.ndarray
    report: ScanReport
    failed: list[tuple[str, str]] = field(default_factory=list)
    numerics: str = NumericPath.FP32.value


class ShardRunner(Protocol):
    """Runs the forward passes of one sample plan and returns its counts and exact sums.

    :func:`fingerprint_refs` is the in-process runner; a distributed runner must
    return the identical accumulator (counts and exact sums add, so it can split
    the plan any way it likes). Failed images go to ``failures`` by image index.
    """

    def __call__(
        self, refs: list[ImageRef], plan: SamplePlan, *, spec: FingerprintSpec, batch_size: int,
        failures: dict[int, str], on_progress: Progress | None, numerics: str | None,
    ) -> ExactBinAccumulator: ...


@functools.lru_cache(maxsize=4)
def _network(probe: str, weights: str, weights_sha256: str) -> torch.nn.Module:
    return load_probe_network(probe, weights, weights_sha256)


def probe_network_for(spec: FingerprintSpec) -> torch.nn.Module:
    """The spec's probe with exactly the spec's weights (cached per process)."""
    return _network(spec.probe, spec.weights, spec.weights_sha256)


@functools.lru_cache(maxsize=8)
def _prepared(network: torch.nn.Module, path: NumericPath) -> PreparedProbe:
    # Keyed by the loaded network itself: whatever reloads (and re-verifies) the weights gets a new one.
    return prepare(network, path, image_size=PREPROCESSING["crop"])


def _check_precision(spec: FingerprintSpec, path: NumericPath) -> None:
    # A spec records the precision class its fingerprints are made in (fp32 unless it says otherwise).
    spec_class = getattr(spec, "numerics", "fp32")
    if precision_class(path) != spec_class:
        raise UsageError(
            f"numeric path {path.value!r} computes in {precision_class(path)}, but spec {spec.short_id()} is a {spec_class} spec: "
            "its fingerprints would not be comparable (see docs/performance.md)"
        )


def prepared_probe(
    spec: FingerprintSpec, numerics: str | None = None, *, batch_size: int = DEFAULT_BATCH_SIZE, samples: int | None = None
) -> PreparedProbe:
    """The spec's probe on a numeric path (``auto`` resolved for ``samples``), prepared once per process.

    ``batch_size`` is accepted for symmetry; the forward pass always runs on
    :data:`~secfp.fingerprint.numerics.FORWARD_BATCH` images.
    """
    path = resolve(numerics, samples=samples)
    _check_precision(spec, path)
    return _prepared(probe_network_for(spec), path)


def extract_features(
    refs: list[ImageRef],
    plan: SamplePlan,
    *,
    network: torch.nn.Module | PreparedProbe,
    batch_size: int = DEFAULT_BATCH_SIZE,
    failures: dict[int, str] | None = None,
    on_progress: Progress | None = None,
) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
    """Yield (sample ids, features) per batch; images that fail to decode go to ``failures``.

    A plain module runs as given (fp32 eager on NCHW, ``batch_size`` images at a time);
    a :class:`PreparedProbe` gets its batches in its memory layout, ``batch_size``
    rounded up to a multiple of :data:`~secfp.fingerprint.numerics.FORWARD_BATCH`.
    """
    failures = {} if failures is None else failures
    fmt = torch.contiguous_format
    if isinstance(network, PreparedProbe):  # whole forward batches: no padded compute but the last
        fmt, batch_size = network.memory_format, -(-batch_size // FORWARD_BATCH) * FORWARD_BATCH
    done = 0
    with torch.inference_mode():
        for ids, batch in prefetched(batches(refs, plan, batch_size, failures, memory_format=fmt)):
            features = network(batch)[: len(ids)]
            done += len(ids)
            if on_progress is not None:
                on_progress(done, len(plan))
            yield ids, features


def fingerprint_refs(
    refs: list[ImageRef],
    plan: SamplePlan,
    *,
    spec: FingerprintSpec,
    batch_size: int = DEFAULT_BATCH_SIZE,
    failures: dict[int, str] | None = None,
    on_progress: Progress | None = None,
    numerics: str | None = None,
) -> ExactBinAccumulator:
    """Counts and exact feature sums of one explicit sample plan (the unit that shards and merges)."""
    network = prepared_probe(spec, numerics, batch_size=batch_size, samples=len(plan))
    acc = ExactBinAccumulator(spec)
    for _, features in extract_features(refs, plan, network=network, batch_size=batch_size, failures=failures, on_progress=on_progress):
        acc.add(features)
    return acc


def _fingerprint(spec: FingerprintSpec, acc: ExactBinAccumulator) -> Fingerprint:
    return Fingerprint(spec_id=spec.spec_id, counts=acc.counts_matrix(), n=acc.n, feature_mean=(acc.feature_sum / acc.n).numpy())


def _failed(report: ScanReport, failures: dict[int, str]) -> list[tuple[str, str]]:
    return [(f"{report.refs[i].path}#{report.refs[i].index}", why) for i, why in sorted(failures.items())]


def fingerprint_paths(
    paths: list,
    *,
    spec: FingerprintSpec,
    samples: int = 10_000,
    seed: int = 0,
    nifti_axis: int = 2,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: Progress | None = None,
    numerics: str | None = None,
    runner: ShardRunner | None = None,
) -> FingerprintRun:
    """Fingerprint the images under ``paths``: ``samples`` draws with replacement, seeded.

    Samples that hit an image that cannot be decoded are drawn again, from the
    same generator, among the images that are still good, so the result stays a
    deterministic function of the inputs and the seed. ``numerics`` picks the
    numeric path (default: :data:`~secfp.fingerprint.numerics.DEFAULT_NUMERICS`);
    ``runner`` runs the forward passes of each round (default: this process).
    """
    if samples < 1:
        raise BadInput("the number of samples must be positive")
    path = resolve(numerics, samples=samples)
    _check_precision(spec, path)
    run_plan = runner or fingerprint_refs
    report = scan(paths, nifti_axis=nifti_axis)
    rng = np.random.default_rng(seed)
    good = np.arange(len(report.refs))
    failures: dict[int, str] = {}
    acc = ExactBinAccumulator(spec)
    missing = samples
    while missing > 0:
        if good.size == 0:
            raise UnreadableImages(f"no decodable images in {', '.join(map(str, paths))}")
        draw = plan_with_replacement(int(good.size), samples=missing, rng=rng)
        plan = SamplePlan(good[draw.image_index], draw.crop_uv, draw.flip)
        offset = samples - missing
        acc.merge(run_plan(
            report.refs, plan, spec=spec, batch_size=batch_size, failures=failures, numerics=path.value,
            on_progress=(lambda d, t, o=offset: on_progress(o + d, samples)) if on_progress else None,
        ))
        missing = samples - acc.n
        good = np.setdiff1d(good, np.fromiter(failures, dtype=np.int64, count=len(failures)))
    return FingerprintRun(_fingerprint(spec, acc), report, _failed(report, failures), _used(spec, path, runner))


def _used(spec: FingerprintSpec, path: NumericPath, runner: ShardRunner | None) -> str:
    # The path this process actually ran (compile may have fallen back); remote runners report their own.
    if runner is not None:
        return getattr(runner, "numerics_used", "") or path.value
    return prepared_probe(spec, path.value).path.value


def fingerprint_poisson(
    paths: list,
    *,
    spec: FingerprintSpec,
    sample_rate: float,
    rng: np.random.Generator,
    nifti_axis: int = 2,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: Progress | None = None,
    numerics: str | None = None,
    runner: ShardRunner | None = None,
    report: ScanReport | None = None,
    unit_index: np.ndarray | None = None,
    max_images_per_unit: int = 1,
) -> PoissonCounts:
    """Counts for a DP release: units Poisson-sampled at ``sample_rate``, at most ``max_images_per_unit`` images each.

    ``report`` is the (de-duplicated) scan of ``paths`` when the caller already has it,
    ``unit_index`` the privacy unit of each of its images (default: every image its
    own unit). Contribution bounding makes every unit add at most
    ``max_images_per_unit`` counts per feature row: the sensitivity the DP calibration
    assumes. ``rng`` must be secret for amplification by subsampling to hold: the
    export path seeds it from the OS CSPRNG. Images that fail to decode are dropped,
    which depends only on each image itself.

    The numeric path never depends on the sample: ``auto`` (or None) resolves as for
    an unknown sample size (``channels-last``), so the realised n leaves no trace in
    which path ran. An empty sample (or one whose images all fail to decode) gives
    all-zero counts rather than an error: refusing would make the release itself
    depend on the data, and a retry would condition the sample on being non-empty.
    """
    if report is None:
        report = scan(paths, nifti_axis=nifti_axis)
    units = np.arange(len(report.refs)) if unit_index is None else np.asarray(unit_index)
    if units.shape != (len(report.refs),):
        raise BadInput("unit_index needs one unit per scanned image")
    plan = plan_units_poisson(units, rate=sample_rate, max_per_unit=max_images_per_unit, rng=rng)
    path = resolve(numerics, samples=None)
    _check_precision(spec, path)
    failures: dict[int, str] = {}
    if len(plan) == 0:
        counts = np.zeros((spec.num_features, spec.bins), dtype=np.int64)
    else:
        acc = (runner or fingerprint_refs)(report.refs, plan, spec=spec, batch_size=batch_size, failures=failures,
                                           on_progress=on_progress, numerics=path.value)
        counts = acc.counts_matrix().astype(np.int64)
    return PoissonCounts(counts, report, _failed(report, failures), _used(spec, path, runner))


def calibrate_spec(
    paths: list,
    *,
    probe: str,
    weights: str = "IMAGENET1K_V1",
    bins: int = 100,
    samples: int = 4000,
    seed: int = 0,
    q_low: float = 0.05,
    q_high: float = 0.95,
    reference: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: Progress | None = None,
) -> FingerprintSpec:
    """Edges = per-feature ``q_low`` / ``q_high`` quantiles of probe features on a public reference set.

    Features whose quantiles coincide (dead units) get a minimal width so the
    spec stays valid; how many did is recorded in the calibration block.
    """
    if not 0.0 <= q_low < q_high <= 1.0:
        raise BadInput("quantiles must satisfy 0 <= low < high <= 1")
    info = get_probe(probe)
    sha = resolve_weights_sha256(probe, weights)
    report = scan(paths)
    plan = plan_with_replacement(len(report.refs), samples=samples, rng=np.random.default_rng(seed))
    network = _network(probe, weights, sha)
    failures: dict[int, str] = {}
    chunks = [f for _, f in extract_features(report.refs, plan, network=network, batch_size=batch_size, failures=failures, on_progress=on_progress)]
    if not chunks:
        raise UnreadableImages("no decodable reference images")
    feats = torch.cat(chunks).to(torch.float64).numpy()
    if feats.shape[1] != info.num_features:
        raise BadInput(f"probe {probe} gave {feats.shape[1]} features, registry says {info.num_features}")
    low = np.quantile(feats, q_low, axis=0).astype(np.float32).astype(np.float64)
    high = np.quantile(feats, q_high, axis=0).astype(np.float32).astype(np.float64)
    degenerate = high <= low
    high = np.where(degenerate, low + 1e-3, high)
    return FingerprintSpec(
        probe=probe,
        weights=weights,
        weights_sha256=sha,
        preprocessing=dict(PREPROCESSING),
        bins=bins,
        low=low,
        high=high,
        calibration={
            "method": "per-feature quantiles",
            "q_low": q_low,
            "q_high": q_high,
            "reference": reference,
            "reference_images": len(report.refs),
            "samples": int(feats.shape[0]),
            "seed": seed,
            "degenerate_features": int(degenerate.sum()),
        },
    )
