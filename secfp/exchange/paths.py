"""Documented per-user folders: ``$SECFP_HOME`` (default ``~/.secfp``), with ``trust/`` and ``replay/``."""

from __future__ import annotations

from pathlib import Path

from secfp._io import SECFP_HOME_ENV, secfp_home

__all__ = ["SECFP_HOME_ENV", "secfp_home", "default_trust_dir", "default_replay_dir"]


def default_trust_dir() -> Path:
    """The trust store used when ``--store``/``--trust`` is not given: ``$SECFP_HOME/trust``."""
    return secfp_home() / "trust"


def default_replay_dir() -> Path:
    """The replay store used when ``--replay-store`` is not given: ``$SECFP_HOME/replay``."""
    return secfp_home() / "replay"
