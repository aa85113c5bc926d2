"""Ranking received tasks against a query: bKLD one-vs-many, closest first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from secfp.errors import UsageError
from secfp.fingerprint.histogram import Fingerprint
from secfp.matching.bkld import one_vs_many

__all__ = ["MatchResult", "rank_sources"]


@dataclass(frozen=True)
class MatchResult:
    """One source's place in the ranking (rank 1 = closest)."""

    source: str
    distance: float
    rank: int

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "distance": self.distance, "rank": self.rank}


def rank_sources(
    query: Fingerprint,
    sources: Sequence[tuple[str, Fingerprint]],
    *,
    variant: str = "small",
    top: int | None = None,
) -> list[MatchResult]:
    """Sources ordered by bKLD to the query (ties broken by name, so output is stable)."""
    if not sources:
        raise UsageError("no sources to match against")
    if top is not None and top < 1:
        raise UsageError("--top must be at least 1")
    distances = one_vs_many(query, [fp for _, fp in sources], variant=variant)
    names = [name for name, _ in sources]
    order = sorted(range(len(names)), key=lambda i: (float(distances[i]), names[i]))
    if top is not None:
        order = order[:top]
    return [MatchResult(names[i], float(distances[i]), r + 1) for r, i in enumerate(order)]
