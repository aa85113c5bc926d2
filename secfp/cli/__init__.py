"""The ``secfp`` command line: thin wrappers that parse, call the library, render.

Each command group lives in its own module and registers itself on ``app``.
Every :class:`secfp.errors.SecfpError` becomes one line on stderr and its
documented exit code (README, "Exit codes"); anything else is an internal
error (exit 1) whose traceback is shown only with ``SECFP_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys

import typer
from typer.core import TyperGroup
from typer.exceptions import Abort, Exit, TyperException

from secfp.errors import SecfpError

__all__ = ["app", "main"]


class _SecfpGroup(TyperGroup):
    """Maps library errors to exit codes for every command, also under CliRunner."""

    def invoke(self, ctx: typer.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except SecfpError as exc:
            typer.echo(f"secfp: error: {exc.diagnostics()}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            typer.echo("secfp: interrupted; nothing was written", err=True)
            ctx.exit(130)
        except (Exit, Abort, TyperException):
            raise
        except Exception as exc:  # noqa: BLE001 - the one place that turns bugs into exit 1
            if os.environ.get("SECFP_DEBUG"):
                raise
            typer.echo(
                f"secfp: internal error: {type(exc).__name__}: {exc} (set SECFP_DEBUG=1 for a traceback)",
                err=True,
            )
            ctx.exit(1)


app = typer.Typer(
    cls=_SecfpGroup,
    no_args_is_help=True,
    add_completion=False,
    # Locals of our frames hold keys and passphrases: never print them (STYLE.md, typer).
    pretty_exceptions_show_locals=False,
    help="Secure task fingerprints for medical imaging: fingerprint, export, verify, match.",
)


def _register_commands() -> None:
    from secfp.cli import (
        exchange_cmds,
        fingerprint_cmds,
        governance_cmds,
        bench_cmds,
        pool_cmds,
        privacy_cmds,
    )

    from secfp.cli import cloud_cmds  # noqa: E402 - publish, and `pool sync` on the pool group

    for module in (fingerprint_cmds, exchange_cmds, privacy_cmds, governance_cmds, pool_cmds, bench_cmds, cloud_cmds):
        module.register(app)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())
