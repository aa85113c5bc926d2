"""Documented per-user folders: ``$SECFP_HOME`` (default ``~/.secfp``), with ``trust/`` and ``replay/``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SECFP_HOME_ENV", "secfp_home", "default_trust_dir", "default_replay_dir"]

SECFP_HOME_ENV = "SECFP_HOME"


def secfp_home() -> Path:
    value = os.environ.get(SECFP_HOME_ENV)
    return Path(value).expanduser() if value else Path.home() / ".secfp"


def default_trust_dir() -> Path:
    """The trust store used when ``--store``/``--trust`` is not given: ``$SECFP_HOME/trust``."""
    return secfp_home() / "trust"


def default_replay_dir() -> Path:
    """The replay store used when ``--replay-store`` is not given: ``$SECFP_HOME/replay``."""
    return secfp_home() / "replay"
