"""Probe networks: ImageNet-pretrained torchvision models cut at the pooled penultimate layer.

Weights go through torchvision's own weights API and cache (``TORCH_HOME``), so
a user with internet gets them on first use; air-gapped sites import the
checkpoint file once with :func:`import_weights` (``secfp probe import-weights``).
A missing checkpoint is an error that names the file and the import command:
there is no silent fallback to random weights. Random weights exist only on
explicit request and are recorded in the spec (``weights = "random:<seed>"``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from secfp._io import atomic_write_bytes
from secfp.errors import BadInput, MissingWeights

__all__ = ["ProbeInfo", "PROBES", "get_probe", "checkpoint_path", "import_weights", "load_probe_network", "file_sha256"]


@dataclass(frozen=True)
class ProbeInfo:
    """A registered probe: how to build it, its weights and the width of its features."""

    name: str
    num_features: int
    build: Callable[[], nn.Module]
    weights_enum: str
    weights_name: str
    # Full SHA-256 of the torchvision checkpoint where we could verify it; else only the
    # 8-hex prefix that torchvision itself puts in the file name and checks on download.
    known_sha256: str | None

    @property
    def weights(self):  # torchvision WeightsEnum member
        import torchvision.models as tvm

        return getattr(getattr(tvm, self.weights_enum), self.weights_name)

    @property
    def checkpoint_filename(self) -> str:
        return self.weights.url.rsplit("/", 1)[-1]

    @property
    def hash_prefix(self) -> str:
        return self.checkpoint_filename.rsplit("-", 1)[-1].split(".")[0]


def _build_resnet34() -> nn.Module:
    import torchvision.models as tvm

    model = tvm.resnet34(weights=None)
    model.fc = nn.Identity()  # 512 globally pooled features
    return model


def _build_mobilenet_v2() -> nn.Module:
    import torchvision.models as tvm

    model = tvm.mobilenet_v2(weights=None)
    model.classifier = nn.Identity()  # 1280 globally pooled features
    return model


PROBES: dict[str, ProbeInfo] = {
    "resnet34": ProbeInfo("resnet34", 512, _build_resnet34, "ResNet34_Weights", "IMAGENET1K_V1", None),
    "mobilenet_v2": ProbeInfo(
        "mobilenet_v2",
        1280,
        _build_mobilenet_v2,
        "MobileNet_V2_Weights",
        "IMAGENET1K_V1",
        "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    ),
}


def get_probe(name: str) -> ProbeInfo:
    try:
        return PROBES[name]
    except KeyError:
        raise BadInput(f"unknown probe {name!r}; registered probes: {', '.join(sorted(PROBES))}") from None


def checkpoint_path(probe: ProbeInfo) -> Path:
    """Where torchvision's weights API looks for (and caches) this probe's checkpoint."""
    return Path(torch.hub.get_dir()) / "checkpoints" / probe.checkpoint_filename


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _matches(probe: ProbeInfo, sha256: str) -> bool:
    if probe.known_sha256 is not None:
        return sha256 == probe.known_sha256
    return sha256.startswith(probe.hash_prefix)


def _load_state_dict(path: Path) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise BadInput(f"{path} is not a readable PyTorch checkpoint: {type(exc).__name__}") from None
    if not isinstance(state, dict):
        raise BadInput(f"{path} does not hold a state dict")
    return state


def _load_into(probe: ProbeInfo, model: nn.Module, state: dict, source: Path) -> None:
    # The probe drops the classifier head, so the head's tensors are expected leftovers.
    head = ("fc.", "classifier.")
    missing, unexpected = model.load_state_dict(state, strict=False)
    unexpected = [k for k in unexpected if not k.startswith(head)]
    if missing or unexpected:
        raise BadInput(f"{source} does not fit the {probe.name} architecture (missing {len(missing)}, unexpected {len(unexpected)} tensors)")


def import_weights(file: str | os.PathLike[str], *, probe: str | None = None) -> tuple[ProbeInfo, Path]:
    """Check a checkpoint against the torchvision file it claims to be and install it in the cache.

    The file's SHA-256 must equal the registered digest (or, where only torchvision's
    8-hex prefix is known, start with it), and the tensors must load into the
    architecture. The copy into the cache is atomic.
    """
    source = Path(file)
    if not source.is_file():
        raise BadInput(f"no such weights file: {source}")
    sha = file_sha256(source)
    candidates = [p for p in PROBES.values() if (probe is None or p.name == probe) and _matches(p, sha)]
    if not candidates:
        known = ", ".join(f"{p.checkpoint_filename}" for p in PROBES.values() if probe in (None, p.name))
        raise BadInput(f"{source} (sha256 {sha[:16]}...) is not a known torchvision checkpoint; expected one of: {known}")
    info = candidates[0]
    _load_into(info, info.build(), _load_state_dict(source), source)
    target = checkpoint_path(info)
    atomic_write_bytes(target, source.read_bytes())
    return info, target


def _fetch_checkpoint(info: ProbeInfo) -> Path:
    path = checkpoint_path(info)
    if path.is_file():
        return path
    hint = f"missing probe weights {path}: on a machine without internet run `secfp probe import-weights {info.checkpoint_filename}`"
    if os.environ.get("SECFP_OFFLINE"):
        raise MissingWeights(hint)
    try:  # torchvision's own API: downloads into the same cache and checks the hash prefix.
        info.weights.get_state_dict(progress=False, check_hash=True)
    except Exception:  # noqa: BLE001 - no network, proxy, hash mismatch: all the same to the user
        raise MissingWeights(hint) from None
    if not path.is_file():
        raise MissingWeights(hint)
    return path


def resolve_weights_sha256(probe_name: str, weights: str) -> str:
    """The digest a spec records for these weights (fetching them if needed)."""
    if weights.startswith("random:"):
        return ""
    info = get_probe(probe_name)
    return file_sha256(_fetch_checkpoint(info))


def load_probe_network(probe_name: str, weights: str, weights_sha256: str) -> nn.Module:
    """The probe in eval mode with the exact weights a spec names.

    Real weights must match the spec's SHA-256 byte for byte; random weights are
    only built from an explicit ``random:<seed>`` spec.
    """
    info = get_probe(probe_name)
    if weights.startswith("random:"):
        try:
            seed = int(weights.split(":", 1)[1])
        except ValueError:
            raise BadInput(f"bad random-weights seed in spec: {weights!r}") from None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = info.build()
        return model.eval()
    if weights != info.weights_name:
        raise BadInput(f"unknown weights {weights!r} for probe {probe_name}")
    path = _fetch_checkpoint(info)
    sha = file_sha256(path)
    if sha != weights_sha256:
        raise MissingWeights(
            f"probe weights {path} have sha256 {sha[:16]}..., the spec expects {weights_sha256[:16]}...; re-import the right checkpoint"
        )
    model = info.build()
    _load_into(info, model, _load_state_dict(path), path)
    return model.eval()
