"""Images to fingerprint: scan, plan samples, decode and preprocess, probe, bin.

Decoding and preprocessing run in a background thread that fills a small queue
of ready batches while the network works on the previous one. Batches always
have the same size (the last is zero-padded and the padding discarded), so a
sample's features never depend on how many others share its batch: a
fingerprint is a pure function of (images, spec, seed).
"""

from __future__ import annotations

import functools
import queue
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from secfp.errors import BadInput, UnreadableImages
from secfp.fingerprint.binning import BinAccumulator
from secfp.fingerprint.histogram import Fingerprint
from secfp.fingerprint.images import ImageRef, ScanReport, decode, scan
from secfp.fingerprint.preprocess import PREPROCESSING, crop_and_normalise, resize_shortest
from secfp.fingerprint.probe import get_probe, load_probe_network, resolve_weights_sha256
from secfp.fingerprint.sampling import SamplePlan, plan_poisson, plan_with_replacement
from secfp.fingerprint.spec import FingerprintSpec

__all__ = [
    "FingerprintRun",
    "fingerprint_paths",
    "fingerprint_poisson",
    "fingerprint_refs",
    "extract_features",
    "calibrate_spec",
    "probe_network_for",
    "DEFAULT_BATCH_SIZE",
]

DEFAULT_BATCH_SIZE = 32
Progress = Callable[[int, int], None]


@dataclass
class FingerprintRun:
    """A fingerprint and what it took: the scan report and images that failed to decode."""

    fingerprint: Fingerprint
    report: ScanReport
    failed: list[tuple[str, str]] = field(default_factory=list)


@functools.lru_cache(maxsize=4)
def _network(probe: str, weights: str, weights_sha256: str) -> torch.nn.Module:
    return load_probe_network(probe, weights, weights_sha256)


def probe_network_for(spec: FingerprintSpec) -> torch.nn.Module:
    """The spec's probe with exactly the spec's weights (cached per process)."""
    return _network(spec.probe, spec.weights, spec.weights_sha256)


def _decode_quietly(ref: ImageRef) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns on harmless header quirks
        return decode(ref)


def _batches(
    refs: list[ImageRef], plan: SamplePlan, batch_size: int, failures: dict[int, str]
) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
    """Yield (sample ids, input batch), decoding each source image once for all its samples."""
    order = np.lexsort((np.arange(len(plan)), plan.image_index))
    crop = PREPROCESSING["crop"]
    pending_ids: list[int] = []
    pending: list[torch.Tensor] = []
    start = 0
    while start < len(order):
        image = int(plan.image_index[order[start]])
        stop = start
        while stop < len(order) and plan.image_index[order[stop]] == image:
            stop += 1
        sample_ids = order[start:stop]
        start = stop
        try:
            resized = resize_shortest(_decode_quietly(refs[image]))
        except Exception as exc:  # noqa: BLE001 - a corrupt image is counted, never fatal
            failures[image] = f"{type(exc).__name__}: {exc}"[:200]
            continue
        for sid in sample_ids:
            pending_ids.append(int(sid))
            pending.append(crop_and_normalise(resized, plan.crop_uv[sid], bool(plan.flip[sid])))
            if len(pending) == batch_size:
                yield np.array(pending_ids), torch.stack(pending)
                pending_ids, pending = [], []
    if pending:
        padded = pending + [torch.zeros(3, crop, crop)] * (batch_size - len(pending))
        yield np.array(pending_ids), torch.stack(padded)


def _prefetched(it: Iterator, depth: int = 3) -> Iterator:
    """Run a generator in a background thread so decoding overlaps inference."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for item in it:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            q.put(exc)

    thread = threading.Thread(target=work, daemon=True, name="secfp-decode")
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def extract_features(
    refs: list[ImageRef],
    plan: SamplePlan,
    *,
    network: torch.nn.Module,
    batch_size: int = DEFAULT_BATCH_SIZE,
    failures: dict[int, str] | None = None,
    on_progress: Progress | None = None,
) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
    """Yield (sample ids, features) per batch; images that fail to decode go to ``failures``."""
    failures = {} if failures is None else failures
    done = 0
    with torch.inference_mode():
        for ids, batch in _prefetched(_batches(refs, plan, batch_size, failures)):
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
) -> BinAccumulator:
    """Counts and feature sums of one explicit sample plan (the unit that shards and merges)."""
    network = probe_network_for(spec)
    acc = BinAccumulator(spec)
    for _, features in extract_features(refs, plan, network=network, batch_size=batch_size, failures=failures, on_progress=on_progress):
        acc.add(features)
    return acc


def fingerprint_paths(
    paths: list,
    *,
    spec: FingerprintSpec,
    samples: int = 10_000,
    seed: int = 0,
    nifti_axis: int = 2,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: Progress | None = None,
) -> FingerprintRun:
    """Fingerprint the images under ``paths``: ``samples`` draws with replacement, seeded.

    Samples that hit an image that cannot be decoded are drawn again, from the
    same generator, among the images that are still good, so the result stays a
    deterministic function of the inputs and the seed.
    """
    if samples < 1:
        raise BadInput("the number of samples must be positive")
    report = scan(paths, nifti_axis=nifti_axis)
    rng = np.random.default_rng(seed)
    good = np.arange(len(report.refs))
    failures: dict[int, str] = {}
    acc = BinAccumulator(spec)
    network = probe_network_for(spec)
    missing = samples
    while missing > 0:
        if good.size == 0:
            raise UnreadableImages(f"no decodable images in {', '.join(map(str, paths))}")
        draw = plan_with_replacement(int(good.size), samples=missing, rng=rng)
        plan = SamplePlan(good[draw.image_index], draw.crop_uv, draw.flip)
        before = acc.n
        for _, features in extract_features(
            report.refs, plan, network=network, batch_size=batch_size, failures=failures,
            on_progress=(lambda d, t: on_progress(samples - missing + d, samples)) if on_progress else None,
        ):
            acc.add(features)
        missing -= acc.n - before
        good = np.setdiff1d(good, np.fromiter(failures, dtype=np.int64, count=len(failures)))
    fingerprint = Fingerprint(spec_id=spec.spec_id, counts=acc.counts_matrix(), n=acc.n, feature_mean=(acc.feature_sum / acc.n).numpy())
    failed = [(f"{report.refs[i].path}#{report.refs[i].index}", why) for i, why in sorted(failures.items())]
    return FingerprintRun(fingerprint, report, failed)


def fingerprint_poisson(
    paths: list,
    *,
    spec: FingerprintSpec,
    sample_rate: float,
    rng: np.random.Generator,
    nifti_axis: int = 2,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: Progress | None = None,
) -> FingerprintRun:
    """Fingerprint for a DP release: each image is included at most once, independently with ``sample_rate``.

    Poisson sampling bounds every image's contribution to one count per feature
    (the sensitivity the DP calibration assumes) and gives privacy amplification
    by subsampling. ``rng`` must be secret for that amplification to hold: the
    export path seeds it from the OS CSPRNG. Images that fail to decode are
    dropped, which depends only on each image itself.
    """
    report = scan(paths, nifti_axis=nifti_axis)
    plan = plan_poisson(len(report.refs), rate=sample_rate, rng=rng)
    if len(plan) == 0:
        raise BadInput(f"Poisson sampling at rate {sample_rate} selected no image out of {len(report.refs)}: raise --sample-rate")
    failures: dict[int, str] = {}
    acc = fingerprint_refs(report.refs, plan, spec=spec, batch_size=batch_size, failures=failures, on_progress=on_progress)
    if acc.n == 0:
        raise UnreadableImages(f"no decodable images in {', '.join(map(str, paths))}")
    fingerprint = Fingerprint(spec_id=spec.spec_id, counts=acc.counts_matrix(), n=acc.n, feature_mean=(acc.feature_sum / acc.n).numpy())
    failed = [(f"{report.refs[i].path}#{report.refs[i].index}", why) for i, why in sorted(failures.items())]
    return FingerprintRun(fingerprint, report, failed)


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
