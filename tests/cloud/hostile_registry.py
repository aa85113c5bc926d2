"""A hostile OCI registry on 127.0.0.1: answers what a test scripts, and records what it was asked.

Routes map a path (without the query string) to a function ``(handler) -> None`` that
writes the whole answer. Every loop here is bounded (an "endless" body stops after
``ENDLESS_LIMIT`` bytes or when the client hangs up).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ENDLESS_LIMIT = 256 * 1024 * 1024
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ARTIFACT = "application/vnd.secfp.bundle.v1+json"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest_for(data: bytes, **changes: Any) -> bytes:
    """A well-formed bundle artifact manifest for ``data``, with top-level fields changed or added."""
    doc: dict[str, Any] = {
        "schemaVersion": 2, "mediaType": MANIFEST, "artifactType": ARTIFACT,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest(b"{}"), "size": 2},
        "layers": [{"mediaType": ARTIFACT, "digest": digest(data), "size": len(data)}],
    }
    doc.update(changes)
    return json.dumps(doc).encode()


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _route(self) -> None:
        path = self.path.split("?", 1)[0]
        self.server.owner.requests.append((self.command, self.path))
        route = self.server.owner.routes.get(path)
        if route is None:
            self.send(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}', content_type="application/json")
        else:
            route(self)

    do_GET = do_HEAD = _route

    def send(self, status: int, body: bytes = b"", *, content_type: str = "application/octet-stream",
             headers: dict[str, str] | None = None, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def endless(self) -> None:
        """200 with no length, then zeros until the client hangs up (or ENDLESS_LIMIT)."""
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunk, sent = b"\0" * 65536, 0
        try:
            while sent < ENDLESS_LIMIT:
                self.wfile.write(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.server.owner.endless_sent = sent


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: "HostileRegistry"


class HostileRegistry:
    """A registry that lies; ``routes`` is filled by the test."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[_Handler], None]] = {"/v2/": lambda h: h.send(200, b"{}")}
        self.requests: list[tuple[str, str]] = []
        self.endless_sent = 0
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def registry(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def ref(self, path: str) -> str:
        return f"oci://{self.registry}/{path}"

    def serve_artifact(self, repository: str, tag: str, *, manifest: bytes, blob: bytes | None = None,
                       blob_digest: str | None = None, manifest_digest: str | None = None) -> None:
        """Tag list, manifest (with a stated digest) and blob of one artifact."""
        self.routes[f"/v2/{repository}/tags/list"] = lambda h: h.send(
            200, json.dumps({"name": repository, "tags": [tag]}).encode(), content_type="application/json")
        stated = manifest_digest or digest(manifest)
        self.routes[f"/v2/{repository}/manifests/{tag}"] = lambda h: h.send(
            200, manifest, content_type=MANIFEST, headers={"Docker-Content-Digest": stated})
        if blob is not None:
            self.routes[f"/v2/{repository}/blobs/{blob_digest or digest(blob)}"] = lambda h: h.send(200, blob)

    def asked(self, fragment: str) -> bool:
        return any(fragment in path for _, path in self.requests)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
