"""Errors of the registry transport, placed in secfp's one error tree (:mod:`secfp.errors`).

A registry is untrusted storage (SECURITY.md): whatever it sends that does not fit
the artifact format is bad input (exit 3); bytes that do not match the digest they
were announced under are tampering (exit 4).
"""

from __future__ import annotations

from secfp.errors import BadInput, VerificationError

__all__ = ["RegistryError", "RegistryRefused", "ArtifactRejected", "DigestMismatch"]


class RegistryError(BadInput):
    """The registry could not be reached, or answered outside the protocol (exit 3)."""


class RegistryRefused(RegistryError):
    """The registry refused us: no credentials, wrong credentials, or no permission (exit 3)."""


class ArtifactRejected(RegistryError):
    """An artifact is not a secfp bundle artifact: media type, layer count, size (exit 3)."""


class DigestMismatch(VerificationError):
    """Bytes from the registry do not hash to the digest they were announced under (exit 4)."""
