"""SourceMatrix: exact top-k bKLD against a large pool, from a memory-mapped reduced-precision matrix.

Per source we store, for the bKLD identity of :mod:`secfp.knowledge.distances`
(``bKLD(S -> T) = c_T - log q_S . v_T``):

* the **full rows** ``log q + log B`` (centred: near-uniform sources give values near 0;
  every entry lies in [-1, 1] for noise-free counts), in float16 (or bfloat16). The ranking
  is unchanged because the target vector ``v`` sums to a constant. Products accumulate in
  fp32 within column tiles of 2,048 and in float64 across tiles;
* **coarse rows** for each pyramid level ``G`` (bins merged into ``G`` groups per feature):
  ``log(sum of q over the group) + log B - log(group size)``. By the data-processing
  inequality, KL between the merged distributions is at most the KL between the full ones,
  for every feature, so a level gives a rigorous *lower bound* on bKLD at ``G/B`` of the cost;
* the **counts** themselves, so the final ranking uses the exact float64 formula
  (:func:`~secfp.knowledge.distances.one_vs_many`, the reference the tests hold it to);
* per source and level the largest rounding error of its stored row and the largest
  stored magnitude, which give rigorous error bars ``e`` on every approximate distance
  (quantisation ``qerr * sum(v)``, fp32 tile accumulation ``(gamma_2048 + u) * max|r| * sum(v)``).

:meth:`SourceMatrix.top_k` is a cascade: lower bounds of the cheapest level on all
sources, then of finer levels on the survivors, then approximate full distances, then the
exact formula on the few sources whose error bar reaches the k-th best upper bound. A
source is dropped only when a lower bound exceeds the k-th smallest upper bound, so the
result equals brute force (ties broken by name, as :func:`~secfp.knowledge.match.rank_sources`
does). The cost depends on the pool: a pool where most sources are far from the query is
pruned at the first level; docs/performance.md measures both kinds of pool.

The file (:mod:`secfp.knowledge._index_file`) is memory-mapped, so a pool larger than RAM
works: queries stream it in tiles. Not checked here: that the fingerprints came from
verified statements (the pool's job); the index file is local state, like the pool.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.special import rel_entr

from secfp.errors import BadInput, IncompatibleFingerprints, UsageError
from secfp.fingerprint.histogram import Fingerprint
from secfp.knowledge import _index_file as fmt
from secfp.knowledge.distances import feature_weights, one_vs_many, source_log_q, target_probabilities, target_terms
from secfp.knowledge.match import MatchResult

__all__ = ["SourceMatrix", "QueryStats", "PRECISIONS", "default_levels"]

PRECISIONS = ("float16", "bfloat16")
KIND = "secfp.source-matrix"
FORMAT_VERSION = 1
_TILE_COLS = 2048
_U32 = 2.0**-24
_GAMMA = _TILE_COLS * _U32 / (1 - _TILE_COLS * _U32)
_SLACK = 1e-9  # float64 rounding of the target terms and of the sums across tiles, generously


def default_levels(bins: int) -> tuple[int, ...]:
    """Coarse levels worth having: 2, 10 and 100 groups, each at most a fifth of the bins."""
    return tuple(g for g in (2, 10, 100) if 5 * g <= bins)


def _groups(bins: int, groups: int) -> tuple[np.ndarray, np.ndarray]:
    bounds = np.round(np.linspace(0, bins, groups + 1)).astype(np.int64)
    return bounds[:-1], np.diff(bounds)


def _encode(x: np.ndarray, precision: str) -> tuple[np.ndarray, np.ndarray]:
    """(stored array, its exact float64 value) in float16 or bfloat16 (round to nearest even)."""
    if precision == "float16":
        stored = x.astype(np.float16)
        return stored, stored.astype(np.float64)
    bits = x.astype(np.float32).view(np.uint32)
    stored = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return stored, (stored.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def _to_f32(block: np.ndarray, precision: str) -> torch.Tensor:
    block = np.asarray(block)
    if precision == "float16":
        return torch.from_numpy(block).float()
    return torch.from_numpy(block.view(np.int16)).view(torch.bfloat16).float()


@dataclass(frozen=True)
class QueryStats:
    """How much of the pool one top-k query touched: rows per stage and exact evaluations."""

    rows: tuple[tuple[str, int], ...]
    exact: int


@dataclass(frozen=True)
class _Terms:
    v: torch.Tensor  # (cells, Q) float32
    const: np.ndarray  # (Q,) float64
    mass: np.ndarray  # (Q,) float64, sum of v


class SourceMatrix:
    """Rows of a pool of sources of one spec; build with :meth:`build`, reopen with :meth:`load`."""

    def __init__(self, *, header: dict, arrays: dict[str, np.ndarray], path: Path | None = None) -> None:
        self.spec_id: str = header["spec_id"]
        self.features, self.bins = int(header["features"]), int(header["bins"])
        self.levels: tuple[int, ...] = tuple(header["levels"])
        self.precision: str = header["precision"]
        self.names: tuple[str, ...] = tuple(header["names"])
        self.path = path
        self._header, self._a = header, arrays
        if self.precision not in PRECISIONS or len(set(self.names)) != len(self.names):
            raise BadInput("malformed source matrix: unknown precision or duplicate names")

    # -- building and files ---------------------------------------------------------------------

    @classmethod
    def build(
        cls, names: Sequence[str], fingerprints: Iterable[Fingerprint], *, path: str | Path | None = None,
        precision: str = "float16", levels: Sequence[int] | None = None, counts_dtype: str | None = None,
    ) -> "SourceMatrix":
        """Index ``fingerprints`` (one per name, all of one spec); streamed into ``path`` if given.

        ``counts_dtype`` defaults to uint16 when ``fingerprints`` is a sequence of noise-free
        fingerprints with n < 65536, else int32. With ``path`` the matrix is written source by
        source (nothing is held in memory) and returned memory-mapped.
        """
        names = [str(x) for x in names]
        if precision not in PRECISIONS:
            raise UsageError(f"precision must be one of {PRECISIONS}")
        if not names or len(set(names)) != len(names):
            raise BadInput("a source matrix needs at least one source and unique names")
        if counts_dtype is None:
            fits = isinstance(fingerprints, Sequence) and all(not f.noisy and f.n < 65536 for f in fingerprints)
            counts_dtype = "uint16" if fits else "int32"
        items = iter(fingerprints)
        first = next(items, None)
        if first is None:
            raise BadInput("no fingerprints to index")
        m, b = first.shape
        levels = tuple(sorted(set(default_levels(b) if levels is None else (int(g) for g in levels))))
        if any(not 1 <= g < b for g in levels):
            raise UsageError(f"coarse levels must lie in [1, {b})")
        store = "uint16" if precision == "bfloat16" else "float16"
        n_src, stages = len(names), len(levels) + 1
        shapes = {f"level_{g}": ((n_src, m * g), store) for g in levels}
        shapes.update(full=((n_src, m * b), store), counts=((n_src, m * b), counts_dtype), n=((n_src,), "int64"),
                      noisy=((n_src,), "uint8"), qerr=((n_src, stages), "float64"), maxabs=((n_src, stages), "float64"))
        specs, header_at = fmt.layout(shapes)
        header = {"v": FORMAT_VERSION, "kind": KIND, "spec_id": first.spec_id, "features": m, "bins": b,
                  "levels": list(levels), "precision": precision, "names": names, "arrays": specs}

        def fill(arrays: dict[str, np.ndarray]) -> None:
            count = 0
            for i, fp in enumerate(_chain(first, items)):
                if i >= n_src:
                    raise BadInput("more fingerprints than names")
                cls._fill_row(arrays, i, fp, header)
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
        log_q = source_log_q(fp).reshape(m, b)
        rows = [(f"level_{g}", np.logaddexp.reduceat(log_q, _groups(b, g)[0], axis=1) - np.log(_groups(b, g)[1]))
                for g in header["levels"]]
        rows.append(("full", log_q))
        for stage, (name, row) in enumerate(rows):
            stored, exact = _encode(row.reshape(-1) + math.log(b), header["precision"])
            arrays[name][i] = stored
            arrays["qerr"][i, stage] = np.max(np.abs(exact - (row.reshape(-1) + math.log(b))))
            arrays["maxabs"][i, stage] = np.max(np.abs(exact))
        counts[i] = fp.counts.reshape(-1)
        arrays["n"][i], arrays["noisy"][i] = fp.n, fp.noisy

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
        """Open a saved matrix; ``mmap=True`` maps it (copy-on-write, the file is never modified)."""
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

    def _terms(self, targets: Sequence[Fingerprint], variant: str, level: int | None) -> _Terms:
        vs, consts, masses = [], [], []
        for target in targets:
            self._check(target)
            if level is None:
                v, c = target_terms(target, variant=variant)
                shift = np.full(v.shape, math.log(self.bins))
            else:
                starts, sizes = _groups(self.bins, level)
                w = feature_weights(target, variant)
                w = w / w.sum()
                p = np.add.reduceat(target_probabilities(target), starts, axis=1)
                v = (w[:, None] * p).reshape(-1)
                c = float(np.dot(w, rel_entr(p, np.ones_like(p)).sum(axis=1)))
                shift = np.tile(math.log(self.bins) - np.log(sizes), self.features)
            vs.append(v)
            consts.append(c + float(np.dot(v, shift)))
            masses.append(float(v.sum()))
        return _Terms(torch.from_numpy(np.stack(vs, axis=1).astype(np.float32)), np.array(consts), np.array(masses))

    def _approx(self, stage: str, terms: _Terms, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(distances or lower bounds, error bars), each (rows, Q): ``const - R v`` in tiles."""
        arr = self._a[stage]
        n, width = (arr.shape[0] if rows is None else len(rows)), arr.shape[1]
        out = torch.zeros((n, terms.v.shape[1]), dtype=torch.float64)
        step = int(min(1024, max(16, (1 << 23) // width)))
        for r0 in range(0, n, step):
            block = arr[r0 : r0 + step] if rows is None else arr[rows[r0 : r0 + step]]
            acc = torch.zeros((block.shape[0], terms.v.shape[1]), dtype=torch.float64)
            for c0 in range(0, width, _TILE_COLS):
                acc += (_to_f32(block[:, c0 : c0 + _TILE_COLS], self.precision) @ terms.v[c0 : c0 + _TILE_COLS]).double()
            out[r0 : r0 + step] = acc
        k = self.levels.index(int(stage.split("_")[1])) if stage != "full" else len(self.levels)
        qerr, maxabs = (self._a["qerr"][:, k], self._a["maxabs"][:, k]) if rows is None else (self._a["qerr"][rows, k], self._a["maxabs"][rows, k])
        err = (np.asarray(qerr)[:, None] + (_GAMMA + _U32) * np.asarray(maxabs)[:, None]) * terms.mass[None, :] + _SLACK
        return terms.const[None, :] - out.numpy(), err

    def _exact(self, target: Fingerprint, rows: np.ndarray, variant: str) -> np.ndarray:
        m, b = self.features, self.bins
        sources = [Fingerprint(self.spec_id, np.asarray(self._a["counts"][i]).reshape(m, b).astype(np.int64), int(self._a["n"][i]),
                               np.zeros(m), noisy=bool(self._a["noisy"][i])) for i in rows]
        return one_vs_many(target, sources, variant=variant)

    def distances(self, target: Fingerprint, variant: str = "small", *, exact: bool = False) -> np.ndarray:
        """bKLD from every source to ``target``: one pass over the full rows (``exact``: from the counts)."""
        if exact:
            self._check(target)
            return np.concatenate([self._exact(target, np.arange(i, min(i + 256, len(self))), variant) for i in range(0, len(self), 256)])
        return self._approx("full", self._terms([target], variant, None), None)[0][:, 0]

    def distances_many(self, targets: Sequence[Fingerprint], variant: str = "small") -> np.ndarray:
        """(queries, sources) bKLD: one matrix-matrix pass over the full rows."""
        return self._approx("full", self._terms(targets, variant, None), None)[0].T

    def top_k(self, target: Fingerprint, k: int = 10, variant: str = "small", *, exact_rerank: bool = True,
              return_stats: bool = False) -> list[MatchResult] | tuple[list[MatchResult], QueryStats]:
        """The ``k`` sources closest to ``target`` by bKLD, equal to brute force (see the module docstring)."""
        if k < 1:
            raise UsageError("k must be at least 1")
        full = self._terms([target], variant, None)
        alive = np.arange(len(self))
        known: dict[int, tuple[float, float]] = {}  # source -> (approximate distance, error bar)
        rows_seen: list[tuple[str, int]] = []

        def evaluate(rows: np.ndarray) -> float:
            new = np.array(sorted(set(rows.tolist()) - known.keys()), dtype=np.int64)
            if new.size:
                d, e = self._approx("full", full, new)
                known.update(zip(new.tolist(), zip(d[:, 0].tolist(), e[:, 0].tolist())))
            uppers = sorted(d + e for d, e in known.values())
            return uppers[k - 1] if len(uppers) >= k else math.inf

        tau = math.inf
        for g in self.levels:
            rows_seen.append((f"level_{g}", int(alive.size)))
            lb, err = self._approx(f"level_{g}", self._terms([target], variant, g), alive)
            lb = lb[:, 0] - err[:, 0]
            tau = evaluate(alive[np.argsort(lb, kind="stable")[: 2 * k]])
            alive = alive[lb <= tau]
        rows_seen.append(("full", int(alive.size)))
        tau = evaluate(alive)
        candidates = np.array(sorted(i for i, (d, e) in known.items() if d - e <= tau), dtype=np.int64)
        if exact_rerank:
            scores = self._exact(target, candidates, variant)
        else:
            scores = np.array([known[i][0] for i in candidates.tolist()])
        order = sorted(range(len(candidates)), key=lambda j: (float(scores[j]), self.names[candidates[j]]))[:k]
        results = [MatchResult(self.names[candidates[j]], float(scores[j]), r + 1) for r, j in enumerate(order)]
        if return_stats:
            return results, QueryStats(tuple(rows_seen), int(candidates.size) if exact_rerank else 0)
        return results


def _chain(first: Fingerprint, rest: Iterable[Fingerprint]) -> Iterable[Fingerprint]:
    yield first
    yield from rest
