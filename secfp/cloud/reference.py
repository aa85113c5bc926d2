"""Registry references: ``oci://HOST[:PORT]/NAMESPACE[/NAME][:TAG]``.

The grammar follows the OCI distribution spec's repository names (lower-case
path components of ``[a-z0-9]+`` joined by ``.``, ``_``, ``__`` or ``-``) and tags
(``[A-Za-z0-9_][A-Za-z0-9._-]{0,127}``). Anything else is a usage error (exit 2),
so that no hostile string reaches a URL.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from secfp.errors import UsageError

__all__ = ["RegistryRef", "parse_reference", "is_loopback"]

SCHEME = "oci://"
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_MAX_PATH = 255


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1); no name lookup is made."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class RegistryRef:
    """A parsed reference: the registry (host, port), a repository path, maybe a tag."""

    host: str
    port: int | None
    path: str
    tag: str | None = None

    def __post_init__(self) -> None:
        if not self.path or len(self.path) > _MAX_PATH or not all(_COMPONENT.match(c) for c in self.path.split("/")):
            raise UsageError(f"registry path {self.path!r} is not a valid OCI repository name (lower case a-z, 0-9, "
                             "separators . _ -)")
        if self.tag is not None and not _TAG.match(self.tag):
            raise UsageError(f"registry tag {self.tag!r} is not a valid OCI tag")
        if self.port is not None and not 0 < self.port < 65536:
            raise UsageError(f"registry port {self.port} is out of range")

    @property
    def registry(self) -> str:
        """``HOST[:PORT]`` as the registry API and the Docker config name it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def repository(self, name: str | None = None) -> str:
        """This path, or a repository below it."""
        return self.path if name is None else f"{self.path}/{name}"

    def with_tag(self, tag: str | None) -> "RegistryRef":
        return RegistryRef(self.host, self.port, self.path, tag)

    def __str__(self) -> str:
        return f"{SCHEME}{self.registry}/{self.path}" + (f":{self.tag}" if self.tag else "")


def parse_reference(text: str) -> RegistryRef:
    """Parse ``oci://HOST[:PORT]/PATH[:TAG]``; UsageError for anything else (no credentials, query or fragment)."""
    if not isinstance(text, str) or not text.startswith(SCHEME):
        raise UsageError(f"{text!r} is not a registry reference: expected oci://HOST[:PORT]/NAMESPACE[/NAME][:TAG]")
    rest = text[len(SCHEME):]
    if any(ch in rest for ch in "@?#\\ ") or any(ord(ch) < 0x21 or ord(ch) > 0x7e for ch in rest):
        raise UsageError(f"{text!r}: a registry reference holds no credentials, query, fragment, digest or spaces")
    authority, slash, path = rest.partition("/")
    if not slash or not path:
        raise UsageError(f"{text!r}: give a namespace after the host, e.g. oci://registry.example.org/consortium")
    if authority.startswith("["):
        host, bracket, port_text = authority[1:].partition("]")
        if not bracket or (port_text and not port_text.startswith(":")):
            raise UsageError(f"{text!r}: malformed IPv6 host")
        port_text = port_text[1:] if port_text else ""
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise UsageError(f"{text!r}: malformed IPv6 host") from None
    else:
        host, _, port_text = authority.partition(":")
        if not _HOST.match(host):
            raise UsageError(f"{text!r}: {host!r} is not a host name")
    port = None
    if port_text:
        if not port_text.isdigit() or len(port_text) > 5:
            raise UsageError(f"{text!r}: the port must be a number")
        port = int(port_text)
    tag = None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, _, tag = path.rpartition(":")
    return RegistryRef(host=host.lower(), port=port, path=path, tag=tag)
