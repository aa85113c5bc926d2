"""The verifier: from untrusted bundle bytes to a :class:`VerifiedStatement`, or an error.

Order (each step runs only if every earlier one passed; SECURITY.md):

1. size cap ............................ InvalidBundle (exit 3)
2. strict canonical parse .............. InvalidBundle (exit 3)
3. suite string equals the one constant  SuiteMismatch
4. key unwrap and decryption (sealed) .. DecryptionError (opaque)
5. exactly one signature, by a key in
   the trust store (key id is a hint) .. SignatureInvalid / UntrustedSigner
6. payload type ........................ WrongPayloadType
   (statement parse ...................  InvalidBundle, exit 3)
7. issuer name and key match the card .. IssuerMismatch
8. audience: our key is in the signed
   audience and equals the recipient
   list; a public bundle has none ...... NotARecipient
9. issued-at not in the future, not
   expired, signer card valid then ..... NotYetValid / Expired / UntrustedSigner
10. bundle id not seen (replay store),
    then recorded ...................... Replayed

Every failure from step 3 on is a :class:`VerificationError` (exit 4) whose
one-line message names the check. Nothing is written unless every check
passed; the replay store is the only thing written, and only when asked.
Takes bytes and a clock; reads no files (``load_fingerprint_or_bundle`` does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from secfp._io import strict_json_loads
from secfp.errors import BadInput, InvalidBundle, UsageError
from secfp.exchange._internal import crypto
from secfp.exchange._internal.encoding import format_time
from secfp.exchange.bundle import Statement, UnverifiedBundle, parse_bundle, parse_envelope, read_bundle_file
from secfp.exchange.envelope import STATEMENT_PAYLOAD_TYPE, verify_envelope
from secfp.exchange.errors import Expired, IssuerMismatch, NotARecipient, NotYetValid, UntrustedSigner, WrongPayloadType
from secfp.exchange.keyfile import PassphraseSource, load_identity
from secfp.exchange.keys import PrivateIdentity
from secfp.exchange.paths import default_trust_dir
from secfp.exchange.replay import ReplayStore
from secfp.exchange.seal import unseal
from secfp.exchange.trust import TrustStore, load_trust_store
from secfp.fingerprint.histogram import FINGERPRINT_KIND, MAX_FINGERPRINT_BYTES, Fingerprint

__all__ = ["VerifiedStatement", "open_bundle", "load_fingerprint_or_bundle", "DEFAULT_MAX_SKEW", "MAX_SKEW_LIMIT"]

DEFAULT_MAX_SKEW = timedelta(minutes=5)
MAX_SKEW_LIMIT = timedelta(days=1)
VERIFIED_KIND = "secfp.verified-statement"


@dataclass(frozen=True, eq=False)
class VerifiedStatement:
    """A statement that passed every check in ``checks``. Only :func:`open_bundle` makes one.

    There is deliberately no ``from_json``: a verified value cannot be
    rebuilt from JSON without verifying again (keep the bundle, re-open it).
    """

    fingerprint: Fingerprint
    issuer_name: str
    issuer_key_id: str
    bundle_id: str
    issued_at: datetime
    expires_at: datetime
    audience: tuple[str, ...]
    card: dict[str, Any] = field(repr=False)
    privacy: dict[str, Any]
    policy: dict[str, str] | None
    public: bool
    checks: tuple[str, ...]
    statement_digest: str
    recipient_key_id: str | None

    def to_json(self, *, include_fingerprint: bool = True) -> dict[str, Any]:
        """The envelope facts, the card, privacy and policy, and (by default) ``Fingerprint.to_json()``."""
        out: dict[str, Any] = {
            "v": 1,
            "kind": VERIFIED_KIND,
            "bundle_id": self.bundle_id,
            "issuer": {"name": self.issuer_name, "signing_key_id": self.issuer_key_id},
            "public": self.public,
            "audience": list(self.audience),
            "recipient_key_id": self.recipient_key_id,
            "issued_at": format_time(self.issued_at),
            "expires_at": format_time(self.expires_at),
            "statement_digest": self.statement_digest,
            "checks": list(self.checks),
            "card": self.card,
            "privacy": self.privacy,
            "policy": self.policy,
        }
        if include_fingerprint:
            out["fingerprint"] = self.fingerprint.to_json()
        return out


def _check_clock(now: datetime, max_skew: timedelta) -> None:
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    if not isinstance(max_skew, timedelta) or not timedelta(0) <= max_skew <= MAX_SKEW_LIMIT:
        raise ValueError(f"max_skew must be between 0 and {MAX_SKEW_LIMIT}")


def open_bundle(
    unverified_bytes: bytes,
    *,
    identity: PrivateIdentity | None,
    trust_store: TrustStore,
    now: datetime,
    replay_store: ReplayStore | None = None,
    record: bool = True,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> VerifiedStatement:
    """Verify a bundle (see the module docstring for the order) and return what it says.

    ``identity`` is our private identity (needed for sealed bundles; ``None``
    can open only public ones). With ``replay_store``, a bundle id already in
    the store is rejected, and with ``record`` (the default) the id is added
    after every other check passed; ``replay_store=None`` skips the replay
    check (re-reading a bundle we already hold). ``now`` must be timezone-aware.

    Does not check any sharing policy (governance does, on the returned value)
    and does not compare fingerprint specs.
    """
    _check_clock(now, max_skew)
    # 1-3: size cap, strict parse, suite.
    unverified = parse_bundle(unverified_bytes)
    return _verify_parsed(unverified, identity=identity, trust_store=trust_store, now=now, replay_store=replay_store, record=record, max_skew=max_skew)


def _verify_parsed(
    unverified: UnverifiedBundle,
    *,
    identity: PrivateIdentity | None,
    trust_store: TrustStore,
    now: datetime,
    replay_store: ReplayStore | None,
    record: bool,
    max_skew: timedelta,
) -> VerifiedStatement:
    checks: list[str] = ["size-cap", "strict-parse", "suite"]

    # 4: decryption. A sealed bundle yields the signed envelope; a public one carries it.
    if unverified.sealed is not None:
        if identity is None:
            raise UsageError("this bundle is sealed to named recipients: give our private key (--key) to open it")
        envelope = parse_envelope(unseal(unverified.sealed, identity=identity))
        checks.append("decryption")
    else:
        assert unverified.envelope is not None
        envelope = unverified.envelope

    # 5: exactly one signature, by a trusted key; the signer's card must be valid now.
    trusted = {c.signing_key_id: c.signing_key for c in trust_store}
    signer_key_id, payload_type, payload = verify_envelope(envelope, trusted_keys=trusted)
    signer = trust_store.by_signing_key_id(signer_key_id)
    assert signer is not None
    if not signer.valid_at(now, skew=max_skew):
        raise UntrustedSigner(f"trust check failed: the identity card of {signer.name} is valid only until {format_time(signer.not_after)}")
    checks += ["one-signature", "trusted-signer"]

    # 6: payload type, then (and only then) parse the signed bytes.
    if payload_type != STATEMENT_PAYLOAD_TYPE:
        raise WrongPayloadType(f"payload type check failed: expected {STATEMENT_PAYLOAD_TYPE}")
    checks.append("payload-type")
    statement = Statement.from_payload(payload)

    # 7: the statement names the identity whose key signed it.
    if statement.issuer_key_id != signer_key_id or statement.issuer_name != signer.name:
        raise IssuerMismatch(f"issuer check failed: the statement names {statement.issuer_name!r} but was signed by {signer.name!r}")
    checks.append("issuer")

    # 8: audience. Catches forwarding (a recipient re-sealing to a third party) and
    # stripping (a recipient publishing a sealed statement as a public bundle).
    recipient_key_id = None
    if unverified.sealed is not None:
        assert identity is not None
        recipient_key_id = identity.card.encryption_key_id
        if recipient_key_id not in statement.audience:
            raise NotARecipient("audience check failed: our key is not in the signed audience (the bundle was forwarded to us)")
        if sorted(unverified.sealed.recipient_key_ids) != sorted(statement.audience):
            raise NotARecipient("audience check failed: the recipient list does not match the signed audience")
        checks.append("audience")
    else:
        if statement.audience:
            raise NotARecipient("audience check failed: a statement addressed to named recipients arrived unencrypted as a public bundle")
        checks.append("public-audience")

    # 9: time. Skew allows for clocks that disagree a little, in both directions.
    if statement.issued_at > now + max_skew:
        raise NotYetValid(f"validity check failed: issued in the future ({format_time(statement.issued_at)})")
    if now > statement.expires_at + max_skew:
        raise Expired(f"validity check failed: expired at {format_time(statement.expires_at)}")
    if not signer.valid_at(statement.issued_at, skew=max_skew):
        raise UntrustedSigner(f"validity check failed: issued outside the validity of {signer.name}'s identity card")
    checks.append("validity")

    # 10: replay, last, so that only a bundle that passed everything is recorded.
    digest = crypto.sha256(payload).hex()
    if replay_store is not None:
        replay_store.check(statement.bundle_id, digest=digest)
        checks.append("replay")
        if record:
            replay_store.record(statement.bundle_id, digest=digest, now=now, expires_at=statement.expires_at)
            checks.append("replay-recorded")

    return VerifiedStatement(
        fingerprint=statement.fingerprint,
        issuer_name=statement.issuer_name,
        issuer_key_id=statement.issuer_key_id,
        bundle_id=statement.bundle_id,
        issued_at=statement.issued_at,
        expires_at=statement.expires_at,
        audience=statement.audience,
        card=statement.card,
        privacy=statement.privacy,
        policy=statement.policy,
        public=statement.public,
        checks=tuple(checks),
        statement_digest=digest,
        recipient_key_id=recipient_key_id,
    )


def load_fingerprint_or_bundle(
    path: str | Path,
    *,
    now: datetime | None = None,
    key_file: str | Path | None = None,
    trust_dir: str | Path | None = None,
    passphrase: PassphraseSource = None,
    identity: PrivateIdentity | None = None,
    trust_store: TrustStore | None = None,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> tuple[Fingerprint, VerifiedStatement | None]:
    """Read a fingerprint file or a bundle; verify bundles (without the replay check).

    For ``secfp match`` and ``secfp inspect``, which analyse files already
    held: re-reading a received bundle is not a new receipt, so the replay
    store is neither checked nor written. Everything else is verified as in
    :func:`open_bundle`. A fingerprint file returns ``(fingerprint, None)``.

    The trust store is ``trust_store``, else loaded from ``trust_dir``, else
    from ``$SECFP_HOME/trust``. Our identity is ``identity``, else loaded from
    ``key_file`` (the passphrase source is asked only for an encrypted key and
    only if the bundle is sealed). Pass loaded objects when reading many files.
    ``now`` defaults to the current UTC time (pass it explicitly in tests).
    """
    if now is None:
        now = datetime.now(timezone.utc)
    data = read_bundle_file(path)
    if len(data) <= MAX_FINGERPRINT_BYTES:
        try:
            sniff = strict_json_loads(data, what=f"{path}", error=InvalidBundle)
        except InvalidBundle:
            raise InvalidBundle(f"{path} is neither a fingerprint nor a bundle (not strict JSON)") from None
        if isinstance(sniff, dict) and sniff.get("kind") == FINGERPRINT_KIND:
            try:
                return Fingerprint.from_json(sniff), None
            except (ValueError, TypeError, OverflowError):
                raise BadInput(f"fingerprint file {path} holds out-of-range values") from None
    unverified = parse_bundle(data)
    if trust_store is None:
        trust_store = load_trust_store(trust_dir if trust_dir is not None else default_trust_dir())
    if identity is None and unverified.sealed is not None:
        if key_file is None:
            raise UsageError(f"{path} is sealed to named recipients: give our private key (--key) to open it")
        identity = load_identity(key_file, passphrase=passphrase)
    _check_clock(now, max_skew)
    verified = _verify_parsed(unverified, identity=identity, trust_store=trust_store, now=now, replay_store=None, record=False, max_skew=max_skew)
    return verified.fingerprint, verified
