"""``pool sync``: take what a registry namespace holds into a pool, through the receive path of ``pool add``.

For each artifact (``REPOSITORY:TAG``) below the reference, in order:

1. the registry's stated manifest digest (HEAD): already in :class:`SeenDigests` -> ``seen``, nothing downloaded;
2. the manifest, read up to ``MAX_MANIFEST_BYTES``; its SHA-256 must equal the stated digest
   (:class:`DigestMismatch`, exit 4); a digest seen before -> ``seen``;
3. :func:`parse_manifest`: our artifact type, exactly one layer of our media type, a SHA-256
   digest and a size within the bundle cap, all **before** the layer is downloaded
   (:class:`ArtifactRejected`, exit 3); a layer digest seen before -> ``seen``;
4. the layer, read up to its announced size; the bytes must hash to its digest (exit 4);
5. :func:`secfp.workflows.use.add_bundle` (what ``pool add`` runs): verify, ledger, import policy, audit, store
   (exactly ``pool add``); outcomes ``added`` or ``present``, else ``refused``;
6. the manifest and layer digests are remembered (saved after each artifact: a sync
   broken off resumes where it stopped).

A failure in steps 1-4 is audited here (``pool-sync``, outcome ``failed``); step 5 audits
itself. Nothing is written to the pool before step 5 accepted the bundle. One summary
record ends every sync. The exit code is that of ``pool add``: 0 when every artifact was
added, present or seen, else the most severe failure's.

Not checked here: anything about the bundle (step 5 decides), and the annotations, which
are never read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from secfp.workflows.use import KeyOnDemand, add_bundle
from secfp.cloud.artifact import MAX_BLOB_BYTES, parse_manifest
from secfp.cloud.client import RegistryClient
from secfp.cloud.reference import RegistryRef
from secfp.cloud.remote import MAX_ENTRIES, get_blob, get_manifest, head_manifest, list_repositories, list_tags
from secfp.cloud.state import SeenDigests
from secfp.errors import BatchFailed, SecfpError, UsageError
from secfp.governance import AuditEvent, append_event

__all__ = ["ArtifactOutcome", "SyncReport", "sync_pool", "SEVERITY"]

#: Exit codes of failures, most severe first (as ``pool add``).
SEVERITY = (4, 5, 3, 2, 1)
EVENT = "pool-sync"


@dataclass(frozen=True)
class ArtifactOutcome:
    """What became of one artifact: added, present (already pooled), seen (skipped by digest) or refused."""

    artifact: str
    outcome: str
    manifest_digest: str | None = None
    bundle_id: str | None = None
    exit_code: int = 0
    reason: str | None = None
    kind: str | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"artifact": self.artifact, "outcome": self.outcome,
                               "manifest_digest": self.manifest_digest, "bundle_id": self.bundle_id}
        if self.outcome == "refused":
            doc.update(exit_code=self.exit_code, kind=self.kind, reason=self.reason)
        return doc


@dataclass(frozen=True)
class SyncReport:
    source: str
    pool: str
    outcomes: tuple[ArtifactOutcome, ...]

    @property
    def exit_code(self) -> int:
        codes = {o.exit_code for o in self.outcomes if o.outcome == "refused"}
        return next((c for c in SEVERITY if c in codes), 1 if codes else 0)

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    def counts(self) -> dict[str, int]:
        return {k: self.count(k) for k in ("added", "present", "seen", "refused")}

    def to_json(self) -> dict[str, Any]:
        """The success document of ``pool sync --json`` (every artifact in ``results``)."""
        return {"source": self.source, "pool": self.pool, "results": [o.to_json() for o in self.outcomes],
                "counts": self.counts(), "exit_code": self.exit_code}

    def raise_if_failed(self) -> None:
        """Raise :class:`~secfp.errors.BatchFailed` (code and kind of the most severe refusal) if any was refused.

        ``details`` holds ``source``, ``pool``, ``counts`` and every artifact's outcome (``outcomes``).
        """
        code = self.exit_code
        if not code:
            return
        refused = [o for o in self.outcomes if o.outcome == "refused"]
        worst = next((o for o in refused if o.exit_code == code), refused[0])
        counts = self.counts()
        others = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        message = (f"pool sync {self.source}: {counts['refused']} of {len(self.outcomes)} artifacts refused, "
                   f"{counts['added']} added, {counts['present']} present, {counts['seen']} seen; "
                   f"{worst.artifact}: {worst.reason}{others}")
        kind = (worst.kind if worst.exit_code == code else None) or "batch_failed"  # a code outside SEVERITY: 1
        raise BatchFailed(message, exit_code=code, kind=kind,
                          details={"source": self.source, "pool": self.pool, "counts": counts,
                                   "outcomes": [o.to_json() for o in self.outcomes]})


class _Stage(Exception):
    """A failure before the receive path (which audits its own failures)."""

    def __init__(self, error: SecfpError, manifest_digest: str | None) -> None:
        super().__init__(error.diagnostics())
        self.error, self.manifest_digest = error, manifest_digest


def _artifacts(client: RegistryClient, ref: RegistryRef) -> list[tuple[str, str]]:
    if ref.tag is not None:
        return [(ref.path, ref.tag)]
    tags = list_tags(client, ref.path)
    if tags is not None:
        found = [(ref.path, t) for t in tags]
    else:
        found = []
        for repository in list_repositories(client, ref.path):
            found.extend((repository, t) for t in (list_tags(client, repository) or ()))
            if len(found) > MAX_ENTRIES:
                break
    if len(found) > MAX_ENTRIES:
        raise UsageError(f"{ref} holds more than {MAX_ENTRIES} artifacts; sync a narrower namespace")
    return found


class _Sync:
    def __init__(self, *, client: RegistryClient, ref: RegistryRef, store: Any, receiver: Any, key: KeyOnDemand | None,
                 now: datetime,
                 max_blob_bytes: int) -> None:
        self.client, self.ref, self.store, self.receiver, self.key, self.now = client, ref, store, receiver, key, now
        self.max_blob_bytes = max_blob_bytes
        self.seen = SeenDigests.load(store.directory)

    def name(self, repository: str, tag: str) -> str:
        return f"oci://{self.ref.registry}/{repository}:{tag}"

    def audit(self, outcome: str, *, reasons: tuple[str, ...], details: dict[str, Any], bundle_id: str | None = None) -> None:
        policy = getattr(self.receiver, "import_policy", None)
        append_event(self.receiver.audit_log, AuditEvent(
            event=EVENT, outcome=outcome, actor=self.receiver.actor, bundle_id=bundle_id,
            policy_id=policy.id if policy is not None else None, policy_digest=policy.digest if policy is not None else None,
            reasons=reasons, details=details), now=self.now)

    def fetch(self, repository: str, tag: str) -> tuple[str | None, str | None, bytes | None]:
        """Steps 1-4: (manifest digest, layer digest, bundle bytes); bytes None when seen before."""
        digest = None
        try:
            stated = head_manifest(self.client, repository, tag)
            if stated is not None and stated in self.seen:
                return stated, None, None
            digest, manifest = get_manifest(self.client, repository, tag, expected=stated)
            if digest in self.seen:
                return digest, None, None
            layer = parse_manifest(manifest, max_blob_bytes=self.max_blob_bytes)
            if layer.digest in self.seen:
                self.seen.remember((digest,), bundle_id=self.seen.digests[layer.digest].get("bundle_id", ""),
                                   artifact=self.name(repository, tag), now=self.now)
                return digest, layer.digest, None
            return digest, layer.digest, get_blob(self.client, repository, layer)
        except SecfpError as exc:
            raise _Stage(exc, digest) from None

    def one(self, repository: str, tag: str, done: set[str]) -> ArtifactOutcome:
        name = self.name(repository, tag)
        try:
            digest, layer_digest, data = self.fetch(repository, tag)
        except _Stage as stage:
            error = stage.error
            self.audit("failed", reasons=(error.diagnostics(),),
                       details={"artifact": name, "manifest_digest": stage.manifest_digest})
            return ArtifactOutcome(name, "refused", stage.manifest_digest, exit_code=error.exit_code,
                                   reason=error.diagnostics(), kind=error.kind)
        if data is None or digest in done:
            return ArtifactOutcome(name, "seen", digest)
        try:
            result = add_bundle(self.store, data, receiver=self.receiver, now=self.now, label=name, key=self.key)
        except SecfpError as exc:
            return ArtifactOutcome(name, "refused", digest, exit_code=exc.exit_code, reason=exc.diagnostics(),
                                   kind=exc.kind)
        bundle_id = result.entry.bundle_id
        self.seen.remember((digest, layer_digest), bundle_id=bundle_id, artifact=name, now=self.now)
        done.add(digest)
        return ArtifactOutcome(name, "added" if result.added else "present", digest, bundle_id=bundle_id)


def sync_pool(ref: RegistryRef, *, client: RegistryClient, store: Any, receiver: Any, now: datetime,
              key: KeyOnDemand | None = None,
              max_blob_bytes: int = MAX_BLOB_BYTES) -> SyncReport:
    """Sync every artifact below ``ref`` into ``store`` (see the module docstring); audited, resumable, idempotent.

    Raises (after an audit record) only when the registry cannot be listed at all;
    per-artifact failures are outcomes in the report.
    """
    source = str(ref)
    lock = FileLock(str(Path(store.directory) / "sync.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise UsageError(f"another pool sync into {store.directory} is running") from None
    try:
        sync = _Sync(client=client, ref=ref, store=store, receiver=receiver, key=key, now=now,
                     max_blob_bytes=max_blob_bytes)
        try:
            artifacts = _artifacts(client, ref)
        except SecfpError as exc:
            sync.audit("failed", reasons=(exc.diagnostics(),), details={"source": source})
            raise
        done: set[str] = set()
        outcomes = tuple(sync.one(repository, tag, done) for repository, tag in artifacts)
        report = SyncReport(source=source, pool=str(store.directory), outcomes=outcomes)
        sync.audit("ok" if report.exit_code == 0 else "failed", reasons=(),
                   details={"source": source, **{k: report.count(k) for k in ("added", "present", "seen", "refused")}})
        return report
    finally:
        lock.release()
