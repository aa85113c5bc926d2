"""A registry client for untrusted registries: the ``oras`` SDK, with the network kept on a short leash.

:class:`RegistryClient` is an :class:`oras.provider.Registry` (pushes, blob uploads,
manifest uploads and token requests are the SDK's) whose one request function,
:meth:`RegistryClient.do_request`, is replaced, because the SDK's retries the same
request five times with back-off and follows redirects anywhere. Every request:

1. goes only to the registry's own origin (scheme, host, port): a ``Location`` or
   pagination link to another host is refused (:class:`RegistryError`), and so is a
   token realm that is neither HTTPS nor on that origin;
2. has a connect and read timeout; a redirect is followed at most ``MAX_REDIRECTS``
   times, and authentication is answered once per request;
3. answers a ``Basic`` challenge only with credentials we were given (``--username``
   and a password from the environment, or the Docker config and its credential
   helpers), and a ``Bearer`` challenge through the SDK's token flow;
4. on 401 after that, or 403, raises :class:`RegistryRefused`.

Reads are capped before and while they happen (:meth:`read_capped`): a compressed
body, or a declared ``Content-Length`` over the cap, is refused before it is read, a body longer
than the cap is cut off at cap + 1 bytes, and a download that outlives its deadline
is abandoned. This module checks transport only; what an artifact must look like is
:mod:`secfp.cloud.artifact`'s job, and what a bundle is worth is the receive workflow's.
"""

from __future__ import annotations

import os
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import oras.auth.utils as oras_auth_utils
import oras.container
import oras.provider
import requests
from requests.adapters import HTTPAdapter

from secfp.cloud.errors import RegistryError, RegistryRefused
from secfp.cloud.reference import RegistryRef
from secfp.errors import UsageError

__all__ = ["RegistryClient", "Credentials", "Connection", "MAX_REDIRECTS", "PASSWORD_ENV"]

MAX_REDIRECTS = 3
PASSWORD_ENV = "SECFP_REGISTRY_PASSWORD"
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 30.0
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Credentials:
    """A user name and password for the registry (never printed)."""

    username: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.username or ":" in self.username or not self.password:
            raise UsageError("registry credentials need a user name without ':' and a non-empty password")


@dataclass(frozen=True)
class Connection:
    """How to reach one registry: TLS (default, optionally with our CA file) or plain HTTP on loopback only."""

    ref: RegistryRef
    credentials: Credentials | None = None
    ca_file: Path | None = None
    plain_http: bool = False
    docker_config: Path | None = None  # default: $DOCKER_CONFIG/config.json, else ~/.docker/config.json
    read_timeout_s: float = READ_TIMEOUT_S
    download_deadline_s: float = 300.0

    def __post_init__(self) -> None:
        if self.plain_http and not self.ref.loopback:
            raise UsageError(f"--plain-http is allowed only for a registry on this machine (loopback), not "
                             f"{self.ref.registry}: use TLS, with --ca-file for a private CA")
        if self.plain_http and self.ca_file is not None:
            raise UsageError("--ca-file and --plain-http do not go together")
        if self.ca_file is not None and not Path(self.ca_file).is_file():
            raise UsageError(f"CA file {self.ca_file} does not exist")
        if self.ca_file is not None:
            try:  # the loader the connection uses; it raises when the file holds no PEM certificate
                ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=str(self.ca_file))
            except (OSError, ValueError):
                raise UsageError(f"CA file {self.ca_file} holds no PEM certificate") from None

    @property
    def scheme(self) -> str:
        return "http" if self.plain_http else "https"


class _TimeoutAdapter(HTTPAdapter):
    """Gives every request (the SDK's token requests included) a timeout."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__(max_retries=0)
        self._timeout = timeout

    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def _docker_config(explicit: Path | None) -> list[str] | None:
    if explicit is not None:
        return [str(explicit)]
    folder = os.environ.get("DOCKER_CONFIG")
    return [str(Path(folder) / "config.json")] if folder else None


class RegistryClient(oras.provider.Registry):
    """The ``oras`` registry client for one registry, with :meth:`do_request` made safe for untrusted registries."""

    def __init__(self, connection: Connection) -> None:
        ca = str(connection.ca_file) if connection.ca_file is not None else True
        super().__init__(hostname=connection.ref.registry, insecure=connection.plain_http, tls_verify=ca,
                         auth_backend="token")
        self.connection = connection
        self.base = f"{connection.scheme}://{connection.ref.registry}"
        self._origin = _origin(self.base)
        adapter = _TimeoutAdapter((CONNECT_TIMEOUT_S, connection.read_timeout_s))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # The SDK's token requests go through this session too: few redirects (requests drops the
        # Authorization header on a redirect to another host), no proxies or
        # .netrc credentials from the environment for a registry named on the command line.
        self.session.max_redirects = MAX_REDIRECTS
        self.session.trust_env = False
        self._authorization: str | None = None
        if connection.credentials is not None:
            self.auth.set_basic_auth(connection.credentials.username, connection.credentials.password)
        else:
            container = oras.container.Container(f"{connection.ref.registry}/{connection.ref.path}")
            try:
                self.auth.load_configs(container, configs=_docker_config(connection.docker_config))
            except (OSError, ValueError) as exc:
                raise UsageError(f"cannot read the Docker config: {exc}") from None

    # Requests -------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def container(self, repository: str, tag: str | None = None) -> oras.container.Container:
        return oras.container.Container(f"{self.connection.ref.registry}/{repository}" + (f":{tag}" if tag else ""))

    def _check_origin(self, url: str, *, what: str = "request") -> None:
        if _origin(url) != self._origin:
            host = urlsplit(url).netloc or url
            raise RegistryError(f"registry {self.connection.ref.registry}: refused a {what} to another host or "
                                f"scheme ({host})")

    def do_request(self, url: str, method: str = "GET", data: Any = None, headers: dict | None = None,
                   json: Any = None, stream: bool = False) -> requests.Response:  # type: ignore[override]
        """One request, on this registry's origin only, answering one auth challenge and a few same-origin redirects."""
        headers = dict(headers or {})
        for _ in range(MAX_REDIRECTS + 1):
            self._check_origin(url)
            response = self._send(method, url, data=data, headers=headers, json=json, stream=stream)
            if response.status_code == 401:
                challenge = response.headers.get("WWW-Authenticate", "")
                response.close()
                self._answer(challenge)
                response = self._send(method, url, data=data, headers=headers, json=json, stream=stream)
                if response.status_code == 401:
                    response.close()
                    raise RegistryRefused(f"registry {self.connection.ref.registry} refused our credentials")
            if response.status_code == 403:
                response.close()
                raise RegistryRefused(f"registry {self.connection.ref.registry}: permission denied for {method} "
                                      f"{urlsplit(url).path}")
            if response.is_redirect:
                location = response.headers.get("Location", "")
                response.close()
                url = urljoin(url, location)
                self._check_origin(url, what="redirect")
                continue
            return response
        raise RegistryError(f"registry {self.connection.ref.registry}: more than {MAX_REDIRECTS} redirects")

    def _send(self, method: str, url: str, *, data: Any, headers: dict, json: Any, stream: bool) -> requests.Response:
        sent = dict(headers)
        if self._authorization is not None:
            sent["Authorization"] = self._authorization
        try:
            return self.session.request(method, url, data=data, json=json, headers=sent, stream=stream,
                                        verify=self._tls_verify, allow_redirects=False)
        except requests.exceptions.SSLError:
            raise RegistryError(f"registry {self.connection.ref.registry}: TLS verification failed (is the "
                                "registry's CA in --ca-file?)") from None
        except requests.exceptions.RequestException as exc:
            raise RegistryError(f"registry {self.connection.ref.registry} unreachable or broke off: "
                                f"{type(exc).__name__}") from None

    def _answer(self, challenge: str) -> None:
        scheme = challenge.split(" ", 1)[0].lower()
        basic = getattr(self.auth, "_basic_auth", None)
        if scheme == "basic":
            if not basic:
                raise RegistryRefused(f"registry {self.connection.ref.registry} requires authentication: give "
                                      f"--username (password in ${PASSWORD_ENV}) or log in with docker/oras")
            self._authorization = f"Basic {basic}"
            return
        if scheme == "bearer":
            header = oras_auth_utils.parse_auth_header(challenge)
            realm = header.realm or ""
            if not (urlsplit(realm).scheme == "https" or _origin(realm) == self._origin):
                raise RegistryError(f"registry {self.connection.ref.registry}: refused a token realm that is "
                                    "neither HTTPS nor on the registry itself")
            try:
                token = self.auth.request_token(header)
            except requests.exceptions.SSLError:
                raise RegistryError(f"registry {self.connection.ref.registry}: TLS verification of the token "
                                    "service failed (is its CA in --ca-file?)") from None
            except requests.exceptions.RequestException as exc:
                raise RegistryRefused(f"registry {self.connection.ref.registry}: token request failed: "
                                      f"{type(exc).__name__}") from None
            except ValueError:
                raise RegistryRefused(f"registry {self.connection.ref.registry}: malformed token answer") from None
            if not token or not isinstance(token, str):
                raise RegistryRefused(f"registry {self.connection.ref.registry} refused to issue a token "
                                      "(missing or wrong credentials)")
            self._authorization = f"Bearer {token}"
            return
        raise RegistryRefused(f"registry {self.connection.ref.registry} asks for an authentication we do not speak")

    # Capped reads ---------------------------------------------------------------------
    def read_capped(self, url: str, *, cap: int, what: str, headers: dict | None = None,
                    not_found_ok: bool = False) -> tuple[requests.Response, bytes | None]:
        """GET ``url`` and return (response, body); RegistryError on a non-200 or a body over ``cap`` bytes.

        With ``not_found_ok``, a 404 returns (response, None).
        """
        response = self.do_request(url, "GET", headers=headers, stream=True)
        with response:
            if response.status_code == 404 and not_found_ok:
                return response, None
            if response.status_code != 200:
                raise RegistryError(f"registry {self.connection.ref.registry}: {what} not available "
                                    f"(HTTP {response.status_code})")
            encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                # Digests name the stored bytes; a compressed body could also expand past the cap.
                raise RegistryError(f"registry {self.connection.ref.registry}: {what} came with content encoding "
                                    f"{encoding[:20]!r}; only identity is accepted")
            declared = response.headers.get("Content-Length")
            if declared is not None and (not declared.isdigit() or int(declared) > cap):
                raise RegistryError(f"registry {self.connection.ref.registry}: {what} is announced as {declared} "
                                    f"bytes, more than the limit of {cap}")
            deadline = time.monotonic() + self.connection.download_deadline_s
            chunks, total = [], 0
            try:
                for chunk in response.iter_content(chunk_size=_CHUNK):
                    total += len(chunk)
                    if total > cap:
                        raise RegistryError(f"registry {self.connection.ref.registry}: {what} is longer than the "
                                            f"limit of {cap} bytes")
                    if time.monotonic() > deadline:
                        raise RegistryError(f"registry {self.connection.ref.registry}: {what} took longer than "
                                            f"{self.connection.download_deadline_s:g} s")
                    chunks.append(chunk)
            except requests.exceptions.RequestException as exc:
                raise RegistryError(f"registry {self.connection.ref.registry}: {what} broke off: "
                                    f"{type(exc).__name__}") from None
        return response, b"".join(chunks)
