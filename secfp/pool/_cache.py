"""The pool's matrix cache: each bundle's one-vs-many row, and one stacked matrix per spec.

bKLD one-vs-many (:mod:`secfp.matching.bkld`) needs, per source, the row
``log softmax(h_S)`` flattened (:func:`~secfp.matching.bkld.source_log_q`); the
query then costs one matrix-vector product. The cache keeps:

* ``rows/<bundle_id>.<statement_digest>.npy``: one source's row (float64), written
  from the *verified* fingerprint when the bundle is added (or re-verified). The name
  binds the row to the exact statement the index holds.
* ``<sha256(spec_id)>.npz``: the rows of a set of bundles of one spec, stacked, with the
  bundle ids and statement digests it holds. It is used only when it holds every
  bundle a query needs (rows are picked by id, so an expired bundle simply is not
  picked); otherwise it is rebuilt from the row files. The spec id is hashed for the
  file name because it is the issuer's string.

Every file is written atomically (temp file, fsync, rename), so a reader sees a whole
file or none; a file that does not load is treated as absent and rebuilt. The cache is
derived data: deleting ``cache/`` is always safe (a sealed bundle's row then needs our
key to be rebuilt). Rows are the decrypted fingerprints in another form, so the files
are private (0600), like the pool folder (0700).
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from secfp._io import atomic_write_bytes
from secfp.fingerprint.histogram import Fingerprint
from secfp.matching.bkld import source_log_q

__all__ = ["MatrixCache", "Key"]

Key = tuple[str, str]  # (bundle id, statement digest)
_ID = re.compile(r"^[0-9a-f]{32}$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
MAX_ROW_BYTES = 64 * 1024 * 1024


def _check_key(key: Key) -> Key:
    bundle_id, digest = key
    if not _ID.match(bundle_id) or not _DIGEST.match(digest):
        raise ValueError("cache keys are a 32-hex bundle id and a 64-hex statement digest")
    return key


def _to_bytes(save) -> bytes:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    save(buf)
    return buf.getvalue()


class MatrixCache:
    """Handle on ``<pool>/cache``; holds no state of its own."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.rows = self.directory / "rows"

    # Rows ---------------------------------------------------------------------------
    def row_path(self, key: Key) -> Path:
        bundle_id, digest = _check_key(key)
        return self.rows / f"{bundle_id}.{digest}.npy"

    @staticmethod
    def row_of(fingerprint: Fingerprint) -> np.ndarray:
        """One source's row: :func:`~secfp.matching.bkld.source_log_q` of a verified fingerprint."""
        return source_log_q(fingerprint)

    def store_row(self, key: Key, row: np.ndarray) -> None:
        """Write one row atomically (OSError on a read-only pool: the caller keeps the row in memory)."""
        self.directory.mkdir(exist_ok=True, mode=0o700)
        self.rows.mkdir(exist_ok=True, mode=0o700)
        atomic_write_bytes(self.row_path(key), _to_bytes(lambda b: np.save(b, row, allow_pickle=False)), mode=0o600)

    def read_row(self, key: Key, *, length: int) -> np.ndarray | None:
        """The stored row, or None when it is absent or not a finite float64 vector of ``length``."""
        path = self.row_path(key)
        try:
            if path.stat().st_size > MAX_ROW_BYTES:
                return None
            row = np.load(io.BytesIO(path.read_bytes()), allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if row.dtype != np.float64 or row.shape != (length,) or not np.all(np.isfinite(row)):
            return None
        return row

    def drop_rows(self, bundle_id: str) -> None:
        """Delete every row file of ``bundle_id`` (whatever statement digest it was keyed by)."""
        if not _ID.match(bundle_id) or not self.rows.is_dir():
            return
        for path in self.rows.glob(f"{bundle_id}.*.npy"):
            path.unlink(missing_ok=True)

    # Stacked matrices -----------------------------------------------------------------
    def stacked_path(self, spec_id: str) -> Path:
        return self.directory / f"{hashlib.sha256(spec_id.encode('utf-8')).hexdigest()}.npz"

    def invalidate(self, spec_id: str) -> None:
        self.stacked_path(spec_id).unlink(missing_ok=True)

    def _load_stacked(self, spec_id: str, *, length: int) -> tuple[dict[Key, int], np.ndarray] | None:
        try:
            with np.load(self.stacked_path(spec_id), allow_pickle=False) as npz:
                ids, digests, log_q = npz["bundle_ids"], npz["digests"], npz["log_q"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None
        if log_q.dtype != np.float64 or log_q.ndim != 2 or log_q.shape != (len(ids), length) or len(digests) != len(ids):
            return None
        return {(str(i), str(d)): k for k, (i, d) in enumerate(zip(ids, digests))}, log_q

    def stacked_keys(self, spec_id: str) -> set[Key] | None:
        """The keys a stacked matrix holds (None if there is none); reads only its small arrays."""
        try:
            with np.load(self.stacked_path(spec_id), allow_pickle=False) as npz:
                return {(str(i), str(d)) for i, d in zip(npz["bundle_ids"], npz["digests"])}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None

    def matrix(self, spec_id: str, keys: Sequence[Key], *, length: int,
               extra: Mapping[Key, np.ndarray] | None = None) -> tuple[np.ndarray, bool] | None:
        """The rows of ``keys`` stacked in that order, and whether the stacked file served them.

        ``extra`` holds rows computed in memory (from a re-verified bundle) that take
        precedence. None when some row is neither in ``extra``, nor in the stacked file,
        nor in a row file: the caller must re-verify that bundle.
        """
        keys = [_check_key(k) for k in keys]
        extra = extra or {}
        if not keys:
            return np.zeros((0, length)), False
        if not extra:
            stacked = self._load_stacked(spec_id, length=length)
            if stacked is not None and all(k in stacked[0] for k in keys):
                index, log_q = stacked
                return log_q[[index[k] for k in keys]], True
        rows = []
        for key in keys:
            row = extra.get(key)
            if row is None:
                row = self.read_row(key, length=length)
            if row is None:
                return None
            rows.append(row)
        return np.stack(rows), False

    def write_stacked(self, spec_id: str, keys: Sequence[Key], log_q: np.ndarray) -> None:
        ids = np.array([k[0] for k in keys], dtype="<U32")
        digests = np.array([k[1] for k in keys], dtype="<U64")
        data = _to_bytes(lambda b: np.savez(b, bundle_ids=ids, digests=digests, log_q=log_q))
        self.directory.mkdir(exist_ok=True, mode=0o700)
        atomic_write_bytes(self.stacked_path(spec_id), data, mode=0o600)

    # Housekeeping ----------------------------------------------------------------------
    def reconcile(self, valid: Iterable[Key]) -> int:
        """Delete row files and stacked matrices that hold anything not in ``valid``; count deletions."""
        valid = set(valid)
        removed = 0
        if self.rows.is_dir():
            for path in self.rows.iterdir():
                parts = path.name.split(".")
                if len(parts) == 3 and parts[2] == "npy" and (parts[0], parts[1]) in valid:
                    continue
                if path.name.endswith((".npy", ".tmp")):
                    path.unlink(missing_ok=True)
                    removed += 1
        if self.directory.is_dir():
            for path in self.directory.iterdir():
                if path.name.endswith(".tmp"):
                    path.unlink(missing_ok=True)
                    removed += 1
                elif path.name.endswith(".npz"):
                    try:
                        with np.load(path, allow_pickle=False) as npz:
                            held = {(str(i), str(d)) for i, d in zip(npz["bundle_ids"], npz["digests"])}
                    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                        held = None
                    if held is None or not held <= valid:
                        path.unlink(missing_ok=True)
                        removed += 1
        return removed
