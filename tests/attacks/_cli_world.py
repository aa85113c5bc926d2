"""Real identities on disk, dated today, for attack tests that go through the command line."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from typer.testing import CliRunner

from secfp.cli import app
from secfp.exchange import generate_identity, save_identity
from secfp.exchange.keys import PrivateIdentity

TODAY = datetime.now(timezone.utc).replace(microsecond=0)


def fresh_identity(name: str) -> PrivateIdentity:
    return generate_identity(name, now=TODAY - timedelta(days=1), valid_for=timedelta(days=365))


def key_file(identity: PrivateIdentity, folder: Path) -> Path:
    """The private key file, unencrypted (no scrypt cost in tests), mode 0600."""
    return save_identity(identity, folder, passphrase=None, unsafe_no_passphrase=True).key_file


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])
