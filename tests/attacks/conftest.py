from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "exchange"))

from secfp_peers import PeerSimulator  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from secfp.cli import app  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SECFP_HOME", str(tmp_path / "secfp-home"))
    monkeypatch.delenv("SECFP_PASSPHRASE", raising=False)


@pytest.fixture
def peers(tmp_path) -> PeerSimulator:
    return PeerSimulator(tmp_path)


@pytest.fixture
def alice_cli(tmp_path, monkeypatch):
    """The CLI with its own SECFP_HOME (tmp_path/home) and a passphrase-less key for alice in tmp_path/alice."""
    monkeypatch.setenv("SECFP_HOME", str(tmp_path / "home"))
    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, [str(a) for a in args])

    assert run("keygen", "alice", "--out", tmp_path / "alice", "--no-passphrase").exit_code == 0
    return run
