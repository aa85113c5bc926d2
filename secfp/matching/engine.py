"""SourceMatrix: the one one-vs-many bKLD engine (``secfp match``, the pool and the benchmarks).

bKLD decomposes exactly (:mod:`secfp.matching.bkld`): with ``v``, ``c`` the target's terms
(:func:`~secfp.matching.bkld.target_terms`) and, per source S, ``h = counts / n`` and
``log q_j = h_j - L_Sj`` (``L_Sj`` = logsumexp of row j minus the source's DP noise offset)::

    bKLD(S -> T) = c_T + sum_j a_j L_Sj - (1/n_S) sum_{cells z, v_z != 0} v_z counts_S[z],    a_j = sum_b v_jb

So a source is stored as its **integer counts** (uint8/uint16 when they fit: lossless, a
quarter / half of fp32's memory traffic) and **one logsumexp per row** (float64). The counts
are stored *bin-major* (one row per cell, one column per source), so a query reads only the
rows of the cells where its own fingerprint is non-zero, each a contiguous run over all
sources.

A query is one pass: the blocks of consecutive cells (16 to 128, about 512 KiB each) that
hold a touched cell, converted to float32 (exact for counts below 2**24) and multiplied
with the target's ``v`` in float32 (BLAS), the blocks summed in float64. Every such distance carries a rigorous error bar (float32
products and sums over a block, ``v`` rounded to float32, float64 slack). :meth:`top_k`
keeps every source whose lower end reaches the k-th smallest upper end and computes those
with the float64 formula from the same stored counts, so its answer equals brute force
(ties broken by name). ``distances(exact=True)`` and :meth:`rank` with ``top=None`` use the
float64 formula for every source.

The file (:mod:`secfp.matching._engine_file`) is memory-mapped, so a pool larger than RAM
works (queries stream the touched rows; speed is then the disk's). Not checked here: that
the fingerprints came from verified statements (the pool's job).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from scipy.special import logsumexp

from secfp.errors import BadInput, IncompatibleFingerprints, UsageError
from secfp.fingerprint.histogram import Fingerprint
from secfp.matching import _engine_file as fmt
from secfp.matching.bkld import noise_offset, source_log_q, source_logits, target_terms
from secfp.matching.result import MatchResult, ordered

__all__ = ["SourceMatrix"]

KIND = "secfp.source-matrix"
FORMAT_VERSION = 2
_U32 = 2.0**-24
_BLOCK = 16  # cells per float32 product at least (large pools): the converted block stays in cache
_MAX_BLOCK = 128  # and at most (small pools: fewer, larger products)
_STREAM = 256  # sources buffered while building, so each cell row is written in runs
_SLACK = 1e-9  # float64 roundings (target terms, logsumexp terms, sums across blocks), generously


def _gamma(n: int) -> float:
    return n * _U32 / (1 - n * _U32)


def _counts_dtype(lo: int, hi: int) -> str:
    for dtype in ("uint8", "uint16", "int16", "int32", "int64"):
        if np.iinfo(dtype).min <= lo and hi <= np.iinfo(dtype).max:
            return dtype
    raise BadInput("counts too large for an index")


class SourceMatrix:
    """Sources of one spec; build with :meth:`build`, reopen with :meth:`load`."""

    def __init__(self, *, header: dict, arrays: dict[str, np.ndarray], path: Path | None = None) -> None:
        self.spec_id: str = header["spec_id"]
        self.features, self.bins = int(header["features"]), int(header["bins"])
        self.names: tuple[str, ...] = tuple(header["names"])
        self.path = path
        self._header, self._a = header, arrays
        self.last_candidates: list[int] = []  # per query of the last top-k: how many needed the float64 formula
        if len(set(self.names)) != len(self.names):
            raise BadInput("malformed source matrix: duplicate names")
        if self._a["counts"].shape != (self.features * self.bins, len(self.names)):
            raise BadInput("malformed source matrix: counts do not match its shape and names")

    # -- building and files ---------------------------------------------------------------------

    @classmethod
    def build(
        cls, names: Sequence[str], fingerprints: Iterable[Fingerprint], *, path: str | Path | None = None,
        counts_dtype: str | None = None,
    ) -> SourceMatrix:
        """Index ``fingerprints`` (one per name, all of one spec); streamed into ``path`` if given.

        ``counts_dtype`` defaults to the smallest integer type that holds every count when
        ``fingerprints`` is a sequence, else int32. With ``path`` the matrix is written in
        blocks of sources (never held whole in memory), atomically, and returned memory-mapped.
        """
        names = [str(x) for x in names]
        if not names or len(set(names)) != len(names):
            raise BadInput("a source matrix needs at least one source and unique names")
        if counts_dtype is None:
            if isinstance(fingerprints, Sequence) and len(fingerprints):
                counts_dtype = _counts_dtype(min(int(f.counts.min()) for f in fingerprints),
                                             max(int(f.counts.max()) for f in fingerprints))
            else:
                counts_dtype = "int32"
        items = iter(fingerprints)
        first = next(items, None)
        if first is None:
            raise BadInput("no fingerprints to index")
        (m, b), n_src = first.shape, len(names)
        shapes = {"counts": ((m * b, n_src), counts_dtype), "lse": ((m, n_src), "float64"),
                  "inv_n": ((n_src,), "float64"), "n": ((n_src,), "int64"), "noisy": ((n_src,), "uint8"),
                  "absmax": ((n_src,), "float64")}
        specs, header_at = fmt.layout(shapes)
        header = {"v": FORMAT_VERSION, "kind": KIND, "spec_id": first.spec_id, "features": m, "bins": b,
                  "names": names, "arrays": specs}

        def fill(arrays: dict[str, np.ndarray]) -> None:
            count, block = 0, []
            for fp in _chain(first, items):
                if count + len(block) >= n_src:
                    raise BadInput("more fingerprints than names")
                block.append(cls._columns(fp, names[count + len(block)], header, np.dtype(counts_dtype)))
                if len(block) == _STREAM:
                    cls._write(arrays, count, block)
                    count, block = count + len(block), []
            if block:
                cls._write(arrays, count, block)
                count += len(block)
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
    def _columns(fp: Fingerprint, name: str, header: dict, dtype: np.dtype) -> dict:
        m, b = header["features"], header["bins"]
        if fp.spec_id != header["spec_id"] or fp.shape != (m, b):
            raise IncompatibleFingerprints(
                f"fingerprints of different specs cannot share an index: {header['spec_id']} vs {fp.spec_id}")
        info = np.iinfo(dtype)
        if fp.counts.min() < info.min or fp.counts.max() > info.max:
            raise BadInput(f"counts of source {name!r} do not fit {dtype}; build with counts_dtype='int32'")
        # bkld.py defines log q; the engine's form h - L (h = counts / n) is checked against it, not re-derived.
        h = source_logits(fp)
        lse = logsumexp(h, axis=1) - noise_offset(fp)
        if not np.allclose(h - lse[:, None], source_log_q(fp).reshape(m, b), rtol=0, atol=1e-9):
            raise BadInput(f"source {name!r}: bKLD rows are not of the form counts / n - logsumexp")
        return {"counts": fp.counts.reshape(-1), "lse": lse, "inv_n": 1.0 / fp.n, "n": fp.n, "noisy": fp.noisy,
                "absmax": float(np.max(np.abs(fp.counts)))}

    @staticmethod
    def _write(arrays: dict[str, np.ndarray], start: int, block: list[dict]) -> None:
        stop = start + len(block)
        arrays["counts"][:, start:stop] = np.stack([c["counts"] for c in block], axis=1)
        arrays["lse"][:, start:stop] = np.stack([c["lse"] for c in block], axis=1)
        for key in ("inv_n", "n", "noisy", "absmax"):
            arrays[key][start:stop] = [c[key] for c in block]

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
    def load(cls, path: str | Path, *, mmap: bool = True) -> SourceMatrix:
        """Open a saved matrix; ``mmap=True`` maps it (copy-on-write: the file is never modified)."""
        header = fmt.read_header(path)
        if header.get("v") != FORMAT_VERSION or header.get("kind") != KIND:
            raise BadInput(f"{path} is not a version-{FORMAT_VERSION} secfp source matrix")
        try:
            arrays = {k: fmt.open_array(path, spec, "c") for k, spec in header["arrays"].items()}
            if not mmap:
                arrays = {k: np.array(a) for k, a in arrays.items()}
            return cls(header=header, arrays=arrays, path=Path(path))
        except (KeyError, TypeError, ValueError) as exc:
            raise BadInput(f"{path}: malformed source matrix ({exc})") from None

    def __len__(self) -> int:
        return len(self.names)

    @property
    def nbytes(self) -> int:
        return sum(int(a.nbytes) for a in self._a.values())

    def fingerprint(self, i: int) -> Fingerprint:
        """Source ``i`` as a fingerprint (counts, n, noise flag; the feature means are not stored)."""
        m, b = self.features, self.bins
        return Fingerprint(self.spec_id, np.asarray(self._a["counts"][:, i]).reshape(m, b).astype(np.int64),
                           int(self._a["n"][i]), np.zeros(m), noisy=bool(self._a["noisy"][i]))

    # -- queries ---------------------------------------------------------------------------------

    def _terms(self, targets: Sequence[Fingerprint], variant: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(touched cells, v on them (cells, Q), c (Q,), a (features, Q))."""
        terms = []
        for target in targets:
            if target.spec_id != self.spec_id or target.shape != (self.features, self.bins):
                raise IncompatibleFingerprints(
                    f"fingerprints of different specs cannot be compared: {target.spec_id} vs {self.spec_id}")
            terms.append(target_terms(target, variant=variant))
        v = np.stack([t[0] for t in terms], axis=1)
        c = np.array([t[1] for t in terms])
        a = v.reshape(self.features, self.bins, -1).sum(axis=1)
        cells = np.flatnonzero(np.any(v != 0, axis=1))
        return cells, v[cells], c, a

    def _dot(self, cells: np.ndarray, v: np.ndarray, *, exact: bool, cols: np.ndarray | None = None) -> np.ndarray:
        """(Q, sources) sum_z v_z counts[z] over the touched cells; float32 blocks, or float64 with ``exact``."""
        counts = self._a["counts"]
        work = np.float64 if exact else np.float32
        vt = np.ascontiguousarray(v.T.astype(work))
        if cols is not None:  # a few columns (the re-rank): one gather of exactly the touched cells
            return vt.astype(np.float64) @ np.take(counts, cols, axis=1)[cells].astype(np.float64)
        n_cols, total = counts.shape[1], counts.shape[0]
        acc = np.zeros((v.shape[1], n_cols))
        rows = _rows_per_block(n_cols)
        full = np.zeros((total, v.shape[1]), dtype=work)  # v on every cell (0 where the query is 0)
        full[cells] = v
        buf = np.empty((rows, n_cols), dtype=work)
        for w in np.unique(cells // rows):  # only blocks holding a touched cell; each one slice of the file
            z0, z1 = int(w) * rows, min(int(w) * rows + rows, total)
            np.copyto(buf[: z1 - z0], counts[z0:z1], casting="unsafe")
            acc += full[z0:z1].T @ buf[: z1 - z0]
        return acc

    def _distances(self, targets: Sequence[Fingerprint], variant: str, *, exact: bool,
                   cols: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(distances, error bars), each (Q, sources); with ``exact`` the float64 formula and zero bars."""
        cells, v, c, a = self._terms(targets, variant)
        sel = slice(None) if cols is None else cols
        inv_n = np.asarray(self._a["inv_n"][sel])
        lse = np.asarray(self._a["lse"][:, sel]) if cols is not None else self._a["lse"]
        dot = self._dot(cells, v, exact=exact, cols=cols)
        dist = c[:, None] + a.T @ lse - dot * inv_n[None, :]
        if exact:
            return dist, np.zeros_like(dist)
        gamma = _gamma(_rows_per_block(self._a["counts"].shape[1])) + 2 * _U32  # float32 sums of one block
        mass = v.sum(axis=0)
        clean = np.asarray(self._a["noisy"][sel]) == 0
        absmax = np.asarray(self._a["absmax"][sel])
        # Non-negative counts: every product is >= 0, so the float32 error is relative to the sum itself.
        bound = np.where(clean[None, :], np.abs(dot) / (1 - gamma), absmax[None, :] * mass[:, None])
        err = gamma * bound * inv_n[None, :]
        return dist, err + _SLACK * (1 + np.abs(dist))

    def distances(self, target: Fingerprint, variant: str = "small", *, exact: bool = False) -> np.ndarray:
        """bKLD from every source to ``target`` in one pass (``exact``: float64 throughout)."""
        return self._distances([target], variant, exact=exact)[0][0]

    def distances_many(self, targets: Sequence[Fingerprint], variant: str = "small", *,
                       exact: bool = False) -> np.ndarray:
        """(queries, sources) bKLD: one pass over the touched rows for all queries together."""
        return self._distances(targets, variant, exact=exact)[0]

    def top_k(self, target: Fingerprint, k: int = 10, variant: str = "small", *,
              exact_rerank: bool = True) -> list[MatchResult]:
        """The ``k`` sources closest to ``target``, equal to brute force with ``exact_rerank``."""
        return self.top_k_many([target], k, variant, exact_rerank=exact_rerank)[0]

    def top_k_many(self, targets: Sequence[Fingerprint], k: int = 10, variant: str = "small", *,
                   exact_rerank: bool = True) -> list[list[MatchResult]]:
        """:meth:`top_k` for several queries, sharing one pass over the pool."""
        if k < 1:
            raise UsageError("k must be at least 1")
        dist, err = self._distances(targets, variant, exact=False)
        self.last_candidates = []
        out = []
        for q, target in enumerate(targets):
            upper = np.sort(dist[q] + err[q])
            tau = upper[min(k, len(upper)) - 1]
            candidates = np.flatnonzero(dist[q] - err[q] <= tau)
            if exact_rerank:
                scores = self._distances([target], variant, exact=True, cols=candidates)[0][0]
            else:
                scores = dist[q, candidates]
            self.last_candidates.append(int(candidates.size))
            out.append(ordered([self.names[i] for i in candidates], scores, top=k))
        return out

    def rank(self, target: Fingerprint, *, variant: str = "small", top: int | None = None) -> list[MatchResult]:
        """Every source (or the ``top`` closest) by bKLD to ``target``, ties broken by name; float64 distances."""
        if top is not None and top < len(self):
            return self.top_k(target, top, variant)
        return ordered(list(self.names), self.distances(target, variant, exact=True), top=top)


def _rows_per_block(n_cols: int) -> int:
    """Cells per product: about 512 KiB of float32 per block (cache-sized), 16 to :data:`_MAX_BLOCK` cells."""
    return int(min(_MAX_BLOCK, max(_BLOCK, (1 << 17) // max(1, n_cols))))


def _chain(first: Fingerprint, rest: Iterable[Fingerprint]) -> Iterable[Fingerprint]:
    yield first
    yield from rest
