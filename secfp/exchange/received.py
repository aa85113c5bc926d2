"""The typed value of a received bundle: the verified statement with its claims checked and parsed.

:func:`receive_statement` is the verifier's last step after :func:`secfp.exchange.open_bundle`
and the one constructor of :class:`ReceivedBundle`:

1. the statement must be a :class:`~secfp.exchange.verify.VerifiedStatement` (TypeError);
2. the privacy ledger is parsed, bound to the fingerprint's spec and its declared epsilon
   re-derived by our own accountants (:func:`check_privacy_claim`; VerificationError);
3. the task card is parsed against the schema (a card that does not follow it is kept as
   its problem, ``card_error``, not raised);
4. the issuer's export-policy reference is read into a :class:`PolicyRef`.

Not done here: the import policy, the audit record and the replay record. The receive
workflow (:meth:`secfp.workflows.receive.Receiver.receive`) does those around this call,
and is its only caller; the pool stores nothing but a :class:`ReceivedBundle`.

How "only the verifier makes one" is enforced: :class:`ReceivedBundle` refuses to be built
(TypeError) without ``_VERIFIER``, an object this module holds and hands to nobody;
``dataclasses.replace`` keeps it, so a copy with another statement is still sealed.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from secfp.cards.task_card import TaskCard
from secfp.errors import BadInput, VerificationError
from secfp.exchange.verify import VerifiedStatement
from secfp.fingerprint.histogram import Fingerprint
from secfp.governance.facts import Party
from secfp.mechanisms import Mechanism
from secfp.privacy.ledger import PrivacyLedger, verify_ledger

__all__ = ["PolicyRef", "ReceivedBundle", "check_privacy_claim", "receive_statement"]

_VERIFIER = object()  # held only by this module: the one key that constructs a ReceivedBundle


@dataclass(frozen=True)
class PolicyRef:
    """The issuer's export policy as the statement names it: id, digest and DUO data-use codes."""

    id: str | None
    digest: str | None
    data_use: tuple[str, ...]

    @classmethod
    def of(cls, policy: Mapping[str, Any] | None) -> PolicyRef | None:
        if not policy:
            return None
        data_use = policy.get("data_use", ())
        return cls(id=_text(policy.get("id")), digest=_text(policy.get("digest")),
                   data_use=tuple(str(c) for c in data_use) if isinstance(data_use, list | tuple) else ())


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class ReceivedBundle:
    """A bundle that passed every receiving check; only :meth:`Receiver.receive` constructs one.

    ``statement`` is what the verifier returned, ``ledger`` its privacy claim re-derived by
    our accountants, ``card`` the task card parsed against the schema (None with
    ``card_error`` saying why when it is missing or does not follow it), ``policy`` the
    issuer's export-policy reference. There is no ``from_json``: keep the bundle bytes.
    """

    statement: VerifiedStatement
    ledger: PrivacyLedger
    card: TaskCard | None
    card_error: str | None
    policy: PolicyRef | None
    _seal: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._seal is not _VERIFIER:
            raise TypeError("a ReceivedBundle is made only by Receiver.receive (verify the bundle)")

    @property
    def bundle_id(self) -> str:
        return self.statement.bundle_id

    @property
    def fingerprint(self) -> Fingerprint:
        return self.statement.fingerprint

    @property
    def issuer(self) -> Party:
        return Party(self.statement.issuer_name, self.statement.issuer_key_id)

    @property
    def checks(self) -> tuple[str, ...]:
        return self.statement.checks

    @property
    def data_use(self) -> tuple[str, ...]:
        return self.policy.data_use if self.policy is not None else ()


def _card(card: Mapping[str, Any]) -> tuple[TaskCard | None, str | None]:
    if not card:
        return None, "the bundle carries no task card"
    try:
        return TaskCard.from_json(card), None
    except BadInput as exc:
        return None, exc.diagnostics()


@functools.lru_cache(maxsize=256)
def _verified_ledger(ledger: PrivacyLedger, rows: int) -> PrivacyLedger:
    return verify_ledger(ledger, rows=rows)


def check_privacy_claim(statement: VerifiedStatement) -> PrivacyLedger:
    """Parse the signed privacy ledger and re-derive its epsilon; VerificationError if it under-declares."""
    if statement.privacy == {"mechanism": Mechanism.NONE}:
        # The minimal explicit non-DP claim (what exchange writes when given no ledger).
        return PrivacyLedger.none(spec_id=statement.fingerprint.spec_id)
    try:
        ledger = PrivacyLedger.from_json(statement.privacy)
    except BadInput as exc:
        raise VerificationError(f"privacy ledger check failed: {exc.diagnostics()}") from None
    if ledger.is_private and ledger.spec_id != statement.fingerprint.spec_id:
        raise VerificationError("privacy ledger check failed: the ledger is for another spec than the fingerprint")
    return _verified_ledger(ledger, int(statement.fingerprint.shape[0]))


def receive_statement(statement: VerifiedStatement) -> ReceivedBundle:
    """Steps 1-4 of the module docstring: the statement with its ledger, card and policy reference as types."""
    if not isinstance(statement, VerifiedStatement):
        raise TypeError("a ReceivedBundle is made only from what open_bundle returned (verify the bundle)")
    ledger = check_privacy_claim(statement)
    card, card_error = _card(statement.card)
    return ReceivedBundle(statement, ledger, card, card_error, PolicyRef.of(statement.policy), _VERIFIER)
