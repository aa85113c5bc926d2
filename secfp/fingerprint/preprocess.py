"""The paper's preprocessing: shortest side to 256, a 224 crop, optional flip, ImageNet normalisation.

The crop position and flip come from the sample plan, so preprocessing is
deterministic. Each source image is resized once and then cropped for every
sample that drew it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

__all__ = ["PREPROCESSING", "resize_shortest", "crop_and_normalise"]

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


def crop_and_normalise(resized: torch.Tensor, uv: np.ndarray, flip: bool, crop: int = PREPROCESSING["crop"]) -> torch.Tensor:
    """Crop at relative position ``uv`` (each in [0, 1)), flip if asked, normalise: 3 x crop x crop float."""
    _, h, w = resized.shape
    if h < crop or w < crop:  # only for shortest side < crop, i.e. never with the defaults
        resized = TF.resize(resized, [crop], antialias=True)
        _, h, w = resized.shape
    top = min(int(uv[0] * (h - crop + 1)), h - crop)
    left = min(int(uv[1] * (w - crop + 1)), w - crop)
    patch = resized[:, top : top + crop, left : left + crop]
    if flip:
        patch = patch.flip(-1)
    return (patch.to(torch.float32) / 255.0 - _MEAN) / _STD
