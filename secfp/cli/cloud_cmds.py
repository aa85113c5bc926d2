"""The knowledge cloud on the command line: ``secfp publish`` and ``secfp pool sync``.

Thin: each command parses its options, builds one :class:`secfp.cloud.Connection`,
calls :func:`secfp.cloud.publish_bundles` or :func:`secfp.cloud.sync_pool` and renders.
Credentials: ``--username`` with the password in ``$SECFP_REGISTRY_PASSWORD`` (or the
variable ``--password-env`` names), else the Docker config (``$DOCKER_CONFIG`` or
``~/.docker/config.json``) and its credential helpers. TLS by default (``--ca-file``
for a private CA); ``--plain-http`` only for a registry on loopback.

``pool sync`` exits like ``pool add``: 0 when every artifact was added, already present
or seen before, else the most severe failure's code (4 before 5 before 3 before 2).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from secfp.cli._render import print_json, stderr
from secfp.cli.pool_cmds import AuditOption, JsonOption, KeyOption, PolicyOption, PoolOption, TrustOption, pool_app

__all__ = ["register", "publish", "pool_sync"]

UsernameOption = Annotated[Optional[str], typer.Option(
    "--username", help="Registry user; the password comes from the environment variable --password-env names.")]
PasswordEnvOption = Annotated[str, typer.Option(
    "--password-env", help="Environment variable holding the registry password.")]
CAFileOption = Annotated[Optional[Path], typer.Option("--ca-file", help="CA bundle (PEM) for the registry's TLS.")]
PlainHTTPOption = Annotated[bool, typer.Option(
    "--plain-http", help="Plain HTTP, for a registry on this machine (loopback) only.")]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _note(text: str) -> None:
    stderr.print(text, markup=False, highlight=False, soft_wrap=True)


def _client(reference: str, *, username: str | None, password_env: str, ca_file: Path | None, plain_http: bool):
    from secfp.cloud import Connection, Credentials, RegistryClient, parse_reference
    from secfp.errors import UsageError

    ref = parse_reference(reference)
    credentials = None
    if username is not None:
        password = os.environ.get(password_env)
        if not password:
            raise UsageError(f"--username {username}: set the password in ${password_env}")
        credentials = Credentials(username, password)
    return ref, RegistryClient(Connection(ref, credentials=credentials, ca_file=ca_file, plain_http=plain_http))


def publish(
    bundles: Annotated[list[Path], typer.Argument(metavar="BUNDLE...", help="Bundle files to publish.")],
    reference: Annotated[str, typer.Argument(
        metavar="REFERENCE", help="oci://HOST\\[:PORT]/NAMESPACE/NAME\\[:TAG] (tag: default the bundle id).")],
    username: UsernameOption = None,
    password_env: PasswordEnvOption = "SECFP_REGISTRY_PASSWORD",
    ca_file: CAFileOption = None,
    plain_http: PlainHTTPOption = False,
    audit_log: AuditOption = None,
    as_json: JsonOption = False,
) -> None:
    """Push each bundle to an OCI registry as one artifact (receivers verify it in full)."""
    from secfp.cloud import publish_bundles
    from secfp.governance import default_actor, resolve_audit_log

    ref, client = _client(reference, username=username, password_env=password_env, ca_file=ca_file,
                          plain_http=plain_http)
    done = publish_bundles(bundles, ref, client=client, audit_log=resolve_audit_log(audit_log), actor=default_actor(),
                           now=_now())
    if as_json:
        print_json({"registry": ref.registry, "results": [p.to_json() for p in done]})
        return
    for p in done:
        typer.echo(f"published {p.file} -> {p.artifact} ({p.pushed.manifest_digest})")


def pool_sync(
    reference: Annotated[str, typer.Argument(
        metavar="REFERENCE", help="oci://HOST\\[:PORT]/NAMESPACE\\[/NAME]\\[:TAG] to take bundles from.")],
    pool: PoolOption,
    key: KeyOption = None,
    trust: TrustOption = None,
    policy: PolicyOption = None,
    audit_log: AuditOption = None,
    username: UsernameOption = None,
    password_env: PasswordEnvOption = "SECFP_REGISTRY_PASSWORD",
    ca_file: CAFileOption = None,
    plain_http: PlainHTTPOption = False,
    as_json: JsonOption = False,
) -> None:
    """Take what a registry namespace holds into the pool, each bundle verified as by `pool add`."""
    from secfp.cli.pool_cmds import _open, pool_receiver
    from secfp.cloud import sync_pool

    now = _now()
    ref, client = _client(reference, username=username, password_env=password_env, ca_file=ca_file,
                          plain_http=plain_http)
    receiver, unlock = pool_receiver(key=key, trust=trust, policy=policy, audit_log=audit_log, now=now)
    store = _open(pool, create=True)
    report = sync_pool(ref, client=client, store=store, receiver=receiver, key=unlock, now=now)
    if as_json:
        if not report.exit_code:
            print_json(report.to_json())
    else:
        for o in report.outcomes:
            if o.outcome == "refused":
                typer.echo(f"refused  {o.artifact}: {o.reason}")
            elif o.outcome == "seen":
                typer.echo(f"seen     {o.artifact}: taken before ({(o.manifest_digest or '')[:19]})")
            else:
                typer.echo(f"{o.outcome:<8} {o.artifact}: bundle {o.bundle_id}")
        _note(f"pool sync {ref}: " + ", ".join(f"{report.count(k)} {k}" for k in ("added", "present", "seen", "refused")))
    report.raise_if_failed()  # the one error document (--json) / line on stderr, every outcome in its details


def register(app: typer.Typer) -> None:
    """Add ``publish`` and ``pool sync`` (onto the ``pool`` group of :mod:`secfp.cli.pool_cmds`)."""
    app.command("publish")(publish)
    pool_app.command("sync")(pool_sync)
