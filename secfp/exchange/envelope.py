"""DSSE envelopes: one Ed25519 signature over the pre-authentication encoding.

Dead Simple Signing Envelope, protocol v1
(github.com/secure-systems-lab/dsse, ``protocol.md``): the signature covers
``PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``, so
the payload type cannot be swapped without breaking the signature, and the
payload is verified as exact bytes, never re-serialised.

:func:`verify_envelope` checks the signature only. It does **not** check the
payload type or parse the payload: the caller must compare ``payload_type``
with its one expected constant (``verify.py`` does), and parse only the bytes
this function returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from secfp.errors import InvalidBundle
from secfp.exchange._internal import crypto
from secfp.exchange._internal.crypto import CryptoFailure, Ed25519PrivateKey, Ed25519PublicKey
from secfp.exchange._internal.encoding import b64decode_strict, b64encode, check_key_id, exact_fields
from secfp.exchange.errors import SignatureInvalid, UntrustedSigner

__all__ = ["Envelope", "Signature", "pae", "sign_envelope", "verify_envelope", "STATEMENT_PAYLOAD_TYPE", "MAX_SIGNATURES"]

STATEMENT_PAYLOAD_TYPE = "application/vnd.secfp.statement.v1+json"
# Parsing accepts a few signatures so that "two signatures" is reported as a failed
# check (exit 4) rather than as garbage; verification then requires exactly one.
MAX_SIGNATURES = 8
_MAX_PAYLOAD_TYPE = 256


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding (lengths are ASCII decimal byte counts)."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(type_bytes), type_bytes, len(payload), payload)


@dataclass(frozen=True)
class Signature:
    key_id: str
    sig: bytes

    def to_json(self) -> dict[str, Any]:
        return {"keyid": self.key_id, "sig": b64encode(self.sig)}

    @classmethod
    def from_json(cls, obj: Any) -> "Signature":
        exact_fields(obj, {"keyid", "sig"}, what="signature", error=InvalidBundle)
        key_id = check_key_id(obj["keyid"], what="signature keyid", error=InvalidBundle)
        return cls(key_id=key_id, sig=b64decode_strict(obj["sig"], what="signature", error=InvalidBundle, length=64))


@dataclass(frozen=True)
class Envelope:
    """An *unverified* DSSE envelope as parsed from bytes; the fields are attacker-controlled."""

    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "payload": b64encode(self.payload),
            "payloadType": self.payload_type,
            "signatures": [s.to_json() for s in self.signatures],
        }

    @classmethod
    def from_json(cls, obj: Any, *, max_payload: int) -> "Envelope":
        exact_fields(obj, {"payload", "payloadType", "signatures"}, what="envelope", error=InvalidBundle)
        payload_type = obj["payloadType"]
        if not isinstance(payload_type, str) or not 0 < len(payload_type) <= _MAX_PAYLOAD_TYPE:
            raise InvalidBundle("envelope payloadType must be a short string")
        encoded = obj["payload"]
        if not isinstance(encoded, str) or len(encoded) > (max_payload + 2) // 3 * 4:
            raise InvalidBundle(f"envelope payload is missing or larger than {max_payload} bytes")
        payload = b64decode_strict(encoded, what="envelope payload", error=InvalidBundle)
        sigs = obj["signatures"]
        if not isinstance(sigs, list) or len(sigs) > MAX_SIGNATURES:
            raise InvalidBundle(f"envelope signatures must be a list of at most {MAX_SIGNATURES}")
        return cls(payload_type=payload_type, payload=payload, signatures=tuple(Signature.from_json(s) for s in sigs))


def sign_envelope(payload: bytes, *, payload_type: str, key: Ed25519PrivateKey, key_id: str) -> Envelope:
    """Sign ``payload`` with exactly one Ed25519 signature over its PAE."""
    return Envelope(payload_type=payload_type, payload=payload, signatures=(Signature(key_id, crypto.sign(key, pae(payload_type, payload))),))


def verify_envelope(unverified: Envelope, *, trusted_keys: Mapping[str, Ed25519PublicKey]) -> tuple[str, str, bytes]:
    """Check that exactly one signature verifies under a trusted key; return ``(key_id, type, payload)``.

    ``trusted_keys`` maps key id to public key. The signature's ``keyid`` is
    only a hint for which trusted key to try: what decides is that the
    signature verifies under that key (the key id is the SHA-256 of the key,
    so a hint cannot point an attacker's signature at another key). Zero
    signatures, two or more (even if all are valid: securesystemslib refuses
    duplicate key ids; we fix the threshold at exactly one), an unknown key id
    and a bad signature are all failures.

    Does not check the payload type or look inside the payload.
    """
    if len(unverified.signatures) != 1:
        raise SignatureInvalid(f"signature check failed: expected exactly one signature, found {len(unverified.signatures)}")
    (signature,) = unverified.signatures
    key = trusted_keys.get(signature.key_id)
    if key is None:
        raise UntrustedSigner(f"trust check failed: signing key {signature.key_id[:16]} is not in the trust store")
    try:
        crypto.verify_signature(key, signature.sig, pae(unverified.payload_type, unverified.payload))
    except CryptoFailure:
        raise SignatureInvalid(f"signature check failed: the signature does not verify under trusted key {signature.key_id[:16]}") from None
    return signature.key_id, unverified.payload_type, unverified.payload
