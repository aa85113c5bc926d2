"""The pool's matrix cache: each bundle's verified counts, and one engine matrix per spec.

Matching is :class:`secfp.matching.engine.SourceMatrix` (the one engine); the cache keeps
what it needs, taken from the *verified* fingerprint when a bundle is added (or
re-verified):

* ``rows/<bundle_id>.<statement_digest>.npy``: one source's counts, flattened, followed by
  its ``n`` and noise flag (int64). The name binds the row to the exact statement the index
  holds.
* ``<sha256(spec_id)>.secfpidx``: a SourceMatrix of exactly the bundles one query of that
  spec used, named ``<bundle_id>.<statement_digest>``, memory-mapped when read. It serves a
  query whose usable bundles are exactly its names; otherwise it is rebuilt from the rows.
  The spec id is hashed for the file name because it is the issuer's string.

Every file is written atomically (temp file, fsync, rename), so a reader sees a whole file
or none; a file that does not load is treated as absent and rebuilt. The cache is derived
data: deleting ``cache/`` is always safe (a sealed bundle's row then needs our key to be
rebuilt). Rows are the decrypted fingerprints in another form, so the files are private
(0600), like the pool folder (0700).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from secfp._io import BUNDLE_ID, atomic_write_bytes
from secfp.errors import BadInput
from secfp.fingerprint.histogram import Fingerprint
from secfp.matching.engine import SourceMatrix

__all__ = ["MatrixCache", "Key", "key_name"]

Key = tuple[str, str]  # (bundle id, statement digest)
_DIGEST_LEN = 64
MAX_ROW_BYTES = 64 * 1024 * 1024
_SUFFIX = ".secfpidx"


def _check_key(key: Key) -> Key:
    bundle_id, digest = key
    if not BUNDLE_ID.match(bundle_id) or len(digest) != _DIGEST_LEN or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError("cache keys are a 32-hex bundle id and a 64-hex statement digest")
    return key


def key_name(key: Key) -> str:
    """The name a key has in a stacked matrix."""
    return f"{key[0]}.{key[1]}"


class MatrixCache:
    """Handle on ``<pool>/cache``; holds no state of its own."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.rows = self.directory / "rows"

    # Rows ---------------------------------------------------------------------------
    def row_path(self, key: Key) -> Path:
        bundle_id, digest = _check_key(key)
        return self.rows / f"{bundle_id}.{digest}.npy"

    def store_row(self, key: Key, fingerprint: Fingerprint) -> None:
        """Write one source's counts atomically (OSError on a read-only pool)."""
        row = np.concatenate([fingerprint.counts.reshape(-1).astype(np.int64), [fingerprint.n, int(fingerprint.noisy)]])
        buf = io.BytesIO()
        np.save(buf, row, allow_pickle=False)
        self.directory.mkdir(exist_ok=True, mode=0o700)
        self.rows.mkdir(exist_ok=True, mode=0o700)
        atomic_write_bytes(self.row_path(key), buf.getvalue(), mode=0o600)

    def read_row(self, key: Key, *, spec_id: str, shape: tuple[int, int]) -> Fingerprint | None:
        """The stored source, or None when the row is absent or not an int64 vector of the right length."""
        path = self.row_path(key)
        try:
            if path.stat().st_size > MAX_ROW_BYTES:
                return None
            row = np.load(io.BytesIO(path.read_bytes()), allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        m, b = shape
        if row.dtype != np.int64 or row.shape != (m * b + 2,) or row[-2] < 1 or row[-1] not in (0, 1):
            return None
        try:
            return Fingerprint(spec_id, row[:-2].reshape(m, b), int(row[-2]), np.zeros(m), noisy=bool(row[-1]))
        except BadInput:
            return None

    def drop_rows(self, bundle_id: str) -> None:
        """Delete every row file of ``bundle_id`` (whatever statement digest it was keyed by)."""
        if not BUNDLE_ID.match(bundle_id) or not self.rows.is_dir():
            return
        for path in self.rows.glob(f"{bundle_id}.*.npy"):
            path.unlink(missing_ok=True)

    # Stacked matrices -----------------------------------------------------------------
    def stacked_path(self, spec_id: str) -> Path:
        return self.directory / f"{hashlib.sha256(spec_id.encode('utf-8')).hexdigest()}{_SUFFIX}"

    def invalidate(self, spec_id: str) -> None:
        self.stacked_path(spec_id).unlink(missing_ok=True)

    def _load_stacked(self, path: Path) -> SourceMatrix | None:
        try:
            return SourceMatrix.load(path)
        except (BadInput, OSError, ValueError):
            return None

    def stacked_keys(self, spec_id: str) -> set[Key] | None:
        """The keys a stacked matrix holds (None if there is none)."""
        matrix = self._load_stacked(self.stacked_path(spec_id))
        return None if matrix is None else {tuple(name.split(".")) for name in matrix.names}  # type: ignore[misc]

    def matrix(self, spec_id: str, keys: Sequence[Key], *, shape: tuple[int, int],
               extra: Mapping[Key, Fingerprint] | None = None) -> tuple[SourceMatrix, bool] | None:
        """The engine matrix of exactly ``keys`` (named by :func:`key_name`), and whether the stacked file served it.

        ``extra`` holds sources in memory (from a re-verified bundle) that take precedence.
        None when some source is neither in ``extra``, nor in the stacked file, nor in a row
        file: the caller must re-verify that bundle.
        """
        keys = [_check_key(k) for k in keys]
        extra = extra or {}
        names = [key_name(k) for k in keys]
        if not extra:
            stacked = self._load_stacked(self.stacked_path(spec_id))
            if stacked is not None and stacked.spec_id == spec_id and set(stacked.names) == set(names) \
                    and (stacked.features, stacked.bins) == shape:
                return stacked, True
        sources = []
        for key in keys:
            fp = extra.get(key) or self.read_row(key, spec_id=spec_id, shape=shape)
            if fp is None:
                return None
            sources.append(fp)
        return SourceMatrix.build(names, sources), False

    def write_stacked(self, matrix: SourceMatrix) -> None:
        self.directory.mkdir(exist_ok=True, mode=0o700)
        path = self.stacked_path(matrix.spec_id)
        matrix.save(path)
        os.chmod(path, 0o600)

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
                elif path.name.endswith((_SUFFIX, ".npz")):
                    matrix = self._load_stacked(path) if path.name.endswith(_SUFFIX) else None
                    held = None if matrix is None else {tuple(n.split(".")) for n in matrix.names}
                    del matrix
                    if held is None or not held <= valid:
                        path.unlink(missing_ok=True)
                        removed += 1
        return removed
