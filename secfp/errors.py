"""One exception hierarchy for secfp; each class carries its documented exit code.

The command line maps any :class:`SecfpError` to ``exit_code`` and prints
``diagnostics()`` as one line on stderr. Exit codes are a stable contract
(README, "Exit codes"):

0 ok, 1 unexpected internal error, 2 usage, 3 bad input, 4 verification failed,
5 refused by policy, 6 incompatible fingerprints, 7 privacy budget exhausted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "SecfpError",
    "UsageError",
    "BadInput",
    "UnreadableImages",
    "MissingWeights",
    "InvalidBundle",
    "VerificationError",
    "DecryptionError",
    "PolicyViolation",
    "InvalidPolicy",
    "IncompatibleFingerprints",
    "BudgetExceeded",
    "AuditChainBroken",
    "BatchFailed",
]


class SecfpError(Exception):
    """Root of every error secfp raises on purpose."""

    exit_code: int = 1

    def diagnostics(self) -> str:
        """One human-readable line, safe to print (never holds key material)."""
        text = " ".join(str(self).split())
        return text or self.__class__.__name__

    @property
    def kind(self) -> str:
        """A stable machine name: the class name in snake case (``InvalidBundle`` -> ``invalid_bundle``)."""
        name = type(self).__name__
        return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))


class UsageError(SecfpError):
    """The command was called with arguments that cannot work together."""

    exit_code = 2


class BadInput(SecfpError):
    """An input file is unreadable or malformed (image, fingerprint, spec, policy, bundle)."""

    exit_code = 3


class UnreadableImages(BadInput):
    """Not a single image could be read from the given data."""


class MissingWeights(BadInput):
    """A probe's checkpoint is not in the torchvision cache and could not be fetched."""


class InvalidBundle(BadInput):
    """A bundle file is not well formed: it was never a valid bundle or was truncated."""


class InvalidPolicy(BadInput):
    """A policy file is malformed: unknown key, wrong type, missing field, expired."""


class VerificationError(SecfpError):
    """A well-formed bundle failed a check: signature, audience, expiry, replay, trust."""

    exit_code = 4


class DecryptionError(VerificationError):
    """Decryption failed. Deliberately opaque: it never says which step failed."""

    def diagnostics(self) -> str:
        return "decryption failed: this bundle was not sealed to our key, or it was modified"


class AuditChainBroken(VerificationError):
    """The audit log's hash chain does not verify."""


class PolicyViolation(SecfpError):
    """A sharing policy refused the operation; ``reasons`` lists every rule broken."""

    exit_code = 5

    def __init__(self, reasons: list[str] | tuple[str, ...], *, policy_id: str = "") -> None:
        self.reasons = tuple(reasons)
        self.policy_id = policy_id
        prefix = f"refused by policy {policy_id}" if policy_id else "refused by policy"
        super().__init__(f"{prefix}: " + "; ".join(self.reasons))


class IncompatibleFingerprints(SecfpError):
    """Two fingerprints were made with different specs and can never be compared."""

    exit_code = 6


class BudgetExceeded(SecfpError):
    """The dataset's differential-privacy budget cannot pay for this release."""

    exit_code = 7


class BatchFailed(SecfpError):
    """Some items of a batch (``pool add``, ``pool sync``) failed; every other item was done and stays done.

    ``exit_code`` and :attr:`kind` are those of the most severe failure (the batch's
    severity order), so a script sees the code and kind that item alone would give;
    ``details`` holds every item's outcome (``outcomes``) for machines.
    """

    def __init__(self, message: str, *, exit_code: int, kind: str, details: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.exit_code = int(exit_code)
        self._kind = kind
        self.details = dict(details)

    @property
    def kind(self) -> str:
        return self._kind
