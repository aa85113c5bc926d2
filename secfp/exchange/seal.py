"""Recipient encryption: one AES-256-GCM content key, wrapped for each recipient with HPKE.

Layout (all inside the bundle file, see ``bundle.py``)::

    header   = {v, kind, suite, sealed: true, nonce, recipients: [key ids]}
    digest   = SHA-256("secfp.bundle.v1/header" 0x00 || canonical_json(header))
    wrapped  = HPKE-Seal(pk_R, info = "secfp.bundle.v1/wrap" 0x00 || digest || key_id_R, content_key)
    aad      = SHA-256("secfp.bundle.v1/aad" 0x00 || canonical_json(file without ciphertext))
    ciphertext = AES-256-GCM(content_key, nonce, signed envelope, aad)

HPKE (RFC 9180 section 6.1, single-shot base mode) binds each wrapped key to the
header digest and to the recipient's key id through ``info`` (the installed
``cryptography`` has no HPKE ``aad`` argument). The content AEAD's associated
data covers the header *and every wrapped key*, so no byte outside the
ciphertext can change without the tag failing, even bytes meant for another
recipient. The content key and nonce are fresh per bundle and used once, so
the GCM nonce can never repeat under one key.

Sealing proves nothing about the sender: anyone holding our public card can
seal to us. Origin comes only from the signature inside (sign, then encrypt).
Every failure to open is one opaque :class:`DecryptionError`.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from secfp._io import canonical_json
from secfp.errors import DecryptionError, InvalidBundle
from secfp.exchange._internal import crypto
from secfp.exchange._internal.crypto import CryptoFailure
from secfp.exchange._internal.encoding import b64decode_strict, b64encode, check_key_id, exact_fields
from secfp.exchange._internal.format import BUNDLE_KIND, FORMAT_VERSION, MAX_RECIPIENTS, SUITE
from secfp.exchange.keys import IdentityCard, PrivateIdentity

__all__ = ["Recipient", "SealedContent", "seal", "unseal", "WRAPPED_KEY_BYTES"]

WRAPPED_KEY_BYTES = crypto.HPKE_ENC_BYTES + crypto.AEAD_KEY_BYTES + crypto.AEAD_TAG_BYTES
_HEADER_LABEL = b"secfp.bundle.v1/header\x00"
_WRAP_LABEL = b"secfp.bundle.v1/wrap\x00"
_AAD_LABEL = b"secfp.bundle.v1/aad\x00"


@dataclass(frozen=True)
class Recipient:
    key_id: str
    wrapped_key: bytes

    def to_json(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "wrapped_key": b64encode(self.wrapped_key)}

    @classmethod
    def from_json(cls, obj: Any) -> "Recipient":
        exact_fields(obj, {"key_id", "wrapped_key"}, what="recipient", error=InvalidBundle)
        return cls(
            key_id=check_key_id(obj["key_id"], what="recipient key_id", error=InvalidBundle),
            wrapped_key=b64decode_strict(obj["wrapped_key"], what="wrapped key", error=InvalidBundle, length=WRAPPED_KEY_BYTES),
        )


@dataclass(frozen=True)
class SealedContent:
    """The encrypted part of a sealed bundle as parsed; *unverified* until :func:`unseal` succeeds."""

    suite: str
    nonce: bytes
    recipients: tuple[Recipient, ...]
    ciphertext: bytes

    def __post_init__(self) -> None:
        ids = [r.key_id for r in self.recipients]
        if not 1 <= len(ids) <= MAX_RECIPIENTS:
            raise InvalidBundle(f"a sealed bundle needs 1 to {MAX_RECIPIENTS} recipients")
        if len(set(ids)) != len(ids):
            raise InvalidBundle("a sealed bundle lists the same recipient twice")
        if len(self.nonce) != crypto.AEAD_NONCE_BYTES or len(self.ciphertext) < crypto.AEAD_TAG_BYTES:
            raise InvalidBundle("sealed bundle nonce or ciphertext has the wrong length")

    @property
    def recipient_key_ids(self) -> tuple[str, ...]:
        return tuple(r.key_id for r in self.recipients)

    def header_json(self) -> dict[str, Any]:
        return {
            "v": FORMAT_VERSION,
            "kind": BUNDLE_KIND,
            "suite": self.suite,
            "sealed": True,
            "nonce": b64encode(self.nonce),
            "recipients": list(self.recipient_key_ids),
        }

    def header_digest(self) -> bytes:
        return crypto.sha256(_HEADER_LABEL + canonical_json(self.header_json()))

    def to_json(self) -> dict[str, Any]:
        return {**self._without_ciphertext(), "ciphertext": b64encode(self.ciphertext)}

    def _without_ciphertext(self) -> dict[str, Any]:
        return {
            "v": FORMAT_VERSION,
            "kind": BUNDLE_KIND,
            "suite": self.suite,
            "sealed": True,
            "nonce": b64encode(self.nonce),
            "recipients": [r.to_json() for r in self.recipients],
        }

    def aad(self) -> bytes:
        return crypto.sha256(_AAD_LABEL + canonical_json(self._without_ciphertext()))


def _wrap_info(header_digest: bytes, key_id: str) -> bytes:
    return _WRAP_LABEL + header_digest + bytes.fromhex(key_id)


def seal(plaintext: bytes, *, recipients: Sequence[IdentityCard]) -> SealedContent:
    """Encrypt ``plaintext`` so that each recipient card's X25519 key can open it.

    The content key and nonce come from the OS CSPRNG (``secrets``) and the HPKE
    ephemeral keys from OpenSSL's; neither is injectable, on purpose.
    """
    if not 1 <= len(recipients) <= MAX_RECIPIENTS:
        raise ValueError(f"seal to 1 to {MAX_RECIPIENTS} recipients")
    content_key = secrets.token_bytes(crypto.AEAD_KEY_BYTES)
    nonce = secrets.token_bytes(crypto.AEAD_NONCE_BYTES)
    placeholder = tuple(Recipient(c.encryption_key_id, b"") for c in recipients)
    header_digest = SealedContent(SUITE, nonce, placeholder, b"\x00" * crypto.AEAD_TAG_BYTES).header_digest()
    wrapped = []
    for card in recipients:
        try:
            wrapped.append(Recipient(card.encryption_key_id, crypto.hpke_wrap(content_key, card.encryption_key, info=_wrap_info(header_digest, card.encryption_key_id))))
        except CryptoFailure:
            raise InvalidBundle(f"cannot encrypt to {card.name}: its encryption key is unusable") from None
    draft = SealedContent(SUITE, nonce, tuple(wrapped), b"\x00" * crypto.AEAD_TAG_BYTES)
    ciphertext = crypto.aead_encrypt(content_key, nonce, plaintext, aad=draft.aad())
    return SealedContent(SUITE, nonce, tuple(wrapped), ciphertext)


def unseal(unverified: SealedContent, *, identity: PrivateIdentity) -> bytes:
    """Unwrap our content key and decrypt; any failure is one opaque :class:`DecryptionError`.

    The recipient key id selects which wrapped key to try (a hint); the HPKE
    tag decides. Does not authenticate the sender: verify the signature next.
    """
    ours = identity.card.encryption_key_id
    entry = next((r for r in unverified.recipients if r.key_id == ours), None)
    if entry is None:
        raise DecryptionError()
    try:
        content_key = crypto.hpke_unwrap(entry.wrapped_key, identity.encryption_key, info=_wrap_info(unverified.header_digest(), ours))
        if len(content_key) != crypto.AEAD_KEY_BYTES:
            raise CryptoFailure()
        return crypto.aead_decrypt(content_key, unverified.nonce, unverified.ciphertext, aad=unverified.aad())
    except CryptoFailure:
        raise DecryptionError() from None
