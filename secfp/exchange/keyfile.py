"""The private key file: both private keys, encrypted under a passphrase.

Format (canonical JSON, mode 0600)::

    {"v": 1, "kind": "secfp.private-key", "card": {...identity card...},
     "protection": "scrypt-aes-256-gcm", "kdf": {"log2_n": 17, "salt": b64},
     "nonce": b64, "secret": b64(AES-256-GCM(ed25519 seed || x25519 key))}

The wrapping key is scrypt (RFC 7914; r = 8, p = 1, N = 2^log2_n, 16-byte
salt) of the NFC-normalised UTF-8 passphrase; the AEAD's associated data is
the whole header (everything but ``secret``), so the card and the KDF cost
cannot be swapped or lowered. ``protection: "none"`` (``kdf``/``nonce`` null,
``secret`` in clear) exists only for an explicit ``--no-passphrase``.

A wrong passphrase and a modified file look the same: :class:`WrongPassphrase`
(exit 4). A malformed file is :class:`BadInput` (exit 3).
"""

from __future__ import annotations

import logging
import os
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secfp._io import atomic_write_bytes, canonical_json, read_capped, strict_json_loads
from secfp.errors import BadInput, UsageError
from secfp.exchange._internal import crypto
from secfp.exchange._internal.crypto import CryptoFailure
from secfp.exchange._internal.encoding import b64decode_strict, b64encode, check_version, exact_fields
from secfp.exchange.errors import WrongPassphrase
from secfp.exchange.keys import FORMAT_VERSION, IdentityCard, PrivateIdentity, save_card
from secfp.exchange.kinds import describe, sniff_kind

__all__ = [
    "IdentityFiles",
    "PassphraseSource",
    "save_identity",
    "load_identity",
    "resolve_passphrase",
    "PASSPHRASE_ENV",
    "DEFAULT_SCRYPT_LOG2_N",
    "check_key_file_mode",
]

log = logging.getLogger(__name__)

KEY_FILE_KIND = "secfp.private-key"
PASSPHRASE_ENV = "SECFP_PASSPHRASE"
PROTECTION_SCRYPT = "scrypt-aes-256-gcm"
PROTECTION_NONE = "none"
DEFAULT_SCRYPT_LOG2_N = 17
# Loading accepts a range so that tests may write cheap files; 2^20 bounds the work
# (about 1 GiB of memory) that a hostile key file can make us do.
MIN_SCRYPT_LOG2_N = 10
MAX_SCRYPT_LOG2_N = 20
MAX_KEY_FILE_BYTES = 64 * 1024
_KEY_FILE_AAD_PREFIX = b"secfp.private-key.v1\x00"

PassphraseSource = str | Callable[[], str] | None


@dataclass(frozen=True)
class IdentityFiles:
    key_file: Path
    card_file: Path


def resolve_passphrase(source: PassphraseSource, *, what: str) -> str:
    """A string as is; a callable is called (a prompt); None reads ``$SECFP_PASSPHRASE``."""
    if isinstance(source, str):
        value = source
    elif callable(source):
        value = source()
    else:
        value = os.environ.get(PASSPHRASE_ENV)
        if value is None:
            raise UsageError(f"{what} is passphrase-protected: set {PASSPHRASE_ENV} or run interactively")
    if not isinstance(value, str) or not value:
        raise UsageError("the passphrase must not be empty")
    return value


def _passphrase_bytes(passphrase: str) -> bytes:
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def _key_file_aad(header: dict[str, Any]) -> bytes:
    return _KEY_FILE_AAD_PREFIX + canonical_json(header)


def _key_file_bytes(identity: PrivateIdentity, passphrase: str | None, log2_n: int) -> bytes:
    secret = crypto.raw_private(identity.signing_key) + crypto.raw_private(identity.encryption_key)
    if passphrase is None:
        header = {"v": FORMAT_VERSION, "kind": KEY_FILE_KIND, "card": identity.card.to_json(), "protection": PROTECTION_NONE, "kdf": None, "nonce": None}
        return canonical_json({**header, "secret": b64encode(secret)}) + b"\n"
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(crypto.AEAD_NONCE_BYTES)
    header = {
        "v": FORMAT_VERSION,
        "kind": KEY_FILE_KIND,
        "card": identity.card.to_json(),
        "protection": PROTECTION_SCRYPT,
        "kdf": {"log2_n": log2_n, "salt": b64encode(salt)},
        "nonce": b64encode(nonce),
    }
    wrapping_key = crypto.scrypt_derive(_passphrase_bytes(passphrase), salt, log2_n=log2_n)
    sealed = crypto.aead_encrypt(wrapping_key, nonce, secret, aad=_key_file_aad(header))
    return canonical_json({**header, "secret": b64encode(sealed)}) + b"\n"


def save_identity(
    identity: PrivateIdentity,
    out_dir: str | Path,
    *,
    passphrase: str | None,
    unsafe_no_passphrase: bool = False,
    scrypt_log2_n: int = DEFAULT_SCRYPT_LOG2_N,
) -> IdentityFiles:
    """Write ``NAME.key`` (mode 0600) and ``NAME.card.json`` atomically; never overwrite.

    ``passphrase=None`` writes the private keys unencrypted and is refused
    unless ``unsafe_no_passphrase=True``. ``scrypt_log2_n`` lowers the KDF cost
    for tests only (allowed range 10-20; the default, 17, is what production
    uses). The key file is written before the card, so a card never exists
    without its key.
    """
    if passphrase is None and not unsafe_no_passphrase:
        raise UsageError("refusing to write an unencrypted key file without an explicit no-passphrase request")
    if passphrase is not None and not passphrase:
        raise UsageError("the passphrase must not be empty (use --no-passphrase to store the key unencrypted)")
    if type(scrypt_log2_n) is not int or not MIN_SCRYPT_LOG2_N <= scrypt_log2_n <= MAX_SCRYPT_LOG2_N:
        raise UsageError(f"scrypt cost must be 2^{MIN_SCRYPT_LOG2_N}..2^{MAX_SCRYPT_LOG2_N}")
    if passphrase is None:
        log.warning("writing the private key file for %s without a passphrase", identity.name)
    out = Path(out_dir)
    files = IdentityFiles(out / f"{identity.name}.key", out / f"{identity.name}.card.json")
    for path in (files.key_file, files.card_file):
        if path.exists():
            raise UsageError(f"{path} already exists; refusing to overwrite a key")
    try:
        atomic_write_bytes(files.key_file, _key_file_bytes(identity, passphrase, scrypt_log2_n), mode=0o600)
        save_card(identity.card, files.card_file)
    except OSError as exc:
        raise BadInput(f"cannot write the identity files in {out}: {exc.strerror or exc}") from None
    return files


def check_key_file_mode(path: str | Path) -> None:
    """Refuse a private key file that other users can read (as OpenSSH does), naming the ``chmod`` to run.

    POSIX only; on systems without permission bits (Windows) nothing is checked.
    """
    if os.name != "posix":
        return
    try:
        mode = Path(path).stat().st_mode
    except OSError:
        return  # read_capped reports a missing or unreadable file
    if mode & 0o077:
        raise BadInput(f"private key file {path} is readable by other users (mode {mode & 0o777:04o}): "
                       f"run `chmod 600 {path}` and check who may have copied it")


def load_identity(path: str | Path, *, passphrase: PassphraseSource = None) -> PrivateIdentity:
    """Read a private key file. The passphrase source is consulted only if the file is encrypted.

    Raises :class:`WrongPassphrase` (exit 4) if the file does not decrypt and
    :class:`BadInput` (exit 3) if it is malformed.
    """
    data = read_capped(path, cap=MAX_KEY_FILE_BYTES, what="key file")
    kind = sniff_kind(data)
    if kind is not None and kind != KEY_FILE_KIND:
        raise BadInput(f"{path} is {describe(kind)}, not a private key file (--key takes NAME.key)")
    check_key_file_mode(path)
    obj = strict_json_loads(data, what=f"key file {path}")
    if not isinstance(obj, dict) or obj.get("kind") != KEY_FILE_KIND:
        raise BadInput(f"{path} is not a secfp private key file (--key takes NAME.key)")
    exact_fields(obj, {"v", "kind", "card", "protection", "kdf", "nonce", "secret"}, what="key file")
    check_version(obj["v"], FORMAT_VERSION, what="secfp key file")
    card = IdentityCard.from_json(obj["card"])
    header = {k: v for k, v in obj.items() if k != "secret"}
    if obj["protection"] == PROTECTION_NONE:
        if obj["kdf"] is not None or obj["nonce"] is not None:
            raise BadInput(f"key file {path}: an unencrypted key file has no kdf or nonce")
        secret = b64decode_strict(obj["secret"], what="key file secret", length=2 * crypto.KEY_BYTES)
    elif obj["protection"] == PROTECTION_SCRYPT:
        kdf = exact_fields(obj["kdf"], {"log2_n", "salt"}, what="key file kdf")
        log2_n = kdf["log2_n"]
        if type(log2_n) is not int or not MIN_SCRYPT_LOG2_N <= log2_n <= MAX_SCRYPT_LOG2_N:
            raise BadInput(f"key file {path}: scrypt cost out of range")
        salt = b64decode_strict(kdf["salt"], what="key file salt", length=16)
        nonce = b64decode_strict(obj["nonce"], what="key file nonce", length=crypto.AEAD_NONCE_BYTES)
        sealed = b64decode_strict(obj["secret"], what="key file secret", length=2 * crypto.KEY_BYTES + crypto.AEAD_TAG_BYTES)
        phrase = resolve_passphrase(passphrase, what=f"key file {path}")
        try:
            wrapping_key = crypto.scrypt_derive(_passphrase_bytes(phrase), salt, log2_n=log2_n)
            secret = crypto.aead_decrypt(wrapping_key, nonce, sealed, aad=_key_file_aad(header))
        except CryptoFailure:
            raise WrongPassphrase(f"wrong passphrase for key file {path} (or the file was modified)") from None
    else:
        raise BadInput(f"key file {path}: unknown protection")
    try:
        signing = crypto.signing_key_from_raw(secret[: crypto.KEY_BYTES])
        encryption = crypto.encryption_key_from_raw(secret[crypto.KEY_BYTES :])
    except CryptoFailure:
        raise BadInput(f"key file {path} holds invalid private keys") from None
    return PrivateIdentity(card=card, signing_key=signing, encryption_key=encryption)
