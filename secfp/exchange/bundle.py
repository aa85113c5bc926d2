"""The bundle file (how a statement travels): build, parse, read, write.

A bundle file is canonical JSON plus one newline, in one of two shapes::

    sealed: {"ciphertext", "kind", "nonce", "recipients": [{"key_id", "wrapped_key"}], "sealed": true, "suite", "v"}
    public: {"envelope": {"payload", "payloadType", "signatures"}, "kind", "sealed": false, "suite", "v"}

The sealed ciphertext decrypts to the canonical JSON of the DSSE envelope; the
envelope's payload is the canonical JSON of the statement. Sign, then encrypt
(ARCHITECTURE.md): the audience is inside the signed statement, so a recipient
cannot re-address a bundle to a third party, nor publish it as a public one.

Parsing (:func:`parse_bundle`) checks form only and returns an *unverified*
value; ``verify.open_bundle`` is the only way to a verified statement.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from secfp._io import atomic_write_bytes, canonical_json, read_capped
from secfp.errors import BadInput, InvalidBundle, UsageError
from secfp.exchange._internal.encoding import (
    b64decode_strict,
    check_version,
    exact_fields,
    format_time,
    parse_canonical,
    truncate_to_second,
)
from secfp.exchange._internal.format import (
    BUNDLE_ID_BYTES,
    BUNDLE_KIND,
    FORMAT_VERSION,
    MAX_BUNDLE_BYTES,
    MAX_ENVELOPE_BYTES,
    MAX_RECIPIENTS,
    MAX_STATEMENT_BYTES,
    SUITE,
)
from secfp.exchange.envelope import STATEMENT_PAYLOAD_TYPE, Envelope, sign_envelope
from secfp.exchange.errors import SuiteMismatch
from secfp.exchange.kinds import not_a_bundle_message
from secfp.exchange.keys import IdentityCard, PrivateIdentity
from secfp.exchange.seal import Recipient, SealedContent, seal
from secfp.exchange.statement import MAX_LIFETIME, NO_DP, Statement
from secfp.fingerprint.histogram import Fingerprint

__all__ = [
    "UnverifiedBundle",
    "SealedBundle",
    "parse_bundle",
    "parse_envelope",
    "seal_bundle",
    "export_bundle",
    "read_bundle_file",
    "DEFAULT_LIFETIME",
]

DEFAULT_LIFETIME = timedelta(days=90)
# A recipient's card was made on the recipient's clock.
RECIPIENT_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class UnverifiedBundle:
    """A bundle file after the size cap, strict parsing and the suite check; nothing else is known."""

    sealed: SealedContent | None
    envelope: Envelope | None

    def __post_init__(self) -> None:
        if (self.sealed is None) == (self.envelope is None):
            raise InvalidBundle("a bundle is either sealed or public")


def parse_envelope(unverified: bytes) -> Envelope:
    if len(unverified) > MAX_ENVELOPE_BYTES:
        raise InvalidBundle("signed envelope is too large")
    obj = parse_canonical(unverified, what="signed envelope", error=InvalidBundle, trailing_newline=False)
    return Envelope.from_json(obj, max_payload=MAX_STATEMENT_BYTES)


def _refuse_non_bundle(unverified_bytes: bytes) -> None:
    """A file that is not JSON at all (truncated, foreign) or another secfp kind is "not a secfp bundle".

    Runs before the canonical-form check so that a half-copied file is not
    reported as a formatting detail ("missing final newline").
    """
    try:
        # Lenient on purpose: duplicate keys and the like are reported by the strict parse next.
        obj = json.loads(unverified_bytes.decode("utf-8"))
    except (ValueError, RecursionError):
        raise InvalidBundle("not a secfp bundle: not JSON (a truncated copy, or another kind of file)") from None
    if not isinstance(obj, dict) or obj.get("kind") != BUNDLE_KIND:
        raise InvalidBundle(not_a_bundle_message(obj))


def parse_bundle(unverified_bytes: bytes) -> UnverifiedBundle:
    """Size cap, strict canonical parse, suite check. Raises InvalidBundle (3) or SuiteMismatch (4)."""
    if not isinstance(unverified_bytes, bytes | bytearray):
        raise TypeError("a bundle is bytes")
    if len(unverified_bytes) > MAX_BUNDLE_BYTES:
        raise InvalidBundle(f"bundle is {len(unverified_bytes)} bytes, more than the limit of {MAX_BUNDLE_BYTES}")
    _refuse_non_bundle(bytes(unverified_bytes))
    obj = parse_canonical(bytes(unverified_bytes), what="bundle", error=InvalidBundle, trailing_newline=True)
    if not isinstance(obj, dict) or obj.get("kind") != BUNDLE_KIND:
        raise InvalidBundle(not_a_bundle_message(obj))
    check_version(obj.get("v"), FORMAT_VERSION, what="secfp bundle", error=InvalidBundle)
    if type(obj.get("sealed")) is not bool:
        raise InvalidBundle("bundle field 'sealed' must be true or false")
    if obj["sealed"]:
        exact_fields(obj, {"v", "kind", "suite", "sealed", "nonce", "recipients", "ciphertext"}, what="sealed bundle", error=InvalidBundle)
    else:
        exact_fields(obj, {"v", "kind", "suite", "sealed", "envelope"}, what="public bundle", error=InvalidBundle)
    if not isinstance(obj["suite"], str):
        raise InvalidBundle("bundle suite must be a string")
    # Checked for equality only: the suite string never selects an algorithm.
    if obj["suite"] != SUITE:
        raise SuiteMismatch(f"suite check failed: this version accepts only suite {SUITE}")
    if not obj["sealed"]:
        return UnverifiedBundle(sealed=None, envelope=Envelope.from_json(obj["envelope"], max_payload=MAX_STATEMENT_BYTES))
    if not isinstance(obj["recipients"], list) or not 1 <= len(obj["recipients"]) <= MAX_RECIPIENTS:
        raise InvalidBundle(f"a sealed bundle lists 1 to {MAX_RECIPIENTS} recipients")
    if not isinstance(obj["ciphertext"], str):
        raise InvalidBundle("bundle ciphertext must be a base64 string")
    sealed = SealedContent(
        suite=obj["suite"],
        nonce=b64decode_strict(obj["nonce"], what="bundle nonce", error=InvalidBundle),
        recipients=tuple(Recipient.from_json(r) for r in obj["recipients"]),
        ciphertext=b64decode_strict(obj["ciphertext"], what="bundle ciphertext", error=InvalidBundle),
    )
    return UnverifiedBundle(sealed=sealed, envelope=None)


def read_bundle_file(path: str | Path) -> bytes:
    """The bytes of a bundle file, refusing files over the size cap before reading them."""
    try:
        return read_capped(path, cap=MAX_BUNDLE_BYTES, what="bundle")
    except BadInput as exc:
        raise InvalidBundle(str(exc)) from None


@dataclass(frozen=True, eq=False)
class SealedBundle:
    """What export produced: the file bytes and the statement inside them."""

    data: bytes = field(repr=False)
    statement: Statement


def seal_bundle(
    fingerprint: Fingerprint,
    *,
    issuer: PrivateIdentity,
    recipients: Sequence[IdentityCard] = (),
    public: bool = False,
    now: datetime,
    lifetime: timedelta = DEFAULT_LIFETIME,
    card: Mapping[str, Any] | None = None,
    privacy: Mapping[str, Any] | None = None,
    policy: Mapping[str, str] | None = None,
) -> SealedBundle:
    """Build a statement, sign it (DSSE, Ed25519) and, unless ``public``, encrypt it to ``recipients``.

    Exactly one of ``recipients`` (non-empty) and ``public=True`` is required:
    no recipients is not silently public. ``privacy`` defaults to
    ``{"mechanism": "none"}`` for a noise-free fingerprint and is required for
    a noisy one. The issuer's and every recipient's card must be valid ``now``.
    The bundle id, content key and nonce come from the OS CSPRNG.
    """
    if public == bool(recipients):
        raise UsageError("give recipients (--to) or ask for a public bundle (--public), not both and not neither")
    if not isinstance(lifetime, timedelta) or not timedelta(0) < lifetime <= MAX_LIFETIME:
        raise UsageError(f"bundle lifetime must be positive and at most {MAX_LIFETIME.days} days")
    issued_at = truncate_to_second(now)
    if not issuer.card.valid_at(issued_at):
        raise UsageError(f"our identity card {issuer.name} is not valid now (expired {format_time(issuer.card.not_after)}?): rotate keys")
    for r in recipients:
        if not r.valid_at(issued_at, skew=RECIPIENT_CLOCK_SKEW):
            raise UsageError(f"recipient card {r.name} is not valid now")
    if len({r.encryption_key_id for r in recipients}) != len(recipients):
        raise UsageError("the same recipient is named twice")
    if privacy is None:
        if fingerprint.noisy:
            raise UsageError("a differentially private fingerprint needs its privacy statement")
        privacy = NO_DP
    statement = Statement(
        bundle_id=secrets.token_bytes(BUNDLE_ID_BYTES).hex(),
        issuer_name=issuer.name,
        issuer_key_id=issuer.card.signing_key_id,
        audience=tuple(r.encryption_key_id for r in recipients),
        issued_at=issued_at,
        expires_at=issued_at + timedelta(seconds=int(lifetime.total_seconds())),
        fingerprint=fingerprint,
        card=dict(card or {}),
        privacy=dict(privacy),
        policy=dict(policy) if policy is not None else None,
    )
    payload = statement.payload()
    if len(payload) > MAX_STATEMENT_BYTES:
        raise BadInput(f"the statement is larger than {MAX_STATEMENT_BYTES} bytes")
    envelope = sign_envelope(payload, payload_type=STATEMENT_PAYLOAD_TYPE, key=issuer.signing_key, key_id=issuer.card.signing_key_id)
    if public:
        outer = {"v": FORMAT_VERSION, "kind": BUNDLE_KIND, "suite": SUITE, "sealed": False, "envelope": envelope.to_json()}
    else:
        outer = seal(canonical_json(envelope.to_json()), recipients=recipients).to_json()
    return SealedBundle(data=canonical_json(outer) + b"\n", statement=statement)


def export_bundle(
    fingerprint: Fingerprint,
    out: str | Path,
    *,
    issuer: PrivateIdentity,
    recipients: Sequence[IdentityCard] = (),
    public: bool = False,
    now: datetime,
    lifetime: timedelta = DEFAULT_LIFETIME,
    card: Mapping[str, Any] | None = None,
    privacy: Mapping[str, Any] | None = None,
    policy: Mapping[str, str] | None = None,
) -> SealedBundle:
    """:func:`seal_bundle`, then write ``out`` atomically (nothing is written if sealing fails)."""
    sealed = seal_bundle(
        fingerprint, issuer=issuer, recipients=recipients, public=public, now=now,
        lifetime=lifetime, card=card, privacy=privacy, policy=policy,
    )
    try:
        atomic_write_bytes(out, sealed.data)
    except OSError as exc:
        raise BadInput(f"cannot write bundle {out}: {exc.strerror or exc}") from None
    return sealed
