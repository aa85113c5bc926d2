"""The paper's preprocessing: shortest side to 256, a 224 crop, optional flip, ImageNet normalisation.

The crop position and flip come from the sample plan, so preprocessing is
deterministic. Each source image is resized once and then cropped for every
sample that drew it.

:func:`batches` assembles fixed-size batches in a background thread
(:func:`prefetched`) while the network works on the previous batch: crops are
kept as uint8 and normalised once per batch, directly in the memory layout the
numeric path wants. Elementwise float32 operations round the same whether they
run per image or per batch, so the batch form is bit-identical to
:func:`crop_and_normalise` (tests/perf pins this).
"""

from __future__ import annotations

import queue
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

from secfp.fingerprint.images import ImageRef, decode
from secfp.fingerprint.sampling import SamplePlan

__all__ = ["PREPROCESSING", "resize_shortest", "crop", "crop_and_normalise", "normalise_batch", "batches", "prefetched"]

# Recorded verbatim in every spec: a change here changes every spec id.
PREPROCESSING: dict[str, Any] = {
    "window": "uint8 as is; other depths 1st-99th percentile to 0-255; grey repeated to RGB",
    "resize_shortest": 256,
    "interpolation": "bilinear, antialias",
    "crop": 224,
    "crop_mode": "random (plan)",
    "flip": "horizontal, p=0.5 (plan)",
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
}

_MEAN = torch.tensor(PREPROCESSING["mean"]).view(3, 1, 1)
_STD = torch.tensor(PREPROCESSING["std"]).view(3, 1, 1)


def resize_shortest(image: np.ndarray, size: int = PREPROCESSING["resize_shortest"]) -> torch.Tensor:
    """uint8 H x W x 3 -> uint8 3 x h x w tensor whose shortest side is ``size``."""
    tensor = torch.from_numpy(np.require(image, dtype=np.uint8, requirements=["C", "W"])).permute(2, 0, 1)
    return TF.resize(tensor, [size], interpolation=TF.InterpolationMode.BILINEAR, antialias=True)


def crop(resized: torch.Tensor, uv: np.ndarray, flip: bool, size: int = PREPROCESSING["crop"]) -> torch.Tensor:
    """uint8 3 x size x size crop at relative position ``uv`` (each in [0, 1)), flipped if asked."""
    _, h, w = resized.shape
    if h < size or w < size:  # only for shortest side < crop, i.e. never with the defaults
        resized = TF.resize(resized, [size], antialias=True)
        _, h, w = resized.shape
    top = min(int(uv[0] * (h - size + 1)), h - size)
    left = min(int(uv[1] * (w - size + 1)), w - size)
    patch = resized[:, top : top + size, left : left + size]
    return patch.flip(-1) if flip else patch


def crop_and_normalise(resized: torch.Tensor, uv: np.ndarray, flip: bool, crop_size: int = PREPROCESSING["crop"]) -> torch.Tensor:
    """Crop at relative position ``uv`` (each in [0, 1)), flip if asked, normalise: 3 x crop x crop float."""
    return (crop(resized, uv, flip, crop_size).to(torch.float32) / 255.0 - _MEAN) / _STD


def normalise_batch(batch: torch.Tensor, *, memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """uint8 N x 3 x H x W -> normalised float32 in ``memory_format`` (same bits as per image)."""
    x = batch.to(torch.float32, memory_format=memory_format)
    x.div_(255.0).sub_(_MEAN).div_(_STD)
    return x


def _decode_quietly(ref: ImageRef) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns on harmless header quirks
        return decode(ref)


def batches(
    refs: list[ImageRef],
    plan: SamplePlan,
    batch_size: int,
    failures: dict[int, str],
    *,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
    """Yield (sample ids, input batch), decoding each source image once for all its samples.

    Every batch has ``batch_size`` rows (the last is padded with zeros, and the ids
    say how many are real), so the network always sees one shape.
    """
    order = np.lexsort((np.arange(len(plan)), plan.image_index))
    size = PREPROCESSING["crop"]
    buffer = torch.zeros(batch_size, 3, size, size, dtype=torch.uint8)
    ids: list[int] = []
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
            buffer[len(ids)] = crop(resized, plan.crop_uv[sid], bool(plan.flip[sid]))
            ids.append(int(sid))
            if len(ids) == batch_size:
                yield np.array(ids), normalise_batch(buffer, memory_format=memory_format)
                ids = []
    if ids:
        out = normalise_batch(buffer, memory_format=memory_format)
        out[len(ids) :] = 0  # padding rows (discarded) are zero input
        yield np.array(ids), out


def prefetched(it: Iterator, depth: int = 3) -> Iterator:
    """Run a generator in a background thread so decoding overlaps inference.

    Closing the consumer (an exception, Ctrl-C) stops the thread at its next put.
    """
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
