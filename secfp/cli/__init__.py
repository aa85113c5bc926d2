"""The ``secfp`` command line: thin wrappers that parse, call the library, render.

Each command group lives in its own module and registers itself on ``app``.
Failures are answered here, in one place, for every command:

* a :class:`secfp.errors.SecfpError` becomes one line on stderr and its
  documented exit code (README, "Exit codes");
* with ``--json`` anywhere among the arguments, stdout also carries exactly one
  JSON document ``{"error": {"code", "kind", "message", "details"}}`` whose
  ``code`` is the exit code, for library errors, usage errors (2) and internal
  errors (1) alike;
* anything unexpected is an internal error (exit 1) whose traceback is shown
  only with ``SECFP_DEBUG=1``;
* a closed stdout (``secfp ... | head -1``) ends quietly with 141 (128 + SIGPIPE),
  the code a shell reports for a tool killed by a broken pipe.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup
from typer.exceptions import Abort, Exit

try:  # typer >= 0.20 vendors click; older typer uses click itself
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException

from secfp.cli import _render
from secfp.cli._options import JSON_FLAG
from secfp.cli._render import error_document, error_kind, print_json
from secfp.errors import SecfpError

__all__ = ["app", "main", "BROKEN_PIPE_EXIT"]

#: Exit code after the reader of stdout went away (128 + SIGPIPE).
BROKEN_PIPE_EXIT = 141
_JSON_META = "secfp.json"


def _wants_json(args: list[str]) -> bool:
    """``--json`` given before any ``--`` (after it, it would be a file name)."""
    if "--" in args:
        args = args[: args.index("--")]
    return JSON_FLAG in args


def _details(exc: SecfpError) -> dict[str, Any]:
    details: dict[str, Any] = {}
    reasons = getattr(exc, "reasons", None)
    if reasons:
        details["reasons"] = [str(r) for r in reasons]
    policy_id = getattr(exc, "policy_id", None)
    if policy_id:
        details["policy_id"] = str(policy_id)
    extra = getattr(exc, "details", None)
    if isinstance(extra, dict):
        details.update(extra)
    return details


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


class _SecfpGroup(TyperGroup):
    """Maps every failure to an exit code (and a JSON document under --json), also under CliRunner."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        ctx.meta[_JSON_META] = _wants_json(list(args))
        _render.documents_printed = 0
        try:
            return super().parse_args(ctx, args)
        except ClickException as exc:
            self._json_error(ctx, code=exc.exit_code, kind="usage", message=exc.format_message())
            raise

    def _json_error(self, ctx: typer.Context, *, code: int, kind: str, message: str,
                    details: dict[str, Any] | None = None) -> None:
        # A command that already printed its document gets no second one. Batch commands
        # print none on failure: their outcomes travel in the error's details
        # (:class:`secfp.errors.BatchFailed`).
        if ctx.meta.get(_JSON_META) and not _render.documents_printed:
            try:
                print_json(error_document(code=code, kind=kind, message=message, details=details))
            except BrokenPipeError:
                _quiet_stdout()

    def invoke(self, ctx: typer.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except SecfpError as exc:
            message = exc.diagnostics()
            self._json_error(ctx, code=exc.exit_code, kind=error_kind(exc), message=message, details=_details(exc))
            typer.echo(f"secfp: error: {message}", err=True)
            ctx.exit(exc.exit_code)
        except ClickException as exc:
            self._json_error(ctx, code=exc.exit_code, kind="usage", message=exc.format_message())
            raise
        except BrokenPipeError:
            _quiet_stdout()
            ctx.exit(BROKEN_PIPE_EXIT)
        except KeyboardInterrupt:
            self._json_error(ctx, code=130, kind="interrupted", message="interrupted; nothing was written")
            typer.echo("secfp: interrupted; nothing was written", err=True)
            ctx.exit(130)
        except Exit as exc:
            code = exc.exit_code
            if code not in (0, None):
                self._json_error(ctx, code=code, kind="exit", message=f"exit code {code}")
            raise
        except Abort:
            self._json_error(ctx, code=1, kind="aborted", message="aborted")
            raise
        except Exception as exc:  # noqa: BLE001 - the one place that turns bugs into exit 1
            if os.environ.get("SECFP_DEBUG"):
                raise
            message = f"internal error: {type(exc).__name__}: {exc} (set SECFP_DEBUG=1 for a traceback)"
            self._json_error(ctx, code=1, kind="internal", message=message)
            typer.echo(f"secfp: {message}", err=True)
            ctx.exit(1)


def _version(ctx: typer.Context, value: bool) -> None:
    if value:
        from secfp import __version__

        if ctx.meta.get(_JSON_META):
            print_json({"name": "secfp", "version": __version__})
        else:
            typer.echo(f"secfp {__version__}")
        raise typer.Exit(0)


app = typer.Typer(
    cls=_SecfpGroup,
    no_args_is_help=True,
    add_completion=False,
    # Locals of our frames hold keys and passphrases: never print them (STYLE.md, typer).
    pretty_exceptions_show_locals=False,
    # Help text is plain text: "[dask]" in an install hint must not be eaten as markup.
    rich_markup_mode=None,
    help="Secure task fingerprints for medical imaging: fingerprint, export, verify, match.",
)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_version, help="Print the version and exit."),
    as_json: bool = typer.Option(False, JSON_FLAG, hidden=True, help="With --version: print it as JSON."),
) -> None:
    """Secure task fingerprints for medical imaging: fingerprint, export, verify, match."""


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
    try:
        code = app()
    except BrokenPipeError:
        _quiet_stdout()
        code = BROKEN_PIPE_EXIT
    sys.exit(code)
