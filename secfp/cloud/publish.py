"""``secfp publish``: push bundle files to a registry, one OCI artifact each.

Each file is read under the bundle cap and parsed (:func:`secfp.exchange.parse_bundle`:
form only; a publisher cannot open bundles sealed to others, and need not: every
receiver verifies in full). Nothing is pushed unless every file parses. Tags: the
reference's tag if it names one (one bundle only), else the bundle id of a public
bundle, else ``sealed-`` and the first 32 hex digits of the file's SHA-256 (a sealed
bundle shows no id to anyone but its recipients). Each push is audited (``publish``,
outcome ``ok`` or ``failed``, with the artifact and its manifest digest).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from secfp.cloud.artifact import bundle_annotations
from secfp.cloud.client import RegistryClient
from secfp.cloud.reference import RegistryRef
from secfp.cloud.remote import Pushed, push_bundle
from secfp.errors import SecfpError, UsageError
from secfp.exchange import read_bundle_file
from secfp.governance import AuditEvent, append_event

__all__ = ["Published", "prepare_publish", "publish_bundles", "EVENT"]

EVENT = "publish"


@dataclass(frozen=True)
class _Prepared:
    path: Path
    data: bytes
    tag: str
    annotations: dict[str, str]


@dataclass(frozen=True)
class Published:
    file: str
    artifact: str
    pushed: Pushed

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "artifact": self.artifact, "outcome": "published", **self.pushed.to_json()}


def _default_tag(data: bytes, annotations: dict[str, str]) -> str:
    return annotations.get("dev.secfp.bundle.id") or "sealed-" + hashlib.sha256(data).hexdigest()[:32]


def prepare_publish(paths: list[Path], ref: RegistryRef) -> list[_Prepared]:
    """Read and parse every file, choose its tag; raises before anything is pushed."""
    if ref.tag is not None and len(paths) > 1:
        raise UsageError(f"{ref} names one tag; publish several bundles to a repository without a tag "
                         "(each gets its bundle id)")
    prepared, tags = [], set()
    for path in paths:
        data = read_bundle_file(path)
        try:
            annotations = bundle_annotations(data)
        except SecfpError as exc:
            raise type(exc)(f"{path}: {exc.diagnostics()}") from None
        tag = ref.tag or _default_tag(data, annotations)
        if tag in tags:
            raise UsageError(f"{path}: the same bundle is given twice")
        tags.add(tag)
        prepared.append(_Prepared(Path(path), data, tag, annotations))
    return prepared


def publish_bundles(paths: list[Path], ref: RegistryRef, *, client: RegistryClient, audit_log: Path, actor: str,
                    now: datetime) -> list[Published]:
    """Push each bundle as an artifact to ``ref``'s repository; audit each push. Stops at the first failure."""
    done = []
    for item in prepare_publish(paths, ref):
        artifact = f"oci://{ref.registry}/{ref.path}:{item.tag}"
        try:
            pushed = push_bundle(client, ref.path, item.tag, item.data, title=f"{item.tag}.bundle",
                                 annotations=item.annotations)
        except SecfpError as exc:
            append_event(audit_log, AuditEvent(event=EVENT, outcome="failed", actor=actor,
                                               bundle_id=item.annotations.get("dev.secfp.bundle.id"),
                                               reasons=(exc.diagnostics(),),
                                               details={"file": str(item.path), "artifact": artifact}), now=now)
            raise
        append_event(audit_log, AuditEvent(event=EVENT, outcome="ok", actor=actor,
                                           bundle_id=item.annotations.get("dev.secfp.bundle.id"),
                                           details={"file": str(item.path), "artifact": artifact,
                                                    "manifest_digest": pushed.manifest_digest}), now=now)
        done.append(Published(str(item.path), artifact, pushed))
    return done
