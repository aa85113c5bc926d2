"""A real CNCF Distribution registry (Debian's ``docker-registry``) on a free loopback port, with htpasswd auth.

Plain HTTP by default; with ``tls=`` (a certificate chain and its key, PEM files) it
serves HTTPS only, through Distribution's ``http.tls.certificate`` and ``http.tls.key``.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest

#: One registry account per institution (test-only passwords).
PASSWORDS = {"alice": "alice-registry-pw", "carol": "carol-registry-pw", "bob": "bob-registry-pw"}

requires_registry = pytest.mark.skipif(shutil.which("docker-registry") is None,
                                       reason="Debian's docker-registry is not installed (.ci/run installs it)")

CONFIG = """version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: test-only-secret{tls}
{auth}"""

HTPASSWD_AUTH = """auth:
  htpasswd:
    realm: secfp-test
    path: {htpasswd}
"""

#: Distribution's ``auth.token``: clients fetch a bearer token from ``realm`` (see token_server.py).
TOKEN_AUTH = """auth:
  token:
    realm: {realm}
    service: {service}
    issuer: {issuer}
    rootcertbundle: {rootcertbundle}
"""


TLS_CONFIG = """
  tls:
    certificate: {certificate}
    key: {key}"""


@dataclass(frozen=True)
class ServerTLS:
    """The registry's certificate (leaf first, then any intermediates) and private key, as PEM files."""

    certificate: Path
    key: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningRegistry:
    host: str
    port: int
    root: Path
    users: dict[str, str]
    process: subprocess.Popen
    scheme: str = "http"

    @property
    def registry(self) -> str:
        return f"{self.host}:{self.port}"

    def ref(self, path: str) -> str:
        return f"oci://{self.registry}/{path}"

    def blob_path(self, digest: str) -> Path:
        """Where Distribution's filesystem driver keeps a blob's bytes."""
        hexdigest = digest.split(":", 1)[1]
        return self.root / "docker/registry/v2/blobs/sha256" / hexdigest[:2] / hexdigest / "data"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _probe_context(tls: ServerTLS | None) -> ssl.SSLContext | None:
    """For the readiness probe only: it asks whether the server answers, not whether its certificate is good."""
    if tls is None:
        return None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def start_registry(folder: Path, users: dict[str, str], *, binary: str = "docker-registry",
                   tls: ServerTLS | None = None, auth: str | None = None) -> RunningRegistry:
    """Start the registry (HTTPS with ``tls``, else plain HTTP) and wait (at most 20 s) until it answers on /v2/.

    ``auth`` replaces the htpasswd ``auth`` section (``users``) with another, e.g. ``TOKEN_AUTH`` filled in.
    """
    folder.mkdir(parents=True, exist_ok=True)
    htpasswd = folder / "htpasswd"
    htpasswd.write_text("".join(f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
                                for u, p in users.items()))
    root = folder / "storage"
    scheme = "http" if tls is None else "https"
    tls_config = "" if tls is None else TLS_CONFIG.format(certificate=tls.certificate, key=tls.key)
    probe = _probe_context(tls)
    for _ in range(5):
        port = free_port()
        config = folder / "config.yml"
        config.write_text(CONFIG.format(root=root, port=port, tls=tls_config,
                                        auth=auth if auth is not None else HTPASSWD_AUTH.format(htpasswd=htpasswd)))
        log = (folder / "registry.log").open("ab")
        process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log,
                                   stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None:
            try:
                urllib.request.urlopen(f"{scheme}://127.0.0.1:{port}/v2/", timeout=1, context=probe)
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    return RunningRegistry("127.0.0.1", port, root, dict(users), process, scheme)
            except OSError:
                time.sleep(0.05)
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)
    raise RuntimeError(f"docker-registry did not start; see {folder / 'registry.log'}")
