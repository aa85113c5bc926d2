"""Identities: key ids, identity cards and private identities.

An institution has two key pairs, never one key for both jobs: Ed25519 for
signing (RFC 8032) and X25519 for receiving (RFC 7748, used through HPKE).
Its public **identity card** names both keys and is self-signed with the
Ed25519 key, which binds the encryption key to the signing key: whoever checks
a card's signing key id out of band (``secfp trust add`` prints it) also gets
the right encryption key. A key id is the lowercase hex SHA-256 of the raw
32-byte public key; it is a hint for finding a key, never proof of anything.

The private key file lives in ``keyfile.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from secfp._io import atomic_write_bytes, canonical_json, read_capped, strict_json_loads
from secfp.errors import BadInput, UsageError
from secfp.exchange._internal import crypto
from secfp.exchange._internal.crypto import (
    CryptoFailure,
    Ed25519PrivateKey,
    Ed25519PublicKey,
    X25519PrivateKey,
    X25519PublicKey,
)
from secfp.exchange._internal.encoding import (
    b64decode_strict,
    b64encode,
    check_key_id,
    check_version,
    exact_fields,
    format_time,
    parse_time,
    truncate_to_second,
)
from secfp.exchange.envelope import pae

__all__ = [
    "IdentityCard",
    "PrivateIdentity",
    "key_id",
    "check_name",
    "generate_identity",
    "load_card",
    "save_card",
    "DEFAULT_VALIDITY",
]

CARD_KIND = "secfp.identity"
CARD_PAYLOAD_TYPE = "application/vnd.secfp.identity.v1+json"
FORMAT_VERSION = 1
DEFAULT_VALIDITY = timedelta(days=730)
MAX_VALIDITY = timedelta(days=3660)
MAX_CARD_BYTES = 16 * 1024
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def key_id(public_key: Ed25519PublicKey | X25519PublicKey) -> str:
    """Lowercase hex SHA-256 of the raw public key bytes."""
    return crypto.sha256(crypto.raw_public(public_key)).hex()


def check_name(name: Any) -> str:
    """Institution names are also file names: 1-64 of letters, digits, ``.``, ``_``, ``-``."""
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise UsageError(f"invalid identity name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


@dataclass(frozen=True)
class IdentityCard:
    """The public half of an identity. Exists only if its self-signature verifies."""

    name: str
    signing_key: Ed25519PublicKey = field(repr=False)
    encryption_key: X25519PublicKey = field(repr=False)
    created: datetime
    not_after: datetime
    self_signature: bytes = field(repr=False)

    def __post_init__(self) -> None:
        try:
            check_name(self.name)
        except UsageError as exc:
            raise BadInput(str(exc)) from None
        if not isinstance(self.signing_key, Ed25519PublicKey) or not isinstance(self.encryption_key, X25519PublicKey):
            raise TypeError("an identity card needs an Ed25519PublicKey and an X25519PublicKey")
        if crypto.raw_public(self.signing_key) == crypto.raw_public(self.encryption_key):
            raise BadInput("identity card uses the same key for signing and encryption")
        if not self.created < self.not_after:
            raise BadInput(f"identity card {self.name}: not_after must be later than created")
        try:
            crypto.verify_signature(self.signing_key, self.self_signature, self._signed_bytes())
        except CryptoFailure:
            raise BadInput(f"identity card {self.name}: self-signature does not verify (the card was modified)") from None

    @property
    def signing_key_id(self) -> str:
        return key_id(self.signing_key)

    @property
    def encryption_key_id(self) -> str:
        return key_id(self.encryption_key)

    def valid_at(self, when: datetime, *, skew: timedelta = timedelta(0)) -> bool:
        return self.created - skew <= when <= self.not_after + skew

    def _body(self) -> dict[str, Any]:
        return {
            "v": FORMAT_VERSION,
            "kind": CARD_KIND,
            "name": self.name,
            "signing_key": b64encode(crypto.raw_public(self.signing_key)),
            "signing_key_id": self.signing_key_id,
            "encryption_key": b64encode(crypto.raw_public(self.encryption_key)),
            "encryption_key_id": self.encryption_key_id,
            "created": format_time(self.created),
            "not_after": format_time(self.not_after),
        }

    def _signed_bytes(self) -> bytes:
        return pae(CARD_PAYLOAD_TYPE, canonical_json(self._body()))

    def to_json(self) -> dict[str, Any]:
        return {**self._body(), "self_signature": b64encode(self.self_signature)}

    @classmethod
    def from_json(cls, obj: Any) -> "IdentityCard":
        fields = {"v", "kind", "name", "signing_key", "signing_key_id", "encryption_key", "encryption_key_id", "created", "not_after", "self_signature"}
        if isinstance(obj, dict) and obj.get("kind") != CARD_KIND:
            from secfp.exchange.kinds import describe

            kind = obj.get("kind")
            raise BadInput(f"this is {describe(kind)}, not an identity card" if isinstance(kind, str) else "not a secfp identity card")
        exact_fields(obj, fields, what="identity card")
        check_version(obj["v"], FORMAT_VERSION, what="secfp identity card")
        raw_sign = b64decode_strict(obj["signing_key"], what="card signing_key", length=crypto.KEY_BYTES)
        raw_enc = b64decode_strict(obj["encryption_key"], what="card encryption_key", length=crypto.KEY_BYTES)
        try:
            signing_key = crypto.signing_public_from_raw(raw_sign)
            encryption_key = crypto.encryption_public_from_raw(raw_enc)
        except CryptoFailure:
            raise BadInput("identity card holds an invalid public key") from None
        card = cls(
            name=obj["name"],
            signing_key=signing_key,
            encryption_key=encryption_key,
            created=parse_time(obj["created"], what="card created"),
            not_after=parse_time(obj["not_after"], what="card not_after"),
            self_signature=b64decode_strict(obj["self_signature"], what="card self_signature", length=64),
        )
        # The stated key ids are redundant; they must agree with the keys (never trusted alone).
        if check_key_id(obj["signing_key_id"], what="card signing_key_id") != card.signing_key_id:
            raise BadInput("identity card signing_key_id does not match its signing key")
        if check_key_id(obj["encryption_key_id"], what="card encryption_key_id") != card.encryption_key_id:
            raise BadInput("identity card encryption_key_id does not match its encryption key")
        return card

    def same_keys(self, other: "IdentityCard") -> bool:
        return self.signing_key_id == other.signing_key_id and self.encryption_key_id == other.encryption_key_id


@dataclass(frozen=True)
class PrivateIdentity:
    """Both private keys and the matching card. Never printed: the key fields have no repr."""

    card: IdentityCard
    signing_key: Ed25519PrivateKey = field(repr=False)
    encryption_key: X25519PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.signing_key, Ed25519PrivateKey) or not isinstance(self.encryption_key, X25519PrivateKey):
            raise TypeError("a private identity needs an Ed25519PrivateKey and an X25519PrivateKey")
        if key_id(self.signing_key.public_key()) != self.card.signing_key_id or key_id(self.encryption_key.public_key()) != self.card.encryption_key_id:
            raise BadInput(f"the private keys of {self.card.name} do not match its identity card")

    @property
    def name(self) -> str:
        return self.card.name


def _self_signed_card(name: str, signing: Ed25519PrivateKey, encryption: X25519PrivateKey, created: datetime, not_after: datetime) -> IdentityCard:
    unsigned = {
        "v": FORMAT_VERSION,
        "kind": CARD_KIND,
        "name": name,
        "signing_key": b64encode(crypto.raw_public(signing.public_key())),
        "signing_key_id": key_id(signing.public_key()),
        "encryption_key": b64encode(crypto.raw_public(encryption.public_key())),
        "encryption_key_id": key_id(encryption.public_key()),
        "created": format_time(created),
        "not_after": format_time(not_after),
    }
    signature = crypto.sign(signing, pae(CARD_PAYLOAD_TYPE, canonical_json(unsigned)))
    return IdentityCard(name, signing.public_key(), encryption.public_key(), created, not_after, signature)


def generate_identity(name: str, *, now: datetime, valid_for: timedelta = DEFAULT_VALIDITY) -> PrivateIdentity:
    """Fresh Ed25519 and X25519 key pairs (from the OS CSPRNG, via OpenSSL) and their card."""
    check_name(name)
    if not timedelta(hours=1) <= valid_for <= MAX_VALIDITY:
        raise UsageError(f"key validity must be between 1 hour and {MAX_VALIDITY.days} days")
    created = truncate_to_second(now)
    signing, encryption = crypto.generate_signing_key(), crypto.generate_encryption_key()
    card = _self_signed_card(name, signing, encryption, created, created + valid_for)
    return PrivateIdentity(card=card, signing_key=signing, encryption_key=encryption)


def save_card(card: IdentityCard, path: str | Path) -> None:
    atomic_write_bytes(path, canonical_json(card.to_json()) + b"\n")


def load_card(path: str | Path) -> IdentityCard:
    """Read an identity card file; its self-signature and key ids are checked.

    A file of another kind (a private key, a task card, a bundle) is refused
    with a message that names what it is (:mod:`secfp.exchange.kinds`).
    """
    from secfp.exchange.kinds import describe, sniff_kind

    # Private key files are larger than cards: read enough to name them.
    data = read_capped(path, cap=max(MAX_CARD_BYTES, 64 * 1024), what="identity card")
    kind = sniff_kind(data)
    if kind is not None and kind != CARD_KIND:
        raise BadInput(f"{path} is {describe(kind)}, not an identity card (NAME.card.json)")
    if len(data) > MAX_CARD_BYTES:
        raise BadInput(f"identity card {path} is more than the limit of {MAX_CARD_BYTES} bytes")
    return IdentityCard.from_json(strict_json_loads(data, what=f"identity card {path}"))
