"""The OCI artifact that carries one bundle: build its manifest, and check one from a registry.

Format (OCI image-spec 1.1, "artifacts" guidance)::

    {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "artifactType": "application/vnd.secfp.bundle.v1+json",
     "config": the empty descriptor ({} , application/vnd.oci.empty.v1+json),
     "layers": [{"mediaType": "application/vnd.secfp.bundle.v1+json", "digest": "sha256:...",
                 "size": N, "annotations": {"org.opencontainers.image.title": "<name>.bundle"}}],
     "annotations": {...}}

Annotations repeat only what the bundle file shows to anyone holding it: for a public
bundle its id, spec id, issuer signing key id and expiry (read from the *unverified*
envelope: hints for people browsing the registry, never read by ``pool sync``); for a
sealed bundle, which shows none of these, only that it is sealed.

:func:`parse_manifest` checks form only, in order, raising :class:`ArtifactRejected`:
size cap, strict JSON (no duplicate keys), ``schemaVersion`` 2, the OCI manifest media
type, our artifact type, exactly one layer, the layer's media type, a SHA-256 digest
(no other algorithm is accepted) and a size between 1 and the bundle cap. It does not
check that the layer's bytes match its digest (:func:`check_digest` does, after the
download) nor anything about the bundle (the receive workflow does).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

from secfp._io import strict_json_loads
from secfp.cloud.errors import ArtifactRejected, DigestMismatch
from secfp.errors import BadInput
from secfp.pool.store import MAX_STORED_BUNDLE_BYTES as MAX_BUNDLE_BYTES

__all__ = ["ARTIFACT_TYPE", "LAYER_MEDIA_TYPE", "MANIFEST_MEDIA_TYPE", "MAX_MANIFEST_BYTES", "MAX_BLOB_BYTES",
           "LayerRef", "build_manifest", "parse_manifest", "sha256_digest", "check_digest", "bundle_annotations",
           "EMPTY_CONFIG", "EMPTY_CONFIG_DESCRIPTOR"]

ARTIFACT_TYPE = "application/vnd.secfp.bundle.v1+json"
LAYER_MEDIA_TYPE = ARTIFACT_TYPE
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG = b"{}"
TITLE = "org.opencontainers.image.title"
#: A one-layer manifest is about 1 KiB; registries may refuse manifests over 4 MiB.
MAX_MANIFEST_BYTES = 64 * 1024
#: The exchange format's bundle cap: a larger layer cannot hold a valid bundle.
MAX_BLOB_BYTES = MAX_BUNDLE_BYTES
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


EMPTY_CONFIG_DESCRIPTOR = {"mediaType": EMPTY_MEDIA_TYPE, "digest": sha256_digest(EMPTY_CONFIG),
                           "size": len(EMPTY_CONFIG), "data": base64.b64encode(EMPTY_CONFIG).decode()}


def check_digest(data: bytes, expected: str, *, what: str) -> None:
    """DigestMismatch unless ``data`` hashes (SHA-256) to ``expected``."""
    if not hmac.compare_digest(sha256_digest(data), expected):
        raise DigestMismatch(f"digest check failed: the {what} from the registry does not match its digest "
                             f"{expected[:19]}... (changed in the registry or in transit)")


@dataclass(frozen=True)
class LayerRef:
    """The one layer of a checked manifest: digest and size, both still claims until the download is checked."""

    digest: str
    size: int


def bundle_annotations(unverified_bytes: bytes) -> dict[str, str]:
    """What the bundle file already shows to anyone who holds it; nothing from inside a sealed bundle."""
    from secfp.exchange.bundle import parse_bundle
    from secfp.exchange.statement import Statement

    bundle = parse_bundle(unverified_bytes)
    if bundle.envelope is None:
        return {"dev.secfp.bundle.sealed": "true"}
    try:
        statement = Statement.from_json(strict_json_loads(bundle.envelope.payload, what="statement"))
    except BadInput:
        return {"dev.secfp.bundle.sealed": "false"}
    return {
        "dev.secfp.bundle.sealed": "false",
        "dev.secfp.bundle.id": statement.bundle_id,
        "dev.secfp.bundle.spec-id": statement.fingerprint.spec_id,
        "dev.secfp.bundle.issuer-signing-key-id": statement.issuer_key_id,
        "dev.secfp.bundle.expires": statement.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def build_manifest(layer_digest: str, size: int, *, title: str, annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": ARTIFACT_TYPE,
        "config": dict(EMPTY_CONFIG_DESCRIPTOR),
        "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": layer_digest, "size": size,
                    "annotations": {TITLE: title}}],
        "annotations": dict(annotations),
    }


def parse_manifest(unverified: bytes, *, max_blob_bytes: int = MAX_BLOB_BYTES) -> LayerRef:
    """Check a manifest's form (see the module docstring) and return its one layer; ArtifactRejected otherwise."""
    if len(unverified) > MAX_MANIFEST_BYTES:
        raise ArtifactRejected(f"manifest is {len(unverified)} bytes, more than the limit of {MAX_MANIFEST_BYTES}")
    try:
        obj = strict_json_loads(unverified, what="manifest")
    except BadInput as exc:
        raise ArtifactRejected(exc.diagnostics()) from None
    if not isinstance(obj, dict) or obj.get("schemaVersion") != 2:
        raise ArtifactRejected("not an OCI manifest (schemaVersion 2)")
    if obj.get("mediaType") != MANIFEST_MEDIA_TYPE:
        raise ArtifactRejected(f"wrong manifest media type {str(obj.get('mediaType'))[:80]!r}: expected "
                               f"{MANIFEST_MEDIA_TYPE}")
    if obj.get("artifactType") != ARTIFACT_TYPE:
        raise ArtifactRejected(f"not a secfp bundle artifact (artifact type {str(obj.get('artifactType'))[:80]!r})")
    layers = obj.get("layers")
    if not isinstance(layers, list) or len(layers) != 1:
        count = len(layers) if isinstance(layers, list) else "no"
        raise ArtifactRejected(f"a secfp bundle artifact has exactly one layer, this one has {count}")
    layer = layers[0]
    if not isinstance(layer, dict) or layer.get("mediaType") != LAYER_MEDIA_TYPE:
        media = layer.get("mediaType") if isinstance(layer, dict) else None
        raise ArtifactRejected(f"wrong layer media type {str(media)[:80]!r}: expected {LAYER_MEDIA_TYPE}")
    digest, size = layer.get("digest"), layer.get("size")
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise ArtifactRejected("the layer digest is not a SHA-256 digest (sha256:<64 hex>)")
    if type(size) is not int or size < 1:
        raise ArtifactRejected("the layer size is not a positive integer")
    if size > max_blob_bytes:
        raise ArtifactRejected(f"the layer is announced as {size} bytes, more than the bundle limit of "
                               f"{max_blob_bytes}; not downloaded")
    return LayerRef(digest=digest, size=size)
