"""Precise verification failures of the exchange layer.

All are subclasses of :class:`secfp.errors.VerificationError` (exit code 4), so a
caller can catch the parent; the subclass names which check failed, and the
message is one line that says so. Decryption keeps the opaque
:class:`secfp.errors.DecryptionError` (it never says which step failed).
Parse failures stay :class:`secfp.errors.InvalidBundle` (exit code 3).
"""

from __future__ import annotations

from secfp.errors import VerificationError

__all__ = [
    "SuiteMismatch",
    "SignatureInvalid",
    "UntrustedSigner",
    "WrongPayloadType",
    "IssuerMismatch",
    "NotARecipient",
    "NotYetValid",
    "Expired",
    "Replayed",
    "WrongPassphrase",
]


class SuiteMismatch(VerificationError):
    """The bundle names a cipher suite other than the one this version fixes."""


class SignatureInvalid(VerificationError):
    """Not exactly one signature, or the signature does not verify."""


class UntrustedSigner(VerificationError):
    """The signing key is not in the trust store, or its identity card has expired."""


class WrongPayloadType(VerificationError):
    """The DSSE payload type is not the secfp statement type."""


class IssuerMismatch(VerificationError):
    """The statement's issuer does not match the trusted card of the key that signed it."""


class NotARecipient(VerificationError):
    """Our key is not in the signed audience, or the audience and recipient list disagree."""


class NotYetValid(VerificationError):
    """The statement is dated in the future (beyond the allowed clock skew)."""


class Expired(VerificationError):
    """The statement's validity period has ended."""


class Replayed(VerificationError):
    """This bundle id was already received (the replay store has it)."""


class WrongPassphrase(VerificationError):
    """The key file did not decrypt: wrong passphrase, or the file was modified."""
