"""Rules that only an export policy uses: dataset size, budget, recipients, lifetime, card.

These decide on :class:`~secfp.governance.facts.ExportRequest`, the facts of one
release about to happen. The DP rules shared with import policies (``DPRequired``,
``MaxEpsilon``, ``MaxDelta``) live in :mod:`secfp.governance.rules`.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from secfp.governance.card import CardRules
from secfp.governance.facts import ExportRequest, Party, normalize_key_id, same_key_id
from secfp.mechanisms import Mechanism

__all__ = [
    "MinSourceImages",
    "MinSampledImages",
    "DatasetBudget",
    "RecipientsAllowed",
    "PublicAllowed",
    "MaxLifetime",
    "CardFieldsAllowed",
    "DataUseCarried",
    "PrivacyUnitRequired",
    "DatasetNamed",
]

_DP = Mechanism.DISCRETE_GAUSSIAN.value


@dataclass(frozen=True)
class MinSourceImages:
    minimum: int

    def reasons(self, facts: ExportRequest) -> tuple[str, ...]:
        if facts.counts_kind == "unknown":
            # A fingerprint file was sampled with replacement: its n says nothing about the source.
            return ("export.min_source_images: the source image count of a fingerprint file is unknown; "
                    "export the images instead",)
        if facts.source_image_count >= self.minimum:
            return ()
        what = "an estimated (DP)" if facts.counts_kind == "dp_estimate" else ""
        return (
            f"export.min_source_images: the dataset has {what + ' ' if what else ''}{facts.source_image_count} images, "
            f"at least {self.minimum} are required",
        )


@dataclass(frozen=True)
class MinSampledImages:
    minimum: int

    def reasons(self, facts: ExportRequest) -> tuple[str, ...]:
        if facts.sampled_count >= self.minimum:
            return ()
        what = "an estimated (DP) " if facts.counts_kind == "dp_estimate" else ""
        return (
            f"export.min_sampled_images: {what}{facts.sampled_count} images were sampled, "
            f"at least {self.minimum} are required",
        )


@dataclass(frozen=True)
class DatasetBudget:
    """Total epsilon per dataset under this policy (basic composition: epsilons add).

    The privacy ledger keeps its own budget (exit 7); this is the institution's
    governance cap on top of it, checked before anything is released.
    """

    budget: float

    def reasons(self, facts: ExportRequest) -> tuple[str, ...]:
        if facts.dp_mechanism != _DP or facts.epsilon is None:
            return ()
        total = facts.dataset_spent_epsilon + facts.epsilon
        if total <= self.budget:
            return ()
        left = max(self.budget - facts.dataset_spent_epsilon, 0.0)
        return (
            f"export.dataset_epsilon_budget: this release (epsilon {facts.epsilon:g}) would bring the "
            f"dataset to {total:g} of its budget of {self.budget:g} ({left:g} left)",
        )


@dataclass(frozen=True)
class RecipientsAllowed:
    """Every recipient must be on the allow-list by card name *and* key id."""

    allowed: tuple[Party, ...]
    allow_any: bool = False

    def reasons(self, facts: ExportRequest) -> tuple[str, ...]:
        if facts.public:
            return ()
        if not facts.recipients:
            return ("export.recipients: the bundle names no recipients and is not public",)
        if self.allow_any:
            return ()
        out = []
        for recipient in facts.recipients:
            same_name = [p for p in self.allowed if p.name == recipient.name]
            if any(same_key_id(p.key_id, recipient.key_id) for p in same_name):
                continue
            if same_name:
                out.append(
                    f"export.recipients: recipient {recipient.short()} has another key than the "
                    f"allow-list names for {recipient.name!r} "
                    f"({normalize_key_id(same_name[0].key_id)[:12]}…)"
                )
            else:
                out.append(f"export.recipients: recipient {recipient.short()} is not on the allow-list")
        return tuple(out)


@dataclass(frozen=True)
class PublicAllowed:
    allowed: bool

    def reasons(self, facts: ExportRequest) -> tuple[str, ...]:
        if facts.public and not self.allowed:
            return ("export.allow_public: public (unencrypted) bundles are not allowed",)
        return ()


@dataclass(frozen=True)
class MaxLifetime:
    days: int

    def reasons(self, facts: ExportRequest) -> tuple[str, ...]:
        if facts.lifetime <= _dt.timedelta(0):
            return ("export.max_lifetime_days: the bundle's lifetime must be positive",)
        if facts.lifetime <= _dt.timedelta(days=self.days):
            return ()
        days = facts.lifetime / _dt.timedelta(days=1)
        return (f"export.max_lifetime_days: the bundle would live {days:g} days, at most {self.days} are allowed",)


@dataclass(frozen=True)
class CardFieldsAllowed:
    """A second line of defence behind :func:`filter_card`: no field the card rules
    withhold may be in the release."""

    card: CardRules

    def reasons(self, facts: ExportRequest) -> tuple[str, ...]:
        out = []
        for path in facts.card_fields:
            why = self.card.why_withheld(path)
            if why:
                out.append(f"export.card: {why}")
        return tuple(out)


@dataclass(frozen=True)
class DataUseCarried:
    """The statement must carry every DUO code of the policy (it may add restrictions)."""

    codes: tuple[str, ...]

    def reasons(self, facts: ExportRequest) -> tuple[str, ...]:
        missing = [code for code in self.codes if code not in facts.data_use]
        if not missing:
            return ()
        return (f"export.data_use: the statement must carry data-use terms {', '.join(missing)}",)


_COARSENESS = {"patient": 0, "volume": 1, "image": 2}


@dataclass(frozen=True)
class PrivacyUnitRequired:
    """A DP release must protect at least this unit (``patient`` is coarser than ``volume``, than ``image``)."""

    unit: str

    def reasons(self, facts: ExportRequest) -> tuple[str, ...]:
        if facts.dp_mechanism != _DP:
            return ()
        if facts.privacy_unit is not None and _COARSENESS[facts.privacy_unit] <= _COARSENESS[self.unit]:
            return ()
        return (f"export.privacy_unit: the release protects one {facts.privacy_unit or 'unknown unit'}, "
                f"the policy requires at least one {self.unit}",)


@dataclass(frozen=True)
class DatasetNamed:
    """The privacy budget is charged to an id the data holder gave (``--dataset``), not a derived one."""

    def reasons(self, facts: ExportRequest) -> tuple[str, ...]:
        if facts.dp_mechanism != _DP or facts.dataset_explicit:
            return ()
        return ("export.require_dataset: name the dataset explicitly (--dataset) so that its budget binds",)
