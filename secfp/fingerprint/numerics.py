"""Numeric paths for the probe's forward pass, and exact, order-independent feature sums.

A numeric path says how the probe runs; it never says what the probe is:

* ``fp32``: eager PyTorch on NCHW tensors, the reference.
* ``channels-last``: eager on NHWC tensors (oneDNN's native layout; no reorder per layer).
* ``compile``: ``torch.compile`` (inductor: BatchNorm and ReLU6 fused into C++ kernels)
  on channels-last. Needs a working C++ compiler; without one it falls back to
  ``channels-last`` with a warning, never to an error.
* ``bf16``: bf16 autocast on channels-last. Only offered on CPUs with native bf16
  arithmetic (``avx512_bf16`` or AMX); elsewhere it is emulated, slow, and refused.

The first three are one *precision class*, ``fp32``: they differ only in the order
of fp32 roundings, the same way two CPU generations or two PyTorch releases
differ (measured: 2.9e-5 and 5.0e-5 of the values land in another bin, against
1.7e-5 for fp32 eager with another CPU's kernels). ``bf16`` moves 64% of the
values to another bin, so a fingerprint made with it would need a spec that says
so (:func:`precision_class`); the pipeline refuses it for fp32 specs.

Feature sums are accumulated exactly (:class:`ExactFeatureSum`): a float32 value is
an integer times a power of two, so sums are kept as fixed-point integer limbs and
rounded to float64 once, when read. The result does not depend on the order of
the additions, so batching, threads and Dask shards all give bit-identical means.
"""

from __future__ import annotations

import copy
import functools
import shutil
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import numpy as np
import torch

from secfp.errors import UsageError
from secfp.fingerprint.binning import BinAccumulator
from secfp.fingerprint.spec import FingerprintSpec

__all__ = [
    "NumericPath",
    "DEFAULT_NUMERICS",
    "PreparedProbe",
    "FORWARD_BATCH",
    "prepare",
    "resolve",
    "precision_class",
    "cpu_flags",
    "bf16_native",
    "compiler_available",
    "path_availability",
    "ExactFeatureSum",
    "ExactBinAccumulator",
]


class NumericPath(str, Enum):
    AUTO = "auto"
    FP32 = "fp32"
    CHANNELS_LAST = "channels-last"
    COMPILE = "compile"
    BF16 = "bf16"


# Decided from the measurements in docs/performance.md: ``auto`` takes the fastest fp32-class
# path that pays for itself: ``compile`` (3.3x fp32 eager through the whole pipeline, but 3 s
# (warm inductor cache) to 60 s (cold) of compiling once per process) from
# AUTO_COMPILE_MIN_SAMPLES samples on, ``channels-last`` (2x, no warm-up) below that or where
# no compiler works. bf16 (64% of values in another bin) is never chosen automatically.
DEFAULT_NUMERICS = NumericPath.AUTO
AUTO_COMPILE_MIN_SAMPLES = 2000
_PRECISION = {NumericPath.FP32: "fp32", NumericPath.CHANNELS_LAST: "fp32", NumericPath.COMPILE: "fp32", NumericPath.BF16: "bf16"}


def resolve(path: str | NumericPath | None, *, samples: int | None = None) -> NumericPath:
    """The concrete path for ``path`` (``None`` = :data:`DEFAULT_NUMERICS`) and a run of ``samples`` images.

    ``auto`` becomes ``compile`` for runs of at least :data:`AUTO_COMPILE_MIN_SAMPLES`
    where a compiler is present, else ``channels-last``. Unknown names are a usage error.
    """
    try:
        chosen = NumericPath(path if path is not None else DEFAULT_NUMERICS)
    except ValueError:
        raise UsageError(f"unknown numeric path {path!r}; use one of {', '.join(p.value for p in NumericPath)}") from None
    if chosen is not NumericPath.AUTO:
        return chosen
    if samples is not None and samples >= AUTO_COMPILE_MIN_SAMPLES and compiler_available() is None:
        return NumericPath.COMPILE
    return NumericPath.CHANNELS_LAST


def precision_class(path: str | NumericPath | None) -> str:
    """``"fp32"`` or ``"bf16"``: what a spec has to record for fingerprints made on this path."""
    return _PRECISION[resolve(path)]


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def bf16_native() -> bool:
    """True on CPUs with native bf16 arithmetic (avx512_bf16 or AMX), where oneDNN runs bf16 fast.

    ``torch.backends.cpu.get_cpu_capability()`` only says ``AVX512`` on such CPUs, so
    the flags decide on Linux; elsewhere oneDNN's own bf16 check does.
    """
    flags = cpu_flags()
    if flags:
        return bool(flags & {"avx512_bf16", "amx_bf16"})
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@functools.lru_cache(maxsize=1)
def compiler_available() -> str | None:
    """Why ``torch.compile`` cannot work here, or None if a C++ compiler is on the PATH."""
    if sys.platform == "win32":
        return "torch.compile's CPU backend is not supported on Windows here"
    try:
        from torch._inductor import cpp_builder

        cpp_builder.get_cpp_compiler()
    except Exception as exc:  # noqa: BLE001 - any failure means "no usable compiler"
        return f"no C++ compiler for torch.compile ({type(exc).__name__})"
    return None if shutil.which("g++") or shutil.which("clang++") or shutil.which("c++") else "no C++ compiler on PATH"


def path_availability() -> dict[NumericPath, str | None]:
    """Each path and why it is unavailable on this machine (None = available)."""
    return {
        NumericPath.AUTO: None,
        NumericPath.FP32: None,
        NumericPath.CHANNELS_LAST: None,
        NumericPath.COMPILE: compiler_available(),
        NumericPath.BF16: None if bf16_native() else "this CPU has no native bf16 (avx512_bf16 or AMX)",
    }


# oneDNN picks its kernels by batch size and thread count; measured here, batches of 16 or more
# give bit-identical features with 1 and 2 threads, batches of 4 or 8 on one thread do not.
# So the forward pass always sees exactly this many images (the caller's batch is split or
# zero-padded): a sample's features depend neither on --batch-size nor on the thread count
# (tests/perf pins both), and torch.compile compiles one shape per process.
FORWARD_BATCH = 32


@dataclass(frozen=True, eq=False)
class PreparedProbe:
    """A probe ready to run on one numeric path: call it on a batch, get float32 features.

    ``path`` is the path actually used; ``fallback`` says why it differs from the
    one requested (only ``compile`` falls back, to ``channels-last``).
    """

    requested: NumericPath
    path: NumericPath
    forward: Callable[[torch.Tensor], torch.Tensor]
    memory_format: torch.memory_format
    fallback: str | None = None

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """Features of ``batch``, computed in zero-padded chunks of exactly :data:`FORWARD_BATCH` images."""
        n = batch.shape[0]
        if n == FORWARD_BATCH:
            return self.forward(batch.contiguous(memory_format=self.memory_format))
        padded = torch.zeros((-(-n // FORWARD_BATCH) * FORWARD_BATCH, *batch.shape[1:]), dtype=batch.dtype)
        padded = padded.contiguous(memory_format=self.memory_format)
        padded[:n] = batch
        chunks = [self.forward(padded[i : i + FORWARD_BATCH]) for i in range(0, padded.shape[0], FORWARD_BATCH)]
        return torch.cat(chunks)[:n]


def _eager(network: torch.nn.Module, channels_last: bool, bf16: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    module = copy.deepcopy(network).eval()
    if channels_last:
        module = module.to(memory_format=torch.channels_last)

    def forward(batch: torch.Tensor) -> torch.Tensor:
        if bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return module(batch).float()
        return module(batch)

    forward.module = module  # type: ignore[attr-defined]
    return forward


def prepare(network: torch.nn.Module, path: str | NumericPath | None = None, *, image_size: int = 224) -> PreparedProbe:
    """``network`` (left untouched) wrapped for ``path``.

    ``compile`` is compiled and run once on zeros of the one input shape it will see
    (:data:`FORWARD_BATCH` images of ``image_size``) so that a missing or broken compiler
    shows here, where we fall back cleanly, and not half-way through a run. ``bf16`` on a
    CPU without native bf16 raises :class:`UsageError`.
    """
    requested = resolve(path)  # "auto" without a run size means channels-last
    cl = torch.channels_last
    if requested is NumericPath.FP32:
        return PreparedProbe(requested, requested, _eager(network, False, False), torch.contiguous_format)
    if requested is NumericPath.CHANNELS_LAST:
        return PreparedProbe(requested, requested, _eager(network, True, False), cl)
    if requested is NumericPath.BF16:
        if not bf16_native():
            raise UsageError("the bf16 numeric path needs a CPU with avx512_bf16 or AMX; use fp32, channels-last or compile")
        return PreparedProbe(requested, requested, _eager(network, True, True), cl)
    why = compiler_available()
    if why is None:
        try:
            eager = _eager(network, True, False)
            compiled = torch.compile(eager.module, dynamic=False)  # type: ignore[attr-defined]
            with torch.inference_mode():
                compiled(torch.zeros(FORWARD_BATCH, 3, image_size, image_size).contiguous(memory_format=cl))
            return PreparedProbe(requested, requested, compiled, cl)
        except Exception as exc:  # noqa: BLE001 - any compiler failure falls back to eager
            why = f"torch.compile failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    warnings.warn(f"numeric path 'compile' unavailable ({why}); using 'channels-last'", RuntimeWarning, stacklevel=2)
    return PreparedProbe(requested, NumericPath.CHANNELS_LAST, _eager(network, True, False), cl, fallback=why)


# -- exact sums ----------------------------------------------------------------------------------

_LIMB_BITS = 16
_LIMBS = 20  # covers every float32 (2**-149 .. 2**128) plus carries of up to 2**40 additions
_EXP0 = -172  # smallest exponent of a float32 written as a 24-bit integer times 2**e


class ExactFeatureSum:
    """Exact sums of float32 feature vectors, as fixed-point integer limbs (order-independent).

    Each value ``x = mant * 2**e`` with an integer ``|mant| < 2**24``; ``mant`` is shifted
    into 16-bit limbs and added as int64. Adding is exact, so any grouping of the same
    values (batches, threads, shards) gives identical limbs; :meth:`value` rounds to
    float64 once (Python's int / int division is correctly rounded).
    """

    def __init__(self, num_features: int, limbs: np.ndarray | None = None) -> None:
        self.limbs = np.zeros((num_features, _LIMBS), dtype=np.int64) if limbs is None else np.array(limbs, dtype=np.int64)
        if self.limbs.shape != (num_features, _LIMBS):
            raise ValueError("exact-sum limbs do not fit the number of features")
        self._cached: np.ndarray | None = None

    def add(self, features: torch.Tensor | np.ndarray) -> None:
        x = np.asarray(features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.limbs.shape[0]:
            raise ValueError(f"features of shape {x.shape} do not fit {self.limbs.shape[0]} features")
        if not np.all(np.isfinite(x)):
            raise ValueError("probe features hold NaN or infinity")
        mant, exp = np.frexp(x)
        mant = (mant.astype(np.float64) * (1 << 24)).astype(np.int64)
        pos = np.where(mant == 0, 0, exp.astype(np.int64) - 24 - _EXP0)
        limb, shift = pos // _LIMB_BITS, pos % _LIMB_BITS
        m = x.shape[1]
        cols = np.broadcast_to(np.arange(m, dtype=np.int64) * _LIMBS, x.shape)
        # Each term is below 2**40; chunks of 4096 rows keep the float64 bincount exact (< 2**53).
        for start in range(0, x.shape[0], 4096):
            sl = slice(start, start + 4096)
            flat = (cols[sl] + limb[sl]).reshape(-1)
            terms = (mant[sl] << shift[sl]).reshape(-1).astype(np.float64)
            self.limbs += np.bincount(flat, weights=terms, minlength=m * _LIMBS).astype(np.int64).reshape(m, _LIMBS)
        self._normalise()

    def merge(self, other: "ExactFeatureSum") -> None:
        self.limbs += other.limbs
        self._normalise()

    def _normalise(self) -> None:
        for j in range(_LIMBS - 1):
            carry = self.limbs[:, j] >> _LIMB_BITS
            self.limbs[:, j] -= carry << _LIMB_BITS
            self.limbs[:, j + 1] += carry
        self._cached = None

    def value(self) -> np.ndarray:
        """The sums, each correctly rounded to float64."""
        if self._cached is None:
            low = np.ascontiguousarray(self.limbs[:, :-1].astype("<u2"))
            scale = 1 << -_EXP0
            out = np.empty(self.limbs.shape[0])
            for i in range(out.shape[0]):
                total = int.from_bytes(low[i].tobytes(), "little") + (int(self.limbs[i, -1]) << (_LIMB_BITS * (_LIMBS - 1)))
                out[i] = total / scale
            self._cached = out
        return self._cached


class ExactBinAccumulator(BinAccumulator):
    """:class:`BinAccumulator` whose ``feature_sum`` is exact, so shards merge bit for bit."""

    def __init__(self, spec: FingerprintSpec) -> None:
        self.exact = ExactFeatureSum(spec.num_features)
        super().__init__(spec)

    @property  # type: ignore[override]
    def feature_sum(self) -> torch.Tensor:
        return torch.from_numpy(self.exact.value().copy())

    @feature_sum.setter
    def feature_sum(self, value: torch.Tensor) -> None:
        # Only the parent's constructor assigns (zeros); the sum itself lives in ``exact``.
        if torch.count_nonzero(torch.as_tensor(value)):
            raise AttributeError("feature_sum is derived from the exact sum; use add() or merge()")

    def _add_to_sum(self, features: torch.Tensor) -> None:
        self.exact.add(features)

    def merge(self, other: "ExactBinAccumulator") -> None:
        """Add another shard's counts and sums (exact: the order of merges does not matter)."""
        if other.spec.spec_id != self.spec.spec_id:
            raise ValueError("cannot merge accumulators of different specs")
        self.counts += other.counts
        self.exact.merge(other.exact)
        self.n += other.n
