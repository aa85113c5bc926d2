"""Reading a registry: list repositories and tags, fetch manifests and blobs, push one bundle.

Every loop is bounded (``MAX_PAGES`` pages, ``MAX_ENTRIES`` names in all), every
answer is read through :meth:`RegistryClient.read_capped`, and every digest the
registry states is checked against the bytes it sent. Pushing uses the SDK's blob and
manifest uploads.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

from secfp._io import strict_json_loads
from secfp.cloud.artifact import (
    EMPTY_CONFIG,
    EMPTY_CONFIG_DESCRIPTOR,
    MANIFEST_MEDIA_TYPE,
    MAX_MANIFEST_BYTES,
    LayerRef,
    build_manifest,
    check_digest,
    sha256_digest,
)
from secfp.cloud.client import RegistryClient
from secfp.cloud.errors import DigestMismatch, RegistryError
from secfp.cloud.reference import _COMPONENT, _TAG
from secfp.errors import BadInput

__all__ = ["list_repositories", "list_tags", "head_manifest", "get_manifest", "get_blob", "push_bundle", "Pushed",
           "MAX_PAGES", "MAX_ENTRIES"]

MAX_PAGES = 100
MAX_ENTRIES = 10_000
PAGE_SIZE = 1000
_MAX_LIST_BYTES = 1024 * 1024


def _paged(client: RegistryClient, path: str, key: str, *, what: str, not_found_ok: bool = False) -> list[str] | None:
    url, names = client.url(path), []
    for _ in range(MAX_PAGES):
        response, body = client.read_capped(url, cap=_MAX_LIST_BYTES, what=what, not_found_ok=not_found_ok)
        if body is None:
            return None
        not_found_ok = False
        try:
            doc = strict_json_loads(body, what=what)
        except BadInput as exc:
            raise RegistryError(f"registry {client.connection.ref.registry}: {exc.diagnostics()}") from None
        page = doc.get(key) if isinstance(doc, dict) else None
        if page is None:
            page = []
        if not isinstance(page, list) or not all(isinstance(n, str) for n in page):
            raise RegistryError(f"registry {client.connection.ref.registry}: malformed {what}")
        names.extend(page)
        if len(names) > MAX_ENTRIES:
            raise RegistryError(f"registry {client.connection.ref.registry}: {what} has more than {MAX_ENTRIES} "
                                "entries; sync a narrower namespace")
        link = response.links.get("next", {}).get("url")
        if not link or not page:
            return names
        url = urljoin(url, link)
        client._check_origin(url, what="pagination link")
    raise RegistryError(f"registry {client.connection.ref.registry}: {what} runs over more than {MAX_PAGES} pages")


def list_repositories(client: RegistryClient, namespace: str) -> list[str]:
    """Repositories at or below ``namespace`` (the registry's catalog, filtered; malformed names dropped)."""
    names = _paged(client, f"/v2/_catalog?n={PAGE_SIZE}", "repositories", what="repository catalog") or []
    return sorted({n for n in names if (n == namespace or n.startswith(namespace + "/"))
                   and all(_COMPONENT.match(c) for c in n.split("/"))})


def list_tags(client: RegistryClient, repository: str) -> list[str] | None:
    """The repository's tags (malformed ones dropped), or None if the registry does not know the repository."""
    names = _paged(client, f"/v2/{repository}/tags/list?n={PAGE_SIZE}", "tags", what=f"tag list of {repository}",
                   not_found_ok=True)
    if names is None:
        return None
    return sorted({t for t in names if _TAG.match(t)})


_ACCEPT = {"Accept": MANIFEST_MEDIA_TYPE, "Accept-Encoding": "identity"}


def head_manifest(client: RegistryClient, repository: str, tag: str) -> str | None:
    """The digest the registry states for ``repository:tag`` (a claim, checked at :func:`get_manifest`), or None."""
    response = client.do_request(client.url(f"/v2/{repository}/manifests/{quote(tag)}"), "HEAD", headers=dict(_ACCEPT))
    response.close()
    digest = response.headers.get("Docker-Content-Digest")
    if response.status_code != 200 or not isinstance(digest, str) or not digest.startswith("sha256:"):
        return None
    return digest


def get_manifest(client: RegistryClient, repository: str, reference: str, *, expected: str | None) -> tuple[str, bytes]:
    """Fetch a manifest (capped); return (its SHA-256 digest as computed here, its bytes).

    DigestMismatch if the registry stated a digest (``expected``, or its header) other than the bytes'.
    """
    response, body = client.read_capped(client.url(f"/v2/{repository}/manifests/{quote(reference)}"),
                                        cap=MAX_MANIFEST_BYTES, what=f"manifest {repository}:{reference}",
                                        headers=dict(_ACCEPT))
    digest = sha256_digest(body)
    for stated in (expected, response.headers.get("Docker-Content-Digest")):
        if stated is not None and stated != digest:
            raise DigestMismatch(f"digest check failed: the manifest of {repository}:{reference} does not match the "
                                 "digest the registry stated for it")
    return digest, body


def get_blob(client: RegistryClient, repository: str, layer: LayerRef) -> bytes:
    """Download a layer announced as ``layer.size`` bytes, reading at most that many; check its digest."""
    _, body = client.read_capped(client.url(f"/v2/{repository}/blobs/{layer.digest}"), cap=layer.size,
                                 what=f"layer {layer.digest[:19]}... of {repository}",
                                 headers={"Accept-Encoding": "identity"})
    if len(body) != layer.size:
        raise DigestMismatch(f"digest check failed: the layer of {repository} is {len(body)} bytes, not the "
                             f"{layer.size} its manifest announced")
    check_digest(body, layer.digest, what=f"layer of {repository}")
    return body


@dataclass(frozen=True)
class Pushed:
    """One artifact in the registry: where, under which manifest digest, holding which layer."""

    repository: str
    tag: str
    manifest_digest: str
    layer_digest: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"repository": self.repository, "tag": self.tag, "manifest_digest": self.manifest_digest,
                "layer_digest": self.layer_digest, "size": self.size}


def _ok(client: RegistryClient, response: Any, what: str) -> None:
    if response.status_code not in (200, 201, 202):
        raise RegistryError(f"registry {client.connection.ref.registry}: {what} failed (HTTP {response.status_code})")


def push_bundle(client: RegistryClient, repository: str, tag: str, data: bytes, *, title: str,
                annotations: dict[str, str]) -> Pushed:
    """Upload the empty config and the bundle as blobs (skipped when present), then the manifest under ``tag``."""
    container = client.container(repository, tag)
    layer_digest = sha256_digest(data)
    with tempfile.TemporaryDirectory(prefix="secfp-push-") as folder:
        for name, blob, descriptor in (
            ("config", EMPTY_CONFIG, EMPTY_CONFIG_DESCRIPTOR),
            ("bundle", data, {"mediaType": "application/octet-stream", "digest": layer_digest, "size": len(data)}),
        ):
            path = Path(folder) / name
            path.write_bytes(blob)
            try:
                response = client.upload_blob(str(path), container, dict(descriptor))
            except ValueError:
                # The SDK raises ValueError (or a JSON decoding error, a ValueError too) when the registry opens
                # no upload session; its message would quote the registry's answer.
                raise RegistryError(f"registry {client.connection.ref.registry}: upload of the {name} blob failed "
                                    "(no upload session was opened)") from None
            _ok(client, response, f"upload of the {name} blob")
    manifest = build_manifest(layer_digest, len(data), title=title, annotations=annotations)
    response = client.upload_manifest(manifest, container)
    _ok(client, response, "manifest upload")
    stated = response.headers.get("Docker-Content-Digest", "")
    if not stated.startswith("sha256:"):
        raise RegistryError(f"registry {client.connection.ref.registry} did not state the digest of the manifest")
    return Pushed(repository=repository, tag=tag, manifest_digest=stated, layer_digest=layer_digest, size=len(data))
