"""The one module in secfp that imports ``cryptography.hazmat`` (STYLE.md, rule 7).

Everything here is a thin, fixed-algorithm wrapper: there is exactly one
signature scheme (Ed25519, RFC 8032), one key-encapsulation suite (HPKE,
RFC 9180, base mode: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM),
one AEAD (AES-256-GCM) and one password KDF (scrypt, RFC 7914). No function
takes an algorithm name. Library exceptions (``InvalidSignature``,
``InvalidTag``, ``ValueError`` from key parsing) are translated here, at the
boundary, into :class:`CryptoFailure`, which callers turn into secfp's own
opaque errors; callers never see which primitive failed or why.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

__all__ = [
    "CryptoFailure",
    "Ed25519PrivateKey",
    "Ed25519PublicKey",
    "X25519PrivateKey",
    "X25519PublicKey",
    "KEY_BYTES",
    "AEAD_KEY_BYTES",
    "AEAD_NONCE_BYTES",
    "AEAD_TAG_BYTES",
    "HPKE_ENC_BYTES",
    "sha256",
    "generate_signing_key",
    "generate_encryption_key",
    "signing_key_from_raw",
    "encryption_key_from_raw",
    "signing_public_from_raw",
    "encryption_public_from_raw",
    "raw_public",
    "raw_private",
    "sign",
    "verify_signature",
    "hpke_wrap",
    "hpke_unwrap",
    "aead_encrypt",
    "aead_decrypt",
    "scrypt_derive",
]

KEY_BYTES = 32
AEAD_KEY_BYTES = 32
AEAD_NONCE_BYTES = 12
AEAD_TAG_BYTES = 16
HPKE_ENC_BYTES = 32
SCRYPT_R = 8
SCRYPT_P = 1

# The only HPKE suite secfp uses (RFC 9180 section 7: KEM 0x0020, KDF 0x0001, AEAD 0x0002).
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


class CryptoFailure(Exception):
    """A primitive rejected its input. Carries no detail on purpose (compare Fernet's InvalidToken)."""


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def generate_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def generate_encryption_key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def signing_key_from_raw(raw: bytes) -> Ed25519PrivateKey:
    try:
        return Ed25519PrivateKey.from_private_bytes(raw)
    except (ValueError, TypeError):
        raise CryptoFailure() from None


def encryption_key_from_raw(raw: bytes) -> X25519PrivateKey:
    try:
        return X25519PrivateKey.from_private_bytes(raw)
    except (ValueError, TypeError):
        raise CryptoFailure() from None


def signing_public_from_raw(raw: bytes) -> Ed25519PublicKey:
    """Parse a raw 32-byte Ed25519 public key (RFC 8032 section 5.1.5)."""
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError):
        raise CryptoFailure() from None


def encryption_public_from_raw(raw: bytes) -> X25519PublicKey:
    """Parse a raw 32-byte X25519 public key (RFC 7748 section 5)."""
    try:
        return X25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError):
        raise CryptoFailure() from None


def raw_public(key: Ed25519PublicKey | X25519PublicKey) -> bytes:
    if not isinstance(key, Ed25519PublicKey | X25519PublicKey):
        raise TypeError("expected an Ed25519 or X25519 public key object")
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def raw_private(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    if not isinstance(key, Ed25519PrivateKey | X25519PrivateKey):
        raise TypeError("expected an Ed25519 or X25519 private key object")
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def sign(key: Ed25519PrivateKey, message: bytes) -> bytes:
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError("expected an Ed25519PrivateKey")
    return key.sign(message)


def verify_signature(key: Ed25519PublicKey, signature: bytes, message: bytes) -> None:
    """Raise :class:`CryptoFailure` unless ``signature`` is a valid Ed25519 signature of ``message``."""
    if not isinstance(key, Ed25519PublicKey):
        raise TypeError("expected an Ed25519PublicKey")
    try:
        key.verify(signature, message)
    except (InvalidSignature, ValueError, TypeError):
        raise CryptoFailure() from None


def hpke_wrap(secret: bytes, recipient: X25519PublicKey, *, info: bytes) -> bytes:
    """HPKE single-shot base-mode seal (RFC 9180 section 6.1): ``enc || ciphertext``.

    The installed ``Suite.encrypt`` takes no ``aad``; all context is bound
    through ``info``, which enters the key schedule (RFC 9180 section 5.1).
    """
    if not isinstance(recipient, X25519PublicKey):
        raise TypeError("expected an X25519PublicKey")
    try:
        return _SUITE.encrypt(secret, recipient, info=info)
    except (ValueError, TypeError):
        # For example a low-order public key whose shared secret would be all zero.
        raise CryptoFailure() from None


def hpke_unwrap(wrapped: bytes, key: X25519PrivateKey, *, info: bytes) -> bytes:
    if not isinstance(key, X25519PrivateKey):
        raise TypeError("expected an X25519PrivateKey")
    try:
        return _SUITE.decrypt(wrapped, key, info=info)
    except (InvalidTag, ValueError, TypeError):
        raise CryptoFailure() from None


def aead_encrypt(key: bytes, nonce: bytes, plaintext: bytes, *, aad: bytes) -> bytes:
    """AES-256-GCM (NIST SP 800-38D). Each key is used for exactly one message."""
    if len(key) != AEAD_KEY_BYTES or len(nonce) != AEAD_NONCE_BYTES:
        raise ValueError("AES-256-GCM needs a 32-byte key and a 12-byte nonce")
    return AESGCM(key).encrypt(nonce, plaintext, aad)


def aead_decrypt(key: bytes, nonce: bytes, ciphertext: bytes, *, aad: bytes) -> bytes:
    if len(key) != AEAD_KEY_BYTES or len(nonce) != AEAD_NONCE_BYTES:
        raise CryptoFailure()
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, aad)
    except (InvalidTag, ValueError, TypeError, OverflowError):
        raise CryptoFailure() from None


def scrypt_derive(passphrase: bytes, salt: bytes, *, log2_n: int, length: int = AEAD_KEY_BYTES) -> bytes:
    """scrypt (RFC 7914) with r = 8, p = 1; the caller bounds ``log2_n``."""
    try:
        return Scrypt(salt=salt, length=length, n=2**log2_n, r=SCRYPT_R, p=SCRYPT_P).derive(passphrase)
    except (ValueError, TypeError, MemoryError):
        raise CryptoFailure() from None
