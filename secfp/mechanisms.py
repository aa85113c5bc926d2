"""The names of the privacy mechanisms a statement can declare: one enum, spelled once.

``StrEnum`` members equal their strings, so signed JSON (``"mechanism": "none"``) and
policies compare with them directly.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Mechanism"]


class Mechanism(StrEnum):
    """``discrete_gaussian``: calibrated discrete Gaussian noise on the counts; ``none``: exact counts."""

    DISCRETE_GAUSSIAN = "discrete_gaussian"
    NONE = "none"
