"""The trust store: a folder of identity cards whose holders we accept as signers.

Each card is one file ``NAME.card.json``. Adding a card is the trust decision,
so ``trust_add`` returns the card for the caller to show its signing key id,
which the user compares with the issuer out of band (phone, letterhead).
Cards are self-signed, so a file edited in the store fails to load; the store
then refuses to load at all (fail closed) rather than skip it silently.
Writes hold a cross-process lock and are atomic.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from filelock import FileLock

from secfp._io import atomic_write_bytes, canonical_json
from secfp.errors import BadInput, UsageError
from secfp.exchange.keys import IdentityCard, check_name, load_card

__all__ = ["TrustStore", "load_trust_store", "trust_add", "trust_remove", "resolve_recipient", "CARD_SUFFIX",
           "MAX_TRUSTED_CARDS"]

CARD_SUFFIX = ".card.json"
# The card was made on its owner's clock; allow the same skew the verifier allows.
CLOCK_SKEW = timedelta(minutes=5)
MAX_TRUSTED_CARDS = 10_000
_LOCK_NAME = ".lock"


@dataclass(frozen=True)
class TrustStore:
    """The accepted identity cards; names, signing keys and encryption keys are each unique."""

    cards: tuple[IdentityCard, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "cards", tuple(sorted(self.cards, key=lambda c: c.name)))
        for attr in ("name", "signing_key_id", "encryption_key_id"):
            values = [getattr(c, attr) for c in self.cards]
            if len(set(values)) != len(values):
                raise BadInput(f"trust store holds two cards with the same {attr.replace('_', ' ')}")

    def __iter__(self) -> Iterator[IdentityCard]:
        return iter(self.cards)

    def __len__(self) -> int:
        return len(self.cards)

    def by_signing_key_id(self, key_id: str) -> IdentityCard | None:
        return next((c for c in self.cards if c.signing_key_id == key_id), None)

    def by_name(self, name: str) -> IdentityCard | None:
        return next((c for c in self.cards if c.name == name), None)

    def to_json(self) -> list[dict[str, Any]]:
        return [c.to_json() for c in self.cards]

    @classmethod
    def from_json(cls, obj: Any) -> "TrustStore":
        if not isinstance(obj, list) or len(obj) > MAX_TRUSTED_CARDS:
            raise BadInput("a trust store is a list of identity cards")
        return cls(tuple(IdentityCard.from_json(c) for c in obj))


def _card_files(directory: Path) -> list[Path]:
    if not directory.exists():
        return []
    if not directory.is_dir():
        raise BadInput(f"trust store {directory} is not a folder")
    files = sorted(p for p in directory.iterdir() if p.name.endswith(CARD_SUFFIX) and not p.name.startswith("."))
    if len(files) > MAX_TRUSTED_CARDS:
        raise BadInput(f"trust store {directory} holds more than {MAX_TRUSTED_CARDS} cards")
    return files


def _is_explicit_path(text: str) -> bool:
    return "/" in text or "\\" in text


def resolve_recipient(text: str, store: TrustStore) -> IdentityCard:
    """The card a ``--to`` value names: a NAME is looked up in the trust store only.

    A card file is used only when given as a path (``./bob.card.json``,
    ``cards/bob.card.json``), never because a file called NAME happens to sit
    in the working folder: a card planted on a shared drive must not receive
    the bundle. A card file whose name the trust store holds under a different
    key is refused (UsageError, exit 2).
    """
    if not _is_explicit_path(text):
        card = store.by_name(text)
        if card is None:
            hint = f"; to use a card file, give its path (./{text})" if Path(text).is_file() else ""
            raise UsageError(f"--to {text}: no card of that name in the trust store{hint}")
        return card
    card = load_card(text)
    trusted = store.by_name(card.name)
    if trusted is not None and trusted.signing_key_id != card.signing_key_id:
        raise UsageError(f"--to {text}: the trust store holds a different key for {card.name} "
                         f"({trusted.signing_key_id}); refusing the card file ({card.signing_key_id})")
    if trusted is not None and trusted.encryption_key_id != card.encryption_key_id:
        raise UsageError(f"--to {text}: the trust store holds a different encryption key for {card.name}; "
                         "refusing the card file")
    return card


def load_trust_store(directory: str | Path) -> TrustStore:
    """Load every ``*.card.json`` in ``directory``; a missing folder is an empty store (trusts no one)."""
    directory = Path(directory)
    cards = []
    for path in _card_files(directory):
        try:
            card = load_card(path)
        except BadInput as exc:
            raise BadInput(f"trust store {directory}: {exc}") from None
        if path.name != f"{card.name}{CARD_SUFFIX}":
            raise BadInput(f"trust store {directory}: {path.name} holds the card of {card.name}")
        cards.append(card)
    return TrustStore(tuple(cards))


def trust_add(directory: str | Path, card: IdentityCard, *, now: datetime, replace: bool = False) -> IdentityCard:
    """Add ``card`` to the store. Re-adding the identical card is a no-op.

    Refuses an expired card, a second card under a trusted name (unless
    ``replace``: key rotation) and a key already trusted under another name.
    """
    directory = Path(directory)
    if not card.valid_at(now, skew=CLOCK_SKEW):
        raise UsageError(f"identity card {card.name} is not valid now (valid {card.created:%Y-%m-%d} to {card.not_after:%Y-%m-%d})")
    directory.mkdir(parents=True, exist_ok=True)
    with FileLock(str(directory / _LOCK_NAME)):
        store = load_trust_store(directory)
        existing = store.by_name(card.name)
        if existing is not None and existing.same_keys(card) and existing.to_json() == card.to_json():
            return card
        if existing is not None and not replace:
            raise UsageError(f"the trust store already has a different card for {card.name}; remove it first or use --replace (key rotation)")
        for other in store:
            if other.name != card.name and (other.signing_key_id == card.signing_key_id or other.encryption_key_id == card.encryption_key_id):
                raise UsageError(f"a key of this card is already trusted under the name {other.name}")
        atomic_write_bytes(directory / f"{card.name}{CARD_SUFFIX}", canonical_json(card.to_json()) + b"\n")
    return card


def trust_remove(directory: str | Path, name: str) -> IdentityCard:
    """Remove the card of ``name``; bundles signed by its key are rejected from then on."""
    directory = Path(directory)
    check_name(name)
    with FileLock(str(directory / _LOCK_NAME)) if directory.is_dir() else nullcontext():
        store = load_trust_store(directory)
        card = store.by_name(name)
        if card is None:
            raise UsageError(f"{name} is not in the trust store {directory}")
        (directory / f"{name}{CARD_SUFFIX}").unlink()
    return card

