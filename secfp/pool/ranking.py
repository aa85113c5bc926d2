"""A ranking over the pool, and the transfer plan from it (pure: reads and writes nothing).

Data-use terms in the plan (:func:`cotraining_data_use_rule`): co-training is the one
scenario that uses the source's *data*, so a source is not suggested for it when the
DUO codes its statement carries (``policy.data_use``) do not allow our purpose
(:func:`secfp.governance.incompatibilities`). Our purpose is the import policy's
``[import.purpose]``; without a policy it is :data:`DEFAULT_PURPOSE`, a cautious one:
non-commercial biomedical methods research by a not-for-profit, *without* declared ethics
approval and accepting no obligations, so ``NCU``/``NPU`` pass while ``IRB`` or ``PUB``
need a policy that declares them. A source without codes is judged by its card alone
(``data_shareable``); with an import policy such a bundle never enters the pool, since
every policy states a purpose. The other scenarios hand over an architecture name,
weights under their own licence and terms (shown in the plan), or an augmentation
policy, not data, so the codes do not gate them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from secfp.errors import UsageError
from secfp.governance import Purpose, incompatibilities
from secfp.matching.uncertainty import MatchUncertainty
from secfp.planning.planner import SCENARIOS, Candidate, Exclusion, TransferPlan, plan_transfer
from secfp.pool._schema import PoolEntry

__all__ = ["DEFAULT_PURPOSE", "Skipped", "PoolMatch", "PoolRanking", "plan_from_ranking", "cotraining_data_use_rule"]

DEFAULT_PURPOSE = Purpose(research_area="biomedical", methods_development=True, commercial=False,
                          for_profit_organisation=False, ethics_approval=False)


@dataclass(frozen=True)
class Skipped:
    """A bundle of the query's spec that was not used, and why."""

    bundle_id: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"bundle_id": self.bundle_id, "reason": self.reason}


@dataclass(frozen=True)
class PoolMatch:
    """One ranked bundle: ``source`` is its bundle id (rank 1 = closest)."""

    source: str
    distance: float
    rank: int
    entry: PoolEntry

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "distance": self.distance, "rank": self.rank, **self.entry.facts_json(),
                "checks": list(self.entry.checks)}


@dataclass(frozen=True)
class PoolRanking:
    """A ranking over a pool, and what was left out of it."""

    spec_id: str
    variant: str
    matches: tuple[PoolMatch, ...]
    skipped: tuple[Skipped, ...]
    other_specs: Mapping[str, int]
    considered: int
    cached: bool
    #: Bundle id -> the distance's floor, bootstrap interval and tie group, for the closest
    #: matches (:func:`secfp.matching.uncertainty.explain_matches`); empty when not asked for.
    uncertainty: Mapping[str, MatchUncertainty] = field(default_factory=dict)

    def statements(self) -> dict[str, PoolEntry]:
        """Source -> entry, for ``secfp.report.build_report(statements=...)``."""
        return {m.source: m.entry for m in self.matches}

    def evidence(self) -> dict[str, dict[str, Any]]:
        """Source -> distance evidence for ``secfp.report.build_report(evidence=...)``.

        The percentile is the share of the whole ranking at or closer than the source (lower
        = closer); ``tied`` says the source is within noise of the closest source.
        """
        n = len(self.matches)
        first = self.uncertainty.get(self.matches[0].source) if self.matches else None
        out = {}
        for m in self.matches:
            u = self.uncertainty.get(m.source)
            if u is None:
                continue
            out[m.source] = {"distance_floor": u.distance_floor, "distance_low": u.distance_ci[0],
                             "distance_high": u.distance_ci[1],
                             "pool_percentile": 100.0 * (m.rank - 1) / (n - 1) if n > 1 else 0.0,
                             "tied": first is not None and m.rank > 1 and u.tie_group == first.tie_group}
        return out

    def to_json(self) -> dict[str, Any]:
        return {"spec_id": self.spec_id, "variant": self.variant, "considered": self.considered,
                "used": self.considered - len(self.skipped),
                "matches": [m.to_json() for m in self.matches], "skipped": [s.to_json() for s in self.skipped],
                "other_specs": dict(self.other_specs), "cached_matrix": self.cached}


def cotraining_data_use_rule(data_use: Mapping[str, Sequence[str]],
                             purpose: Purpose) -> Callable[[Candidate, str], str | None]:
    """A ``refuse`` hook for :func:`~secfp.planning.planner.plan_transfer` (module docstring)."""

    def refuse(candidate: Candidate, scenario: str) -> str | None:
        codes = tuple(data_use.get(candidate.source_id, ()))
        if scenario != "cotraining" or not codes:
            return None
        reasons = incompatibilities(codes, purpose)
        if not reasons:
            return None
        return (f"co-training uses the source's data, and its data-use terms ({', '.join(codes)}) do not allow "
                f"our purpose: {'; '.join(reasons)}")

    return refuse


def plan_from_ranking(ranking: PoolRanking, *, query_card: Any = None, top: int | None = None,
                      refuse: Callable[[Candidate, str], str | None] | None = None,
                      purpose: Purpose | None = None) -> TransferPlan:
    """The transfer plan over a ranking's bundles (small-variant bKLD and each bundle's card).

    A bundle whose card is missing or does not follow the task-card schema is excluded
    from every scenario with the reason. ``refuse`` (the caller's) runs after the
    co-training data-use rule, which judges against ``purpose`` (default
    :data:`DEFAULT_PURPOSE`). Pure: reads nothing.
    """
    if ranking.variant != "small":
        raise UsageError("the planner's weights were fitted on the small bKLD variant: rank with variant='small'")
    candidates: list[Candidate] = []
    excluded: list[Exclusion] = []
    for match in ranking.matches:
        card = match.entry.task_card
        if card is None:
            excluded += [Exclusion(s, match.source, f"its task card cannot be used: {match.entry.card_error}")
                         for s in SCENARIOS]
            continue
        u = ranking.uncertainty.get(match.source)
        candidates.append(Candidate(match.source, match.distance, card,
                                    distance_floor=u.distance_floor if u is not None else None,
                                    distance_ci=u.distance_ci if u is not None else None,
                                    tie_group=u.tie_group if u is not None else None))
    rule = cotraining_data_use_rule({m.source: m.entry.data_use for m in ranking.matches},
                                    purpose if purpose is not None else DEFAULT_PURPOSE)

    def combined(candidate: Candidate, scenario: str) -> str | None:
        reason = rule(candidate, scenario)
        return reason if reason is not None or refuse is None else refuse(candidate, scenario)

    # Closeness ranks count every matched bundle, including those left out above for their card.
    plan = plan_transfer(candidates, query_card=query_card, top=top, refuse=combined,
                         closeness={m.source: (m.rank, len(ranking.matches)) for m in ranking.matches})
    return replace(plan, excluded=plan.excluded + tuple(excluded))
