"""A ranked source, and the one ordering every ranking uses: distance, then name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MatchResult", "ordered"]


@dataclass(frozen=True)
class MatchResult:
    """One source's place in the ranking (rank 1 = closest)."""

    source: str
    distance: float
    rank: int

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "distance": self.distance, "rank": self.rank}


def ordered(names: Sequence[str], distances: np.ndarray, *, top: int | None = None) -> list[MatchResult]:
    """``names`` closest first (ties broken by name, so output is stable), cut to ``top``."""
    order = sorted(range(len(names)), key=lambda i: (float(distances[i]), names[i]))
    if top is not None:
        order = order[:top]
    return [MatchResult(names[i], float(distances[i]), r + 1) for r, i in enumerate(order)]
