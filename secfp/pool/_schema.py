"""The pool's SQLite index: its schema, and :class:`PoolEntry`, one verified bundle's facts.

One table ``bundles``, one row per stored bundle, written only from a
:class:`~secfp.exchange.received.ReceivedBundle` (see :mod:`secfp.pool.store`).
The card, privacy and policy objects are kept whole as canonical JSON next to the
columns the index is queried by (issuer, spec, card fields, DP, data use, times).
A ``meta`` table holds the format (``secfp.pool``, version 1); any other version is
refused rather than guessed at.

Times are stored as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, to the second), as in bundles.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from secfp._io import canonical_json, format_utc, parse_utc, strict_json_loads
from secfp.cards import _fields as _card_fields
from secfp.cards.task_card import TaskCard
from secfp.errors import BadInput
from secfp.governance import Party
from secfp.mechanisms import Mechanism

if TYPE_CHECKING:
    from secfp.exchange.received import ReceivedBundle

__all__ = ["POOL_KIND", "POOL_VERSION", "SCHEMA", "PoolEntry", "entry_from_received", "entry_from_row",
           "entry_to_row", "parse_time"]

POOL_KIND = "secfp.pool"
POOL_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bundles (
    bundle_id TEXT PRIMARY KEY,
    file_digest TEXT NOT NULL,
    statement_digest TEXT NOT NULL,
    issuer_name TEXT NOT NULL,
    issuer_key_id TEXT NOT NULL,
    public INTEGER NOT NULL,
    audience TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    spec_id TEXT NOT NULL,
    features INTEGER NOT NULL,
    bins INTEGER NOT NULL,
    n INTEGER NOT NULL,
    noisy INTEGER NOT NULL,
    task_name TEXT,
    modality TEXT,
    body_region TEXT,
    label_type TEXT,
    num_classes INTEGER,
    images INTEGER,
    card_error TEXT,
    privacy_mechanism TEXT NOT NULL,
    epsilon REAL,
    delta REAL,
    policy_id TEXT,
    data_use TEXT NOT NULL,
    card_json TEXT NOT NULL,
    privacy_json TEXT NOT NULL,
    policy_json TEXT,
    checks TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bundles_by_spec ON bundles (spec_id);
"""

COLUMNS = ("bundle_id", "file_digest", "statement_digest", "issuer_name", "issuer_key_id", "public", "audience",
           "issued_at", "expires_at", "received_at", "spec_id", "features", "bins", "n", "noisy", "task_name",
           "modality", "body_region", "label_type", "num_classes", "images", "card_error", "privacy_mechanism",
           "epsilon", "delta", "policy_id", "data_use", "card_json", "privacy_json", "policy_json", "checks")


def parse_time(text: Any) -> datetime:
    try:
        return parse_utc(text)
    except ValueError:
        raise BadInput(f"pool index holds a malformed time {text!r:.40}") from None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


@dataclass(frozen=True)
class PoolEntry:
    """What the pool's index holds about one stored bundle: a received bundle's facts, minus the fingerprint.

    Written only from a :class:`~secfp.exchange.received.ReceivedBundle`. ``card``,
    ``privacy`` and ``policy`` are the signed JSON objects as received (shown by ``pool
    show``); :attr:`task_card` is the card as a type (None, with ``card_error``, when it does
    not follow the schema). ``checks`` are the checks the bundle passed when it was added;
    each use appends the checks it repeats. The strings are still the issuer's text and
    must be escaped.
    """

    bundle_id: str
    file_digest: str
    statement_digest: str
    issuer_name: str
    issuer_key_id: str
    public: bool
    audience: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    received_at: datetime
    spec_id: str
    features: int
    bins: int
    n: int
    noisy: bool
    card: dict[str, Any] = field(repr=False)
    privacy: dict[str, Any] = field(repr=False)
    policy: dict[str, Any] | None = field(repr=False)
    checks: tuple[str, ...] = ()
    task_name: str | None = None
    modality: str | None = None
    body_region: str | None = None
    label_type: str | None = None
    num_classes: int | None = None
    images: int | None = None
    card_error: str | None = None

    @property
    def privacy_mechanism(self) -> str:
        mechanism = self.privacy.get("mechanism", Mechanism.NONE.value)
        return mechanism if isinstance(mechanism, str) else "unknown"

    @property
    def epsilon(self) -> float | None:
        return _number(self.privacy.get("epsilon"))

    @property
    def delta(self) -> float | None:
        return _number(self.privacy.get("delta"))

    @property
    def policy_id(self) -> str | None:
        return self.policy.get("id") if self.policy else None

    @property
    def data_use(self) -> tuple[str, ...]:
        return tuple(self.policy.get("data_use", ())) if self.policy else ()

    @property
    def issuer(self) -> Party:
        return Party(self.issuer_name, self.issuer_key_id)

    @property
    def dp_mechanism(self) -> str:
        return self.privacy_mechanism

    @property
    def task_card(self) -> TaskCard | None:
        """The card as a :class:`TaskCard`, or None when ``card_error`` says why it cannot be used."""
        if self.card_error is not None or not self.card:
            return None
        return TaskCard.from_json(self.card)

    def expired(self, now: datetime) -> bool:
        """Strictly after ``expires_at``: the pool grants no clock-skew grace at use."""
        return now > self.expires_at

    def facts_json(self) -> dict[str, Any]:
        """The index facts (no whole card): what ``pool list --json`` and rankings show."""
        return {
            "bundle_id": self.bundle_id,
            "issuer": {"name": self.issuer_name, "signing_key_id": self.issuer_key_id},
            "public": self.public,
            "issued_at": format_utc(self.issued_at),
            "expires_at": format_utc(self.expires_at),
            "received_at": format_utc(self.received_at),
            "spec_id": self.spec_id,
            "shape": [self.features, self.bins],
            "n": self.n,
            "noisy": self.noisy,
            "task": {"name": self.task_name, "modality": self.modality, "body_region": self.body_region,
                     "label_type": self.label_type, "num_classes": self.num_classes, "images": self.images},
            "card_error": self.card_error,
            "privacy": {"mechanism": self.privacy_mechanism, "epsilon": self.epsilon, "delta": self.delta},
            "policy_id": self.policy_id,
            "data_use": list(self.data_use),
            "file_digest": self.file_digest,
            "statement_digest": self.statement_digest,
        }

    def to_json(self) -> dict[str, Any]:
        """Every fact, with the whole card, privacy ledger and policy reference (``pool show``)."""
        out = self.facts_json()
        out.update({"v": POOL_VERSION, "kind": "secfp.pool-entry", "audience": list(self.audience),
                    "checks": list(self.checks), "card": self.card, "privacy": self.privacy, "policy": self.policy})
        return out


def _card_columns(card: Mapping[str, Any], parsed: TaskCard | None, error: str | None) -> dict[str, Any]:
    """Card fields for the index, or the reason the card cannot be used (``card_error``)."""
    empty = {"task_name": None, "modality": None, "body_region": None, "label_type": None, "num_classes": None,
             "images": None}
    if parsed is None:
        # Keep the name of a card that does not follow the schema when it is plain text.
        task = card.get("task") if isinstance(card, Mapping) else None
        name = task.get("name") if isinstance(task, Mapping) else None
        try:
            name = _card_fields.text(name, "task.name", limit=200)
        except BadInput:
            name = None
        return {**empty, "task_name": name, "card_error": error or "the bundle carries no task card"}
    return {"task_name": parsed.name, "modality": parsed.modality, "body_region": parsed.body_region,
            "label_type": parsed.label_type, "num_classes": parsed.num_classes, "images": parsed.images,
            "card_error": None}


def entry_from_received(received: ReceivedBundle, *, file_digest: str, received_at: datetime) -> PoolEntry:
    """The index entry of a received bundle (never of unverified data)."""
    statement = received.statement
    fp = statement.fingerprint
    features, bins = fp.shape
    return PoolEntry(
        bundle_id=statement.bundle_id, file_digest=file_digest, statement_digest=statement.statement_digest,
        issuer_name=statement.issuer_name, issuer_key_id=statement.issuer_key_id, public=bool(statement.public),
        audience=tuple(statement.audience), issued_at=statement.issued_at, expires_at=statement.expires_at,
        received_at=received_at.replace(microsecond=0), spec_id=fp.spec_id, features=features, bins=bins,
        n=fp.n, noisy=bool(fp.noisy), card=dict(statement.card), privacy=dict(statement.privacy),
        policy=dict(statement.policy) if statement.policy is not None else None,
        checks=tuple(statement.checks), **_card_columns(statement.card, received.card, received.card_error),
    )


def _json_text(value: Any) -> str:
    return canonical_json(value).decode("utf-8")


def entry_to_row(entry: PoolEntry) -> tuple[Any, ...]:
    values = {
        "bundle_id": entry.bundle_id, "file_digest": entry.file_digest, "statement_digest": entry.statement_digest,
        "issuer_name": entry.issuer_name, "issuer_key_id": entry.issuer_key_id, "public": int(entry.public),
        "audience": _json_text(list(entry.audience)), "issued_at": format_utc(entry.issued_at),
        "expires_at": format_utc(entry.expires_at), "received_at": format_utc(entry.received_at),
        "spec_id": entry.spec_id, "features": entry.features, "bins": entry.bins, "n": entry.n,
        "noisy": int(entry.noisy), "task_name": entry.task_name, "modality": entry.modality,
        "body_region": entry.body_region, "label_type": entry.label_type, "num_classes": entry.num_classes,
        "images": entry.images, "card_error": entry.card_error, "privacy_mechanism": entry.privacy_mechanism,
        "epsilon": entry.epsilon, "delta": entry.delta, "policy_id": entry.policy_id,
        "data_use": _json_text(list(entry.data_use)), "card_json": _json_text(entry.card),
        "privacy_json": _json_text(entry.privacy),
        "policy_json": None if entry.policy is None else _json_text(entry.policy),
        "checks": _json_text(list(entry.checks)),
    }
    return tuple(values[c] for c in COLUMNS)


def _load(text: Any, what: str) -> Any:
    if not isinstance(text, str):
        raise BadInput(f"pool index: {what} is not JSON text")
    return strict_json_loads(text, what=f"pool index {what}")


def entry_from_row(row: sqlite3.Row) -> PoolEntry:
    """Rebuild an entry from its index row; a malformed row is :class:`BadInput` (never guessed at)."""
    try:
        card, privacy = _load(row["card_json"], "card"), _load(row["privacy_json"], "privacy")
        policy = None if row["policy_json"] is None else _load(row["policy_json"], "policy")
        if not isinstance(card, dict) or not isinstance(privacy, dict) or not (policy is None or isinstance(policy, dict)):
            raise BadInput("pool index: card, privacy and policy must be JSON objects")
        return PoolEntry(
            bundle_id=str(row["bundle_id"]), file_digest=str(row["file_digest"]),
            statement_digest=str(row["statement_digest"]), issuer_name=str(row["issuer_name"]),
            issuer_key_id=str(row["issuer_key_id"]), public=bool(row["public"]),
            audience=tuple(_load(row["audience"], "audience")), issued_at=parse_time(row["issued_at"]),
            expires_at=parse_time(row["expires_at"]), received_at=parse_time(row["received_at"]),
            spec_id=str(row["spec_id"]), features=int(row["features"]), bins=int(row["bins"]), n=int(row["n"]),
            noisy=bool(row["noisy"]), card=card, privacy=privacy, policy=policy,
            checks=tuple(_load(row["checks"], "checks")), task_name=row["task_name"], modality=row["modality"],
            body_region=row["body_region"], label_type=row["label_type"], num_classes=row["num_classes"],
            images=row["images"], card_error=row["card_error"],
        )
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise BadInput(f"pool index row is malformed: {exc}") from None
