from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "exchange"))

from secfp_peers import PeerSimulator  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SECFP_HOME", str(tmp_path / "secfp-home"))
    monkeypatch.delenv("SECFP_PASSPHRASE", raising=False)


@pytest.fixture
def peers(tmp_path) -> PeerSimulator:
    return PeerSimulator(tmp_path)
