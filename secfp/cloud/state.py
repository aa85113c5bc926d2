"""What ``pool sync`` has already taken from registries: manifest and layer digests, kept in the pool folder.

``DIR/sync-seen.json`` (0600, written atomically after each artifact that reached the
pool)::

    {"v": 1, "kind": "secfp-sync-seen", "digests": {"sha256:...": {"bundle_id": ..., "artifact": ..., "at": ...}}}

A digest names content, so a seen manifest digest is skipped before its manifest is
downloaded, and a seen layer digest (the same bundle bytes re-wrapped in another
manifest) before its layer is. Only artifacts that were added or found present are
remembered; refused ones are tried, and audited, again at the next sync, because a
trust store or policy change may let them in. Like the pool index, this file is local
state that SECURITY.md trusts; deleting it only costs downloads (the pool still says
"present").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from secfp._io import atomic_write_bytes, canonical_json, read_capped, strict_json_loads
from secfp.errors import BadInput

__all__ = ["SeenDigests", "SEEN_FILE"]

SEEN_FILE = "sync-seen.json"
_KIND = "secfp-sync-seen"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_CAP = 64 * 1024 * 1024


@dataclass
class SeenDigests:
    """The digests already taken into one pool (mutable: it grows as a sync goes on, and is saved each time)."""

    path: Path
    digests: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, pool_dir: Path) -> "SeenDigests":
        path = Path(pool_dir) / SEEN_FILE
        if not path.exists():
            return cls(path)
        try:
            obj = strict_json_loads(read_capped(path, cap=_CAP, what="sync state"), what="sync state")
        except BadInput as exc:
            raise BadInput(f"{path}: {exc.diagnostics()} (delete it to sync everything again)") from None
        if (not isinstance(obj, dict) or obj.get("v") != 1 or obj.get("kind") != _KIND
                or not isinstance(obj.get("digests"), dict)
                or not all(_DIGEST.match(k) and isinstance(v, dict) for k, v in obj["digests"].items())):
            raise BadInput(f"{path} is not a version-1 secfp sync state (delete it to sync everything again)")
        return cls(path, dict(obj["digests"]))

    def __contains__(self, digest: object) -> bool:
        return isinstance(digest, str) and digest in self.digests

    def remember(self, digests: tuple[str, ...], *, bundle_id: str, artifact: str, now: datetime) -> None:
        """Record ``digests`` and save the file atomically."""
        for digest in digests:
            self.digests[digest] = {"bundle_id": bundle_id, "artifact": artifact,
                                    "at": now.strftime("%Y-%m-%dT%H:%M:%SZ")}
        doc: dict[str, Any] = {"v": 1, "kind": _KIND, "digests": self.digests}
        atomic_write_bytes(self.path, canonical_json(doc) + b"\n", mode=0o600)
