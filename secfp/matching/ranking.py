"""Ranking sources against a query: bKLD by the one engine (:class:`~secfp.matching.engine.SourceMatrix`)."""

from __future__ import annotations

from collections.abc import Sequence

from secfp.errors import UsageError
from secfp.fingerprint.histogram import Fingerprint
from secfp.matching.bkld import check_compatible
from secfp.matching.engine import SourceMatrix
from secfp.matching.result import MatchResult, ordered

__all__ = ["MatchResult", "ordered", "rank_sources"]


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
    check_compatible(query, *(fp for _, fp in sources))
    names = [name for name, _ in sources]
    if len(set(names)) != len(names):
        raise UsageError("two sources share a name")
    return SourceMatrix.build(names, [fp for _, fp in sources]).rank(query, variant=variant, top=top)
