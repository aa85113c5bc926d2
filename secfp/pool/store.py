"""The knowledge pool: received bundles that passed verification, on disk, with an index.

Layout of a pool folder (created 0700; every file 0600)::

    DIR/index.sqlite                       the index (stdlib sqlite3; see _schema.py)
    DIR/bundles/<bundle_id>.bundle         the bundle exactly as received and verified
    DIR/cache/rows/<id>.<digest>.npy       one source's verified counts (see _cache.py)
    DIR/cache/<sha256(spec_id)>.secfpidx   those sources as one engine matrix per spec
    DIR/pool.lock                          cross-process lock for every change

**Nothing unverified enters.** :meth:`Pool.store` takes only a
:class:`~secfp.exchange.received.ReceivedBundle`, which only the receive workflow makes
(signature, decryption, audience, expiry, DP ledger, the import policy if the receiver
has one); :func:`secfp.workflows.use.add_to_pool` verifies and stores. The pool's index
is its own replay record: the same bundle id with the same statement is "already in the
pool" (a no-op), with another statement it is :class:`~secfp.exchange.errors.Replayed`
(exit 4, audited). The per-user replay store of ``secfp verify`` is not consulted, so a
bundle checked with ``secfp verify`` first can still be pooled; a removed bundle can be
added again.

**Crash consistency.** An add writes the bundle file, then its cache row (both
atomically), then inserts the index row in one SQLite transaction; a remove deletes the
row first, then the files. So the index never names a file that was not completely
written, and an interruption leaves at most *files without a row*. :meth:`Pool.open`
reconciles under the lock: files without a row (and temp files) are deleted, never
re-verified or used (the operator still holds the bundle and can add it again); rows
whose bundle file has gone are dropped with their cache rows; stacked matrices holding
any bundle that is no longer indexed are deleted. An add interrupted by an exception
cleans up after itself.

**Use** (:mod:`secfp.workflows.use`) repeats at every use the checks whose answer can
change after the add (expiry, trust, the import policy now, the stored file's digest)
and ranks with the one engine (:class:`~secfp.matching.engine.SourceMatrix`) over the
counts this pool caches (:mod:`secfp.pool._cache`). Like the trust and replay stores, the
pool folder is local state that SECURITY.md's threat model trusts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from secfp._io import BUNDLE_ID as _ID
from secfp._io import atomic_write_bytes, read_capped
from secfp.errors import BadInput, UsageError
from secfp.exchange.errors import Replayed
from secfp.exchange.received import ReceivedBundle
from secfp.fingerprint.histogram import Fingerprint
from secfp.governance import AuditEvent, append_event
from secfp.matching.engine import SourceMatrix
from secfp.pool._cache import MatrixCache
from secfp.pool._schema import (
    COLUMNS,
    POOL_KIND,
    POOL_VERSION,
    SCHEMA,
    PoolEntry,
    entry_from_received,
    entry_from_row,
    entry_to_row,
)

__all__ = ["Pool", "PoolEntry", "AddResult", "ReconcileReport", "MAX_STORED_BUNDLE_BYTES"]

MAX_STORED_BUNDLE_BYTES = 160 * 1024 * 1024  # the exchange format's bundle cap
LOCK_TIMEOUT_S = 60.0
_PREFIX = re.compile(r"\A[0-9a-f]{4,32}\Z")


@dataclass(frozen=True)
class AddResult:
    """The outcome of one add: the entry, and whether it was new (False: already in the pool)."""

    entry: PoolEntry
    added: bool

    def to_json(self) -> dict[str, Any]:
        return {"outcome": "added" if self.added else "present", **self.entry.facts_json()}


@dataclass(frozen=True)
class ReconcileReport:
    """What :meth:`Pool.open` repaired: index rows dropped (file gone) and files deleted (no row)."""

    dropped_rows: tuple[str, ...] = ()
    removed_files: tuple[str, ...] = ()
    removed_cache_files: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.dropped_rows or self.removed_files)

    def to_json(self) -> dict[str, Any]:
        return {"dropped_rows": list(self.dropped_rows), "removed_files": list(self.removed_files),
                "removed_cache_files": self.removed_cache_files}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# The three steps of an add, as functions so that tests can interrupt between them.
def _write_bundle_file(path: Path, data: bytes) -> None:
    atomic_write_bytes(path, data, mode=0o600)


def _write_cache_row(cache: MatrixCache, entry: PoolEntry, fingerprint: Fingerprint) -> None:
    cache.store_row((entry.bundle_id, entry.statement_digest), fingerprint)


def _insert_row(con: sqlite3.Connection, entry: PoolEntry) -> None:
    marks = ", ".join("?" for _ in COLUMNS)
    con.execute(f"INSERT INTO bundles ({', '.join(COLUMNS)}) VALUES ({marks})", entry_to_row(entry))


class Pool:
    """Handle on a pool folder. Make one with :meth:`open`; it holds no state besides paths."""

    def __init__(self, directory: Path, *, reconciled: ReconcileReport) -> None:
        self.directory = Path(directory)
        self.reconciled = reconciled
        self.cache = MatrixCache(self.directory / "cache")

    # Paths and plumbing ---------------------------------------------------------------
    @property
    def index_path(self) -> Path:
        return self.directory / "index.sqlite"

    @property
    def bundles_dir(self) -> Path:
        return self.directory / "bundles"

    def bundle_path(self, bundle_id: str) -> Path:
        if not _ID.match(bundle_id):
            raise UsageError(f"{bundle_id!r:.40} is not a bundle id (32 hex digits)")
        return self.bundles_dir / f"{bundle_id}.bundle"

    @contextmanager
    def lock(self) -> Iterator[None]:
        try:
            with FileLock(str(self.directory / "pool.lock"), timeout=LOCK_TIMEOUT_S):
                yield
        except Timeout:
            raise BadInput(f"pool {self.directory} stayed locked for {LOCK_TIMEOUT_S:g} s (pool.lock)") from None

    @contextmanager
    def _db(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        try:
            con = sqlite3.connect(self.index_path, timeout=LOCK_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise BadInput(f"cannot open pool index {self.index_path}: {exc}") from None
        con.row_factory = sqlite3.Row
        try:
            con.execute("PRAGMA synchronous = FULL")
            if write:
                con.execute("BEGIN IMMEDIATE")
            yield con
            if write:
                con.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise BadInput(f"pool index {self.index_path} is not usable: {exc}") from None
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    # Opening --------------------------------------------------------------------------
    @classmethod
    def open(cls, directory: str | os.PathLike[str], *, create: bool = False) -> Pool:
        """Open (or with ``create``, make) the pool at ``directory`` and reconcile it (module docstring)."""
        directory = Path(directory)
        index = directory / "index.sqlite"
        if not index.is_file():
            if not create:
                raise UsageError(f"{directory} is not a pool (no index.sqlite); `secfp pool add` creates one")
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        pool = cls(directory, reconciled=ReconcileReport())
        if create:
            # Idempotent, under the lock: two processes creating one pool both succeed.
            with pool.lock(), pool._db() as con:
                con.executescript(f"BEGIN IMMEDIATE; {SCHEMA} INSERT OR IGNORE INTO meta VALUES "
                                  f"('kind', '{POOL_KIND}'), ('v', '{POOL_VERSION}'); COMMIT;")
            os.chmod(index, 0o600)
        pool._check_format()
        pool.reconciled = pool._reconcile()
        return pool

    def _check_format(self) -> None:
        with self._db() as con:
            try:
                meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
                columns = [r["name"] for r in con.execute("PRAGMA table_info(bundles)")]
            except sqlite3.OperationalError:
                raise BadInput(f"{self.index_path} is not a secfp pool index") from None
        if meta.get("kind") != POOL_KIND or meta.get("v") != str(POOL_VERSION) or tuple(columns) != COLUMNS:
            raise BadInput(f"{self.index_path} is not a version-{POOL_VERSION} secfp pool index")

    def _reconcile(self) -> ReconcileReport:
        if not os.access(self.directory, os.W_OK):
            return ReconcileReport()  # A read-only pool: readers only use indexed, existing files.
        with self.lock():
            with self._db() as con:
                rows = {r["bundle_id"]: r["statement_digest"] for r in con.execute("SELECT bundle_id, statement_digest FROM bundles")}
            files = {}
            if self.bundles_dir.is_dir():
                for path in self.bundles_dir.iterdir():
                    stem, dot, ext = path.name.partition(".")
                    if ext == "bundle" and _ID.match(stem):
                        files[stem] = path
                    elif path.name.startswith(".") and path.name.endswith(".tmp"):
                        path.unlink(missing_ok=True)  # An atomic write that never finished.
            dropped = sorted(set(rows) - set(files))
            if dropped:
                with self._db(write=True) as con:
                    con.executemany("DELETE FROM bundles WHERE bundle_id = ?", [(i,) for i in dropped])
            removed = sorted(set(files) - set(rows))
            for bundle_id in removed:
                files[bundle_id].unlink(missing_ok=True)
            for bundle_id in dropped + removed:
                self.cache.drop_rows(bundle_id)
            valid = {(i, d) for i, d in rows.items() if i not in dropped}
            cache_removed = self.cache.reconcile(valid)
        return ReconcileReport(tuple(dropped), tuple(removed), cache_removed)

    # Reading --------------------------------------------------------------------------
    def entries(self) -> list[PoolEntry]:
        """Every indexed bundle, by bundle id (expired ones included)."""
        with self._db() as con:
            return [entry_from_row(r) for r in con.execute("SELECT * FROM bundles ORDER BY bundle_id")]

    def _row(self, con: sqlite3.Connection, bundle_id: str) -> PoolEntry | None:
        row = con.execute("SELECT * FROM bundles WHERE bundle_id = ?", (bundle_id,)).fetchone()
        return entry_from_row(row) if row is not None else None

    def get(self, bundle_id: str) -> PoolEntry:
        """The entry for a bundle id or a unique prefix of at least 4 hex digits; UsageError otherwise."""
        if not isinstance(bundle_id, str) or not _PREFIX.match(bundle_id):
            raise UsageError(f"{bundle_id!r:.40} is not a bundle id (4 to 32 lower-case hex digits)")
        with self._db() as con:
            rows = con.execute("SELECT * FROM bundles WHERE substr(bundle_id, 1, ?) = ? LIMIT 2",
                               (len(bundle_id), bundle_id)).fetchall()
        if not rows:
            raise UsageError(f"no bundle {bundle_id} in pool {self.directory}")
        if len(rows) > 1:
            raise UsageError(f"{bundle_id} names more than one bundle in the pool: give more digits")
        return entry_from_row(rows[0])

    def stored_bytes(self, entry: PoolEntry) -> bytes:
        """The stored bundle, checked against the digest recorded at add; BadInput if missing or changed."""
        try:
            data = read_capped(self.bundle_path(entry.bundle_id), cap=MAX_STORED_BUNDLE_BYTES, what="stored bundle")
        except BadInput:
            raise BadInput("the stored bundle file is missing or unreadable") from None
        if not hmac.compare_digest(_sha256(data), entry.file_digest):
            raise BadInput("the stored bundle file no longer matches the digest recorded when it was added")
        return data

    # Changing -------------------------------------------------------------------------
    def store(self, received: ReceivedBundle, data: bytes, *, now: datetime, label: str, audit_log: Path,
              actor: str) -> AddResult:
        """Store a bundle that :meth:`~secfp.workflows.receive.Receiver.receive` returned from ``data``.

        Raises :class:`Replayed` (audited) for a known bundle id carrying another statement;
        a bundle already in the pool is a no-op. A write that fails is audited and leaves
        nothing behind.
        """
        if not isinstance(received, ReceivedBundle):
            raise TypeError("the pool stores only a ReceivedBundle (verify the bundle first)")
        data = bytes(data)
        entry = entry_from_received(received, file_digest=_sha256(data), received_at=now)
        path = self.bundle_path(entry.bundle_id)
        with self.lock():
            with self._db() as con:
                existing = self._row(con, entry.bundle_id)
            if existing is not None:
                if hmac.compare_digest(existing.statement_digest, entry.statement_digest):
                    return AddResult(existing, added=False)
                error = Replayed(f"replay check failed: bundle id {entry.bundle_id} is already in the pool with "
                                 "different content")
                self._audit(audit_log, actor, "pool-add", "failed", now=now, entry=entry,
                            reasons=(error.diagnostics(),), label=label)
                raise error
            self.bundles_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            committed = False
            try:
                _write_bundle_file(path, data)
                _write_cache_row(self.cache, entry, received.fingerprint)
                with self._db(write=True) as con:
                    _insert_row(con, entry)
                committed = True
                self.cache.invalidate(entry.spec_id)
            except (OSError, BadInput) as exc:
                reason = exc.diagnostics() if isinstance(exc, BadInput) else f"cannot write to the pool: {exc}"
                self._audit(audit_log, actor, "pool-add", "failed", now=now, entry=entry, reasons=(reason,),
                            label=label)
                raise BadInput(reason) from None
            finally:
                if not committed:
                    path.unlink(missing_ok=True)
                    self.cache.drop_rows(entry.bundle_id)
        return AddResult(entry, added=True)

    def remove(self, bundle_id: str, *, now: datetime, audit_log: Path | None = None, actor: str | None = None) -> PoolEntry:
        """Delete a bundle: its index row first, then its file, cache row and stacked matrix."""
        entry = self.get(bundle_id)
        with self.lock():
            with self._db(write=True) as con:
                deleted = con.execute("DELETE FROM bundles WHERE bundle_id = ?", (entry.bundle_id,)).rowcount
            if deleted != 1:
                raise UsageError(f"no bundle {entry.bundle_id} in pool {self.directory}")
            self.bundle_path(entry.bundle_id).unlink(missing_ok=True)
            self.cache.drop_rows(entry.bundle_id)
            self.cache.invalidate(entry.spec_id)
        if audit_log is not None:
            append_event(audit_log, AuditEvent(
                event="pool-remove", outcome="ok", actor=actor or "unknown", bundle_id=entry.bundle_id,
                issuer=entry.issuer, details={"pool": str(self.directory)}), now=now)
        return entry

    def _audit(self, audit_log: Path, actor: str, event: str, outcome: str, *, now: datetime, entry: PoolEntry,
               reasons: tuple[str, ...], label: str) -> None:
        append_event(audit_log, AuditEvent(
            event=event, outcome=outcome, actor=actor, bundle_id=entry.bundle_id, issuer=entry.issuer,
            reasons=reasons, details={"file": label, "pool": str(self.directory)}), now=now)

    # Matching ----------------------------------------------------------------------------
    def matrix(self, spec_id: str, keys: Sequence[tuple[str, str]], *, shape: tuple[int, int],
               extra: Mapping[tuple[str, str], Fingerprint] | None = None) -> tuple[SourceMatrix, bool] | None:
        """The engine matrix of these bundles (see :meth:`MatrixCache.matrix`); stacked on disk when rebuilt."""
        found = self.cache.matrix(spec_id, keys, shape=shape, extra=extra)
        if found is not None and not found[1] and keys:
            self._store_stacked(found[0], keys)
        return found

    def _store_stacked(self, matrix: SourceMatrix, keys: Sequence[tuple[str, str]]) -> None:
        """Best effort: write the stacked matrix if every bundle in it is still indexed (a remove may have run)."""
        try:
            with self.lock():
                current = {(e.bundle_id, e.statement_digest) for e in self.entries()}
                if set(keys) <= current:
                    self.cache.write_stacked(matrix)
        except (OSError, BadInput):
            pass

    def keep_row(self, entry: PoolEntry, fingerprint: Fingerprint) -> None:
        """Best effort: store a re-verified bundle's counts (a read-only pool keeps them in memory only)."""
        try:
            self.cache.store_row((entry.bundle_id, entry.statement_digest), fingerprint)
        except OSError:
            pass
