"""Readers for the ``[export]`` and ``[import]`` tables of a policy file (private).

:mod:`secfp.governance.policy` documents the file as a whole; this module holds the
two rule tables, their frozen values and the cross-key checks (DP caps exactly with
``dp_required``, per-issuer overrides, DUO codes, card paths).
"""

from __future__ import annotations

from dataclasses import dataclass

from secfp.governance._schema import Table, fail
from secfp.governance.card import CardRules
from secfp.governance.duo import RESEARCH_AREAS, Purpose, code_problems
from secfp.governance.facts import Party, normalize_key_id

__all__ = ["ExportRules", "IssuerRule", "ImportRules", "read_export", "read_import"]

@dataclass(frozen=True, kw_only=True)
class ExportRules:
    """The ``[export]`` table. DP parameters are set exactly when ``dp_required``."""

    min_source_images: int
    min_sampled_images: int
    dp_required: bool
    max_epsilon: float | None
    max_delta: float | None
    dataset_epsilon_budget: float | None
    allow_public: bool
    allow_any_recipient: bool
    recipients: tuple[Party, ...]
    max_lifetime_days: int
    card: CardRules
    data_use: tuple[str, ...]
    # DP only: the public Poisson rate (at most), the coarsest-at-least privacy unit, an explicit --dataset.
    dp_sample_rate: float | None = None
    privacy_unit: str | None = None
    require_dataset: bool = False

    def to_json(self) -> dict:
        return {
            "dp_sample_rate": self.dp_sample_rate,
            "privacy_unit": self.privacy_unit,
            "require_dataset": self.require_dataset,
            "min_source_images": self.min_source_images,
            "min_sampled_images": self.min_sampled_images,
            "dp_required": self.dp_required,
            "max_epsilon": self.max_epsilon,
            "max_delta": self.max_delta,
            "dataset_epsilon_budget": self.dataset_epsilon_budget,
            "allow_public": self.allow_public,
            "allow_any_recipient": self.allow_any_recipient,
            "recipients": [r.to_json() for r in self.recipients],
            "max_lifetime_days": self.max_lifetime_days,
            "card": self.card.to_json(),
            "data_use": list(self.data_use),
        }


@dataclass(frozen=True, kw_only=True)
class IssuerRule:
    """One ``[[import.issuers]]`` entry: an issuer and its own overrides (None = global)."""

    party: Party
    dp_required: bool | None = None
    max_epsilon: float | None = None
    max_age_days: int | None = None
    spec_ids: tuple[str, ...] | None = None

    def to_json(self) -> dict:
        return {
            **self.party.to_json(),
            "dp_required": self.dp_required,
            "max_epsilon": self.max_epsilon,
            "max_age_days": self.max_age_days,
            "spec_ids": None if self.spec_ids is None else list(self.spec_ids),
        }


@dataclass(frozen=True, kw_only=True)
class ImportRules:
    """The ``[import]`` table."""

    allow_any_issuer: bool
    issuers: tuple[IssuerRule, ...]
    dp_required: bool
    max_epsilon: float | None
    max_delta: float | None
    max_age_days: int
    accept_any_spec: bool
    spec_ids: tuple[str, ...]
    purpose: Purpose

    def to_json(self) -> dict:
        return {
            "allow_any_issuer": self.allow_any_issuer,
            "issuers": [i.to_json() for i in self.issuers],
            "dp_required": self.dp_required,
            "max_epsilon": self.max_epsilon,
            "max_delta": self.max_delta,
            "max_age_days": self.max_age_days,
            "accept_any_spec": self.accept_any_spec,
            "spec_ids": list(self.spec_ids),
            "purpose": self.purpose.to_json(),
        }


def _party(table: Table) -> Party:
    name = table.string("name")
    key_id = table.string("key_id")
    try:
        normalize_key_id(key_id)
    except ValueError as exc:
        raise fail(table.source, table.key("key_id"), str(exc)) from None
    return Party(name=name, key_id=key_id)


def _no_duplicate_parties(parties: list[Party], table_key: str, source: str) -> None:
    names = [p.name for p in parties]
    keys = [normalize_key_id(p.key_id) for p in parties]
    for label, values in (("name", names), ("key_id", keys)):
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise fail(source, table_key, f"{label} {', '.join(repeated)} listed more than once")


def _dp_parameters(
    table: Table, dp_required: bool, *, delta_required: bool, names: tuple[str, ...]
) -> tuple[float | None, float | None]:
    # A cap without a DP requirement would let an unbounded (non-DP) release through
    # while reading as if privacy loss were capped; a requirement without a cap bounds
    # nothing. So the caps are required with dp_required = true and refused without it.
    if not dp_required:
        for name in names:
            if table.has(name):
                raise fail(table.source, table.key(name), "only allowed with dp_required = true")
        return None, None
    max_epsilon = table.number("max_epsilon", positive=True)
    max_delta = table.number("max_delta", required=delta_required, below_one=True)
    return max_epsilon, max_delta


def read_export(table: Table) -> ExportRules:
    dp_required = table.boolean("dp_required")
    max_epsilon, max_delta = _dp_parameters(
        table, dp_required, delta_required=True,
        names=("max_epsilon", "max_delta", "dataset_epsilon_budget", "dp_sample_rate", "privacy_unit", "require_dataset"),
    )
    budget = table.number("dataset_epsilon_budget", required=False, positive=True) if dp_required else None
    sample_rate = table.number("dp_sample_rate", required=False, positive=True) if dp_required else None
    if sample_rate is not None and sample_rate > 1:
        raise fail(table.source, table.key("dp_sample_rate"), "must be at most 1")
    privacy_unit = table.string("privacy_unit", required=False) if dp_required else None
    if privacy_unit is not None and privacy_unit not in ("patient", "volume", "image"):
        raise fail(table.source, table.key("privacy_unit"), "must be patient, volume or image")
    require_dataset = bool(table.boolean("require_dataset", required=False)) if dp_required else False
    if budget is not None and max_epsilon is not None and budget < max_epsilon:
        raise fail(table.source, table.key("dataset_epsilon_budget"), "is smaller than max_epsilon")
    recipient_tables = table.tables("recipients", required=False) or ()
    recipients = []
    for entry in recipient_tables:
        recipients.append(_party(entry))
        entry.finish()
    _no_duplicate_parties(recipients, table.key("recipients"), table.source)
    allow_public = table.boolean("allow_public")
    allow_any_recipient = table.boolean("allow_any_recipient", required=False) or False
    if not (recipients or allow_public or allow_any_recipient):
        # Deny-all would be legal but is almost surely a mistake: say so now, not at export.
        raise fail(table.source, table.key("recipients"), "required unless allow_public or allow_any_recipient")
    card_table = table.table("card", required=False)
    if card_table is None:
        card = CardRules()
    else:
        allow = card_table.strings("allow", required=False) or ()
        never = card_table.strings("never", required=False) or ()
        card_table.finish()
        try:
            card = CardRules(allow=allow, never=never)
        except ValueError as exc:
            raise fail(table.source, card_table.prefix, str(exc)) from None
    data_use = table.strings("data_use")
    problems = code_problems(data_use)
    if problems:
        raise fail(table.source, table.key("data_use"), "; ".join(problems))
    rules = ExportRules(
        min_source_images=table.integer("min_source_images", minimum=1),
        min_sampled_images=table.integer("min_sampled_images", minimum=1),
        dp_required=dp_required,
        max_epsilon=max_epsilon,
        max_delta=max_delta,
        dataset_epsilon_budget=budget,
        allow_public=allow_public,
        allow_any_recipient=allow_any_recipient,
        recipients=tuple(recipients),
        max_lifetime_days=table.integer("max_lifetime_days", minimum=1),
        card=card,
        data_use=data_use,
        dp_sample_rate=sample_rate,
        privacy_unit=privacy_unit,
        require_dataset=require_dataset,
    )
    table.finish()
    return rules


def _issuer(entry: Table, default_dp: bool) -> IssuerRule:
    party = _party(entry)
    dp_required = entry.boolean("dp_required", required=False)
    effective_dp = default_dp if dp_required is None else dp_required
    if not effective_dp and entry.has("max_epsilon"):
        raise fail(entry.source, entry.key("max_epsilon"), "only allowed when DP is required of this issuer")
    max_epsilon = entry.number("max_epsilon", required=False, positive=True)
    if dp_required is True and not default_dp and max_epsilon is None:
        raise fail(entry.source, entry.key("max_epsilon"), "required: this issuer must use DP, so cap its epsilon")
    spec_ids = entry.strings("spec_ids", required=False)
    if spec_ids is not None and not spec_ids:
        raise fail(entry.source, entry.key("spec_ids"), "must not be empty (an empty list accepts nothing)")
    rule = IssuerRule(
        party=party,
        dp_required=dp_required,
        max_epsilon=max_epsilon,
        max_age_days=entry.integer("max_age_days", required=False, minimum=1),
        spec_ids=spec_ids,
    )
    entry.finish()
    return rule


def _purpose(table: Table) -> Purpose:
    area = table.string("research_area")
    if area not in RESEARCH_AREAS:
        raise fail(table.source, table.key("research_area"), f"must be one of {', '.join(RESEARCH_AREAS)}")
    values = {
        "research_area": area,
        "diseases": table.strings("diseases", required=False) or (),
        "methods_development": table.boolean("methods_development"),
        "commercial": table.boolean("commercial"),
        "for_profit_organisation": table.boolean("for_profit_organisation"),
        "ethics_approval": table.boolean("ethics_approval"),
        "clinical_care": table.boolean("clinical_care", required=False) or False,
        "genetic_studies": table.boolean("genetic_studies", required=False) or False,
        "accept_obligations": table.strings("accept_obligations", required=False) or (),
    }
    table.finish()
    try:
        return Purpose(**values)
    except ValueError as exc:
        raise fail(table.source, table.prefix, str(exc)) from None


def read_import(table: Table) -> ImportRules:
    dp_required = table.boolean("dp_required")
    max_epsilon, max_delta = _dp_parameters(
        table, dp_required, delta_required=False, names=("max_epsilon", "max_delta")
    )
    allow_any_issuer = table.boolean("allow_any_issuer")
    issuers = tuple(_issuer(entry, dp_required) for entry in table.tables("issuers", required=False) or ())
    _no_duplicate_parties([i.party for i in issuers], table.key("issuers"), table.source)
    if not allow_any_issuer and not issuers:
        raise fail(table.source, table.key("issuers"), "required unless allow_any_issuer = true")
    accept_any_spec = table.boolean("accept_any_spec", required=False) or False
    spec_ids = table.strings("spec_ids", required=False)
    if accept_any_spec == (spec_ids is not None):
        raise fail(table.source, table.key("spec_ids"), "give exactly one of spec_ids and accept_any_spec = true")
    if spec_ids is not None and not spec_ids:
        raise fail(table.source, table.key("spec_ids"), "must not be empty (an empty list accepts nothing)")
    rules = ImportRules(
        allow_any_issuer=allow_any_issuer,
        issuers=issuers,
        dp_required=dp_required,
        max_epsilon=max_epsilon,
        max_delta=max_delta,
        max_age_days=table.integer("max_age_days", minimum=1),
        accept_any_spec=accept_any_spec,
        spec_ids=spec_ids or (),
        purpose=_purpose(table.table("purpose")),
    )
    table.finish()
    return rules
