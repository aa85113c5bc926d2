"""SourceMatrix: one-vs-N bKLD over a memory-mapped pool, with an exact top-k.

bKLD from source S to target T (:mod:`secfp.matching.bkld`) is
``c_T - sum_jb v_jb log q_jb``, and for every source ``distances.py`` builds ``log q`` as
``h + (a constant per row)`` with ``h = counts * (a scale per row)`` (today: scale 1/n,
constant ``-LSE_j(h) + noise offset``). Hence::

    bKLD(S -> T) = c_T + sum_j a_j K_Sj - sum_j s_Sj sum_b v_jb counts_Sjb,   a_j = sum_b v_jb,  K = h - log q

which gives the default storage, ``precision="counts"``: the **integer counts** (uint8/uint16
when they fit, so 1-2 bytes per cell, exact) plus per source and feature ``K - log B``
(float32) and the scale ``s``, both taken from ``distances.py``'s own functions and checked
at build time (a source of another form is refused, never approximated). One query is one
pass of fp32 matrix-vector products over the counts, in column tiles of whole features
(about 2,000 cells; tile sums in float64); many queries are the same pass as matrix-matrix
products. Only the products round, so the error bars are tiny.

``precision="float16"`` / ``"bfloat16"`` store instead the centred rows ``log q + log B``
(the ranking is unchanged because ``v`` has a fixed sum; entries lie in [-1, 1]) in 16
bits, as issue 7 first proposed. docs/performance.md measures why this is not the default:
bKLD between different sources differs by about 1e-5 near the top of a ranking (the source
enters only through the small ``h``, the target's entropy dominates), and 16-bit rows carry
errors of that size (bfloat16 much more).

Every approximate distance comes with a rigorous error bar (storage rounding, fp32
accumulation ``gamma_n``, float64 slack). :meth:`SourceMatrix.top_k` keeps every source
whose lower end reaches the k-th smallest upper end and ranks those with the exact float64
formula (:func:`~secfp.matching.bkld.one_vs_many` on the stored counts), so the
result equals brute force, ties broken by name as :func:`~secfp.matching.ranking.rank_sources`
does. Coarse-grained lower bounds (merging bins; data-processing inequality) were measured
too and prune nothing, for the same reason: see docs/performance.md.

The file (:mod:`secfp.matching._engine_file`) is memory-mapped, so a pool larger than RAM
works (queries stream it in tiles; speed is then the disk's). Not checked here: that the
fingerprints came from verified statements (the pool's job).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from secfp.errors import BadInput, IncompatibleFingerprints, UsageError
from secfp.fingerprint.histogram import Fingerprint
from secfp.matching import _engine_file as fmt
from secfp.matching.bkld import one_vs_many, source_log_q, source_logits, target_terms
from secfp.matching.ranking import MatchResult

__all__ = ["SourceMatrix", "PRECISIONS"]

PRECISIONS = ("counts", "float16", "bfloat16")
KIND = "secfp.source-matrix"
FORMAT_VERSION = 1
_U32 = 2.0**-24
_TILE = 2048
_ROWS = 256
_SLACK = 1e-9  # float64 roundings (target terms, sums across tiles), generously


def _gamma(n: int) -> float:
    return n * _U32 / (1 - n * _U32)


def _encode16(x: np.ndarray, precision: str) -> tuple[np.ndarray, np.ndarray]:
    """(stored array, its exact float64 value) in float16 or bfloat16 (round to nearest even)."""
    if precision == "float16":
        stored = x.astype(np.float16)
        return stored, stored.astype(np.float64)
    bits = x.astype(np.float32).view(np.uint32)
    stored = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return stored, (stored.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def _to_f32(block: np.ndarray, precision: str) -> np.ndarray:
    """A tile of the stored matrix as float32 (exact for counts below 2**24 and for 16-bit floats)."""
    if precision == "bfloat16":
        wide = block.astype(np.uint32)
        wide <<= 16
        return wide.view(np.float32)
    return block.astype(np.float32)


def _counts_dtype(lo: int, hi: int) -> str:
    for dtype in ("uint8", "uint16", "int16", "int32"):
        if np.iinfo(dtype).min <= lo and hi <= np.iinfo(dtype).max:
            return dtype
    raise BadInput("counts too large for an index")


class SourceMatrix:
    """Rows of a pool of sources of one spec; build with :meth:`build`, reopen with :meth:`load`."""

    def __init__(self, *, header: dict, arrays: dict[str, np.ndarray], path: Path | None = None) -> None:
        self.spec_id: str = header["spec_id"]
        self.features, self.bins = int(header["features"]), int(header["bins"])
        self.precision: str = header["precision"]
        self.names: tuple[str, ...] = tuple(header["names"])
        self.path = path
        self._header, self._a = header, arrays
        self.last_candidates: list[int] = []  # per query of the last top-k: how many needed the exact formula
        if self.precision not in PRECISIONS or len(set(self.names)) != len(self.names):
            raise BadInput("malformed source matrix: unknown precision or duplicate names")

    # -- building and files ---------------------------------------------------------------------

    @classmethod
    def build(
        cls, names: Sequence[str], fingerprints: Iterable[Fingerprint], *, path: str | Path | None = None,
        precision: str = "counts", counts_dtype: str | None = None,
    ) -> "SourceMatrix":
        """Index ``fingerprints`` (one per name, all of one spec); streamed into ``path`` if given.

        ``counts_dtype`` defaults to the smallest integer type that holds every count when
        ``fingerprints`` is a sequence, else int32. With ``path`` the matrix is written source
        by source (nothing is held in memory), atomically, and returned memory-mapped.
        """
        names = [str(x) for x in names]
        if precision not in PRECISIONS:
            raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}")
        if not names or len(set(names)) != len(names):
            raise BadInput("a source matrix needs at least one source and unique names")
        if counts_dtype is None:
            if isinstance(fingerprints, Sequence) and len(fingerprints):
                counts_dtype = _counts_dtype(min(int(f.counts.min()) for f in fingerprints), max(int(f.counts.max()) for f in fingerprints))
            else:
                counts_dtype = "int32"
        items = iter(fingerprints)
        first = next(items, None)
        if first is None:
            raise BadInput("no fingerprints to index")
        (m, b), n_src = first.shape, len(names)
        shapes = {"counts": ((n_src, m * b), counts_dtype), "lse": ((n_src, m), "float32"), "scale": ((n_src, m), "float64"),
                  "n": ((n_src,), "int64"), "noisy": ((n_src,), "uint8"), "bound": ((n_src, 3), "float64")}
        if precision != "counts":
            shapes["rows"] = ((n_src, m * b), "uint16" if precision == "bfloat16" else "float16")
        specs, header_at = fmt.layout(shapes)
        header = {"v": FORMAT_VERSION, "kind": KIND, "spec_id": first.spec_id, "features": m, "bins": b,
                  "precision": precision, "names": names, "arrays": specs}

        def fill(arrays: dict[str, np.ndarray]) -> None:
            count = 0
            for fp in _chain(first, items):
                if count >= n_src:
                    raise BadInput("more fingerprints than names")
                cls._fill_row(arrays, count, fp, header)
                count += 1
            if count != n_src:
                raise BadInput(f"{n_src} names but {count} fingerprints")

        if path is None:
            arrays = {k: np.zeros(shape, dtype=dtype) for k, (shape, dtype) in shapes.items()}
            fill(arrays)
            return cls(header=header, arrays=arrays)
        with fmt.temporary_file(path) as tmp:
            with open(tmp, "r+b") as fh:
                fh.truncate(header_at)
            arrays = {k: fmt.open_array(tmp, spec, "r+") for k, spec in specs.items()}
            fill(arrays)
            for arr in arrays.values():
                if isinstance(arr, np.memmap):
                    arr.flush()
            del arrays
            with open(tmp, "r+b") as fh:
                fmt.write_header(fh, header, header_at)
        return cls.load(path)

    @staticmethod
    def _fill_row(arrays: dict[str, np.ndarray], i: int, fp: Fingerprint, header: dict) -> None:
        m, b = header["features"], header["bins"]
        if fp.spec_id != header["spec_id"] or fp.shape != (m, b):
            raise IncompatibleFingerprints(f"fingerprints of different specs cannot share an index: {header['spec_id']} vs {fp.spec_id}")
        counts = arrays["counts"]
        info = np.iinfo(counts.dtype)
        if fp.counts.min() < info.min or fp.counts.max() > info.max:
            raise BadInput(f"counts of source {header['names'][i]!r} do not fit {counts.dtype}; build with counts_dtype='int32'")
        # log q = h + (a constant per row) and h = counts * (a scale per row), whatever distances.py
        # normalises by; both are taken from its own functions and checked, not re-derived here.
        h, log_q = source_logits(fp), source_log_q(fp).reshape(m, b)
        counts[i] = fp.counts.reshape(-1)
        nonzero = fp.counts != 0
        scale = np.full(m, 1.0 / fp.n)
        rows = np.flatnonzero(nonzero.any(axis=1))
        first = nonzero[rows].argmax(axis=1)
        scale[rows] = h[rows, first] / fp.counts[rows, first]
        shift = (h - log_q).mean(axis=1)
        if not (np.allclose(h, fp.counts * scale[:, None], rtol=1e-12, atol=0) and np.allclose(h - log_q, shift[:, None], rtol=0, atol=1e-9)):
            raise BadInput(f"source {header['names'][i]!r}: bKLD rows are not of the form counts * scale + constant")
        arrays["lse"][i] = shift - math.log(b)
        arrays["scale"][i] = scale
        arrays["n"][i], arrays["noisy"][i] = fp.n, fp.noisy
        arrays["bound"][i, 0] = np.max(np.abs(h))
        if "rows" in arrays:
            centred = source_log_q(fp) + math.log(b)
            stored, exact = _encode16(centred, header["precision"])
            arrays["rows"][i] = stored
            arrays["bound"][i, 1] = np.max(np.abs(exact - centred))
            arrays["bound"][i, 2] = np.max(np.abs(exact))

    def save(self, path: str | Path) -> None:
        """Write the matrix to ``path`` (atomically: a complete file or none)."""
        specs, header_at = fmt.layout({k: (tuple(a.shape), a.dtype.str.lstrip("<|=")) for k, a in self._a.items()})
        header = {**self._header, "arrays": specs}
        with fmt.temporary_file(path) as tmp:
            with open(tmp, "r+b") as fh:
                for name, spec in specs.items():
                    fh.seek(spec["offset"])
                    arr = self._a[name]
                    for r0 in range(0, max(1, arr.shape[0]), 4096):  # in slices: the matrix may not fit in RAM
                        fh.write(np.ascontiguousarray(arr[r0 : r0 + 4096]).tobytes())
                fmt.write_header(fh, header, header_at)

    @classmethod
    def load(cls, path: str | Path, *, mmap: bool = True) -> "SourceMatrix":
        """Open a saved matrix; ``mmap=True`` maps it (copy-on-write: the file is never modified)."""
        header = fmt.read_header(path)
        if header.get("v") != FORMAT_VERSION or header.get("kind") != KIND:
            raise BadInput(f"{path} is not a version-{FORMAT_VERSION} secfp source matrix")
        arrays = {k: fmt.open_array(path, spec, "c") for k, spec in header["arrays"].items()}
        if not mmap:
            arrays = {k: np.array(a) for k, a in arrays.items()}
        return cls(header=header, arrays=arrays, path=Path(path))

    def __len__(self) -> int:
        return len(self.names)

    @property
    def nbytes(self) -> int:
        return sum(int(a.nbytes) for a in self._a.values())

    # -- queries ---------------------------------------------------------------------------------

    def _check(self, target: Fingerprint) -> None:
        if target.spec_id != self.spec_id or target.shape != (self.features, self.bins):
            raise IncompatibleFingerprints(f"fingerprints of different specs cannot be compared: {target.spec_id} vs {self.spec_id}")

    def _scores(self, targets: Sequence[Fingerprint], variant: str) -> tuple[np.ndarray, np.ndarray]:
        """(approximate distances, error bars), each (sources, queries), in one pass over the pool."""
        terms = []
        for target in targets:
            self._check(target)
            terms.append(target_terms(target, variant=variant))
        v = np.stack([t[0] for t in terms], axis=1)  # (cells, Q) float64
        c = np.array([t[1] for t in terms])
        mass = v.sum(axis=0)
        m, b = self.features, self.bins
        a = v.reshape(m, b, -1).sum(axis=1)  # (m, Q): sum_b v_jb
        width = max(1, _TILE // b) * b  # whole features per tile
        v32 = v.astype(np.float32)
        stored = self._a["rows"] if self.precision != "counts" else self._a["counts"]
        n_src, n_q = stored.shape[0], len(targets)
        dot, lse_term, lse_err = np.zeros((n_src, n_q)), np.zeros((n_src, n_q)), np.zeros((n_src, n_q))
        for r0 in range(0, n_src, _ROWS):
            block = stored[r0 : r0 + _ROWS]
            acc = np.zeros((block.shape[0], n_q))
            inv_t = np.asarray(self._a["scale"][r0 : r0 + _ROWS])
            uniform = self.precision != "counts" or bool(np.all(inv_t == inv_t[:, :1]))
            for c0 in range(0, stored.shape[1], width):
                tile = _to_f32(block[:, c0 : c0 + width], self.precision)
                vt = v32[c0 : c0 + width]
                if uniform:  # one product per tile: every row of each source has the same scale (1/n)
                    acc += tile @ vt
                else:  # rows with scales of their own: per-feature sums, each scaled
                    f0, f1 = c0 // b, c0 // b + tile.shape[1] // b
                    per_feature = np.einsum("rfb,fbq->rfq", tile.reshape(tile.shape[0], -1, b), vt.reshape(-1, b, n_q))
                    acc += (per_feature.astype(np.float64) * inv_t[:, f0:f1, None]).sum(axis=1)
            if uniform and self.precision == "counts":
                acc *= inv_t[:, :1]
            dot[r0 : r0 + block.shape[0]] = acc
            if self.precision == "counts":
                lse = np.asarray(self._a["lse"][r0 : r0 + _ROWS], dtype=np.float64)
                lse_term[r0 : r0 + block.shape[0]] = lse @ a
                lse_err[r0 : r0 + block.shape[0]] = _U32 * np.abs(lse) @ a  # float32 storage of LSE - log B
        gamma = _gamma(width) + _U32
        bound = np.asarray(self._a["bound"])
        if self.precision == "counts":
            dist = c[None, :] + lse_term + math.log(b) * a.sum(axis=0)[None, :] - dot
            # Products of non-negative counts: the fp32 error is relative to the sum itself; noisy rows use |h| <= bound.
            clean = np.asarray(self._a["noisy"]) == 0
            err = np.where(clean[:, None], gamma * np.abs(dot) / (1 - gamma), gamma * bound[:, :1] * mass[None, :]) + lse_err
        else:
            dist = c[None, :] + math.log(b) * mass[None, :] - dot
            err = (bound[:, 1:2] + gamma * bound[:, 2:3]) * mass[None, :]
        return dist, err + _SLACK * (1 + np.abs(dist))

    def _exact(self, target: Fingerprint, rows: np.ndarray, variant: str) -> np.ndarray:
        m, b = self.features, self.bins
        sources = [Fingerprint(self.spec_id, np.asarray(self._a["counts"][i]).reshape(m, b).astype(np.int64), int(self._a["n"][i]),
                               np.zeros(m), noisy=bool(self._a["noisy"][i])) for i in rows]
        return one_vs_many(target, sources, variant=variant)

    def distances(self, target: Fingerprint, variant: str = "small", *, exact: bool = False) -> np.ndarray:
        """bKLD from every source to ``target``: one pass over the pool (``exact``: the float64 formula per source)."""
        if exact:
            self._check(target)
            return np.concatenate([self._exact(target, np.arange(i, min(i + 256, len(self))), variant) for i in range(0, len(self), 256)])
        return self._scores([target], variant)[0][:, 0]

    def distances_many(self, targets: Sequence[Fingerprint], variant: str = "small") -> np.ndarray:
        """(queries, sources) bKLD: one matrix-matrix pass over the pool."""
        return self._scores(targets, variant)[0].T

    def top_k(self, target: Fingerprint, k: int = 10, variant: str = "small", *, exact_rerank: bool = True) -> list[MatchResult]:
        """The ``k`` sources closest to ``target``, equal to brute force with ``exact_rerank``."""
        return self.top_k_many([target], k, variant, exact_rerank=exact_rerank)[0]

    def top_k_many(self, targets: Sequence[Fingerprint], k: int = 10, variant: str = "small", *,
                   exact_rerank: bool = True) -> list[list[MatchResult]]:
        """:meth:`top_k` for several queries, sharing one matrix-matrix pass."""
        if k < 1:
            raise UsageError("k must be at least 1")
        dist, err = self._scores(targets, variant)
        self.last_candidates = []
        out = []
        for q, target in enumerate(targets):
            upper = np.sort(dist[:, q] + err[:, q])
            tau = upper[min(k, len(upper)) - 1]
            candidates = np.flatnonzero(dist[:, q] - err[:, q] <= tau)
            scores = self._exact(target, candidates, variant) if exact_rerank else dist[candidates, q]
            self.last_candidates.append(int(candidates.size))
            order = sorted(range(len(candidates)), key=lambda j: (float(scores[j]), self.names[candidates[j]]))[:k]
            out.append([MatchResult(self.names[candidates[j]], float(scores[j]), r + 1) for r, j in enumerate(order)])
        return out


def _chain(first: Fingerprint, rest: Iterable[Fingerprint]) -> Iterable[Fingerprint]:
    yield first
    yield from rest
