"""The replay store: bundle ids already received, so the same bundle is accepted once.

One small JSON file ``seen.json`` in a folder (default ``$SECFP_HOME/replay``),
mapping bundle id to the statement digest, the first-seen time and the
statement's expiry. Reads are lock-free and write nothing; :meth:`record`
takes a cross-process :class:`filelock.FileLock`, re-checks under the lock (two
processes receiving the same bundle at once: exactly one wins) and replaces
the file atomically. Entries whose statement expired more than
:data:`PRUNE_GRACE` ago are dropped on write: the verifier rejects such a
bundle as expired before it asks this store (the allowed clock skew is at
most one day, less than the grace).

A store that cannot be parsed is an error, never treated as empty (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from filelock import FileLock

from secfp._io import atomic_write_bytes, canonical_json, read_capped, strict_json_loads
from secfp.errors import BadInput
from secfp.exchange._internal.encoding import check_bundle_id, check_key_id, exact_fields, format_time, parse_time
from secfp.exchange.errors import Replayed

__all__ = ["ReplayStore", "ReplayEntry", "PRUNE_GRACE"]

STORE_KIND = "secfp.replay-store"
FILE_NAME = "seen.json"
PRUNE_GRACE = timedelta(days=2)
MAX_STORE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ReplayEntry:
    digest: str
    first_seen: datetime
    expires_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "first_seen": format_time(self.first_seen), "expires_at": format_time(self.expires_at)}

    @classmethod
    def from_json(cls, obj: Any) -> "ReplayEntry":
        exact_fields(obj, {"digest", "first_seen", "expires_at"}, what="replay entry")
        return cls(
            digest=check_key_id(obj["digest"], what="replay entry digest"),
            first_seen=parse_time(obj["first_seen"], what="replay entry first_seen"),
            expires_at=parse_time(obj["expires_at"], what="replay entry expires_at"),
        )


@dataclass(frozen=True)
class ReplayStore:
    """Handle on a replay store folder; holds no state of its own."""

    directory: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "directory", Path(self.directory))

    @property
    def path(self) -> Path:
        return self.directory / FILE_NAME

    def entries(self) -> dict[str, ReplayEntry]:
        """Everything recorded so far (an absent file is an empty store)."""
        if not self.path.exists():
            return {}
        data = read_capped(self.path, cap=MAX_STORE_BYTES, what="replay store")
        try:
            obj = strict_json_loads(data, what=f"replay store {self.path}")
            exact_fields(obj, {"v", "kind", "seen"}, what="replay store")
            if type(obj["v"]) is not int or obj["v"] != 1 or obj["kind"] != STORE_KIND or not isinstance(obj["seen"], dict):
                raise BadInput("not a version-1 replay store")
            return {check_bundle_id(k): ReplayEntry.from_json(v) for k, v in obj["seen"].items()}
        except BadInput as exc:
            raise BadInput(f"replay store {self.path} is corrupt ({exc}); refusing to guess what was received") from None

    def check(self, bundle_id: str, *, digest: str) -> None:
        """Raise :class:`Replayed` if ``bundle_id`` was received before. Writes nothing."""
        _raise_if_seen(self.entries(), bundle_id, digest)

    def record(self, bundle_id: str, *, digest: str, now: datetime, expires_at: datetime) -> None:
        """Atomically check and add ``bundle_id``; raise :class:`Replayed` if another process was first."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.directory / f"{FILE_NAME}.lock")):
            seen = self.entries()
            _raise_if_seen(seen, bundle_id, digest)
            keep = {k: e for k, e in seen.items() if e.expires_at + PRUNE_GRACE >= now}
            keep[bundle_id] = ReplayEntry(digest=digest, first_seen=now.replace(microsecond=0), expires_at=expires_at)
            body = {"v": 1, "kind": STORE_KIND, "seen": {k: e.to_json() for k, e in sorted(keep.items())}}
            atomic_write_bytes(self.path, canonical_json(body) + b"\n", mode=0o600)


def _raise_if_seen(seen: dict[str, ReplayEntry], bundle_id: str, digest: str) -> None:
    entry = seen.get(bundle_id)
    if entry is None:
        return
    first = format_time(entry.first_seen)
    if entry.digest == digest:
        raise Replayed(f"replay check failed: bundle {bundle_id} was already received at {first}; `secfp inspect` "
                       "re-checks it without the replay check (`secfp verify --no-record` checks a bundle "
                       "before receiving it, without recording it)")
    raise Replayed(f"replay check failed: bundle id {bundle_id} was already used by a different statement (first seen {first})")
