"""A Docker registry token service (the ``auth.token`` protocol of CNCF Distribution) over HTTPS, for tests.

``GET /token?service=S&scope=...`` with HTTP Basic credentials of one of ``users``
answers ``{"token": JWT}``: an ES256 JWT whose ``x5c`` header carries the signing
certificate (self-signed; the registry's ``auth.token.rootcertbundle``), whose claims
name ``issuer``, the service as audience, and grant every action the scopes ask for.
Wrong credentials get 401. Every request is counted in ``requests``.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

ISSUER = "secfp-test-token-issuer"
SERVICE = "secfp-test-registry"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _access(scopes: list[str]) -> list[dict]:
    """``repository:consortium/alice:pull,push`` -> the JWT ``access`` entry granting exactly that."""
    granted = []
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        granted.append({"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]})
    return granted


class TokenServer:
    """The token service on 127.0.0.1 (HTTPS with the given certificate chain and key); ``stop()`` ends it."""

    def __init__(self, folder: Path, users: dict[str, str], *, certificate: Path, key: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.users = dict(users)
        self.requests = 0
        self._signing_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "secfp test token signer")])
        now = datetime.now(timezone.utc)
        self._signing_cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                              .public_key(self._signing_key.public_key()).serial_number(x509.random_serial_number())
                              .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
                              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                              .sign(self._signing_key, hashes.SHA256()))
        #: The file for the registry's ``auth.token.rootcertbundle``.
        self.root_bundle = folder / "token-signer.pem"
        self.root_bundle.write_bytes(self._signing_cert.public_bytes(serialization.Encoding.PEM))

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate, key)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def realm(self) -> str:
        return f"https://127.0.0.1:{self.port}/token"

    def token(self, subject: str, scopes: list[str]) -> str:
        header = {"typ": "JWT", "alg": "ES256",
                  "x5c": [base64.b64encode(self._signing_cert.public_bytes(serialization.Encoding.DER)).decode()]}
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
                  "jti": secrets.token_hex(8), "access": _access(scopes)}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self._signing_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                server.requests += 1
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                user = self._basic_user()
                if parts.path != "/token" or user is None or query.get("service") != [SERVICE]:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps({"token": server.token(user, query.get("scope", []))}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _basic_user(self) -> str | None:
                scheme, _, value = self.headers.get("Authorization", "").partition(" ")
                if scheme.lower() != "basic":
                    return None
                try:
                    user, _, password = base64.b64decode(value).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    return None
                return user if server.users.get(user) == password else None

        return Handler

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
