"""Commands of the knowledge pool: ``pool add|list|show|remove`` and ``plan``.

Thin: each command parses its options, calls one function of :mod:`secfp.workflows.use`
and renders its result.
``--json`` prints exactly one JSON document on stdout. Results (per-bundle outcomes,
tables, the plan) go to stdout; notes for humans go to stderr. Text that came from a
bundle is printed without rich markup, so an issuer's ``[bold]`` stays literal.

``pool add`` verifies every bundle and goes on after a failure; its exit code is 0 when every bundle was added or was
already in the pool, else the most severe failure's code, in this order: 4
(verification failed) before 5 (refused by policy) before 3 (malformed or unreadable)
before 2 (usage, e.g. a sealed bundle without ``--key``). On failure, ``--json`` prints the
one error document of every command, with each file's outcome in ``error.details.outcomes``
(:meth:`secfp.workflows.use.AddReport.raise_if_failed`).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table
from rich.text import Text

from secfp.cli._render import print_json, stderr, stdout
from secfp.errors import BadInput, SecfpError, UsageError

__all__ = ["register", "pool_app", "plan", "pool_receiver"]

pool_app = typer.Typer(help="The knowledge pool: received bundles that passed verification, indexed.",
                       no_args_is_help=True)

PoolOption = Annotated[Path, typer.Option("--pool", help="Pool folder (`pool add` creates it).")]
KeyOption = Annotated[Optional[Path], typer.Option("--key", help="Our private key file (for sealed bundles).")]
from secfp.cli._options import TrustOption  # noqa: E402  (--trust, with --store as alias, in every command)
PolicyOption = Annotated[Optional[Path], typer.Option("--policy", help="Import policy (TOML) to enforce.")]
AuditOption = Annotated[Optional[Path], typer.Option(
    "--audit-log", help="Audit log (default: the policy's, else $SECFP_HOME/audit.jsonl).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]

def _now() -> datetime:
    return datetime.now(timezone.utc)


def _echo(text: str) -> None:
    typer.echo(text)


def _note(text: str) -> None:
    stderr.print(text, markup=False, highlight=False, soft_wrap=True)


def pool_receiver(*, key: Path | None, trust: Path | None, policy: Path | None, audit_log: Path | None,
                  now: datetime) -> tuple[Any, Any]:
    """(receiver, our key on demand) for pool commands and ``secfp match --pool``."""
    from secfp.exchange import default_trust_dir, load_identity, load_trust_store
    from secfp.governance import default_actor, load_policy, resolve_audit_log
    from secfp.workflows.receive import Receiver
    from secfp.workflows.use import KeyOnDemand

    the_policy = load_policy(policy, now=now) if policy is not None else None
    log = resolve_audit_log(audit_log, the_policy.audit_log if the_policy is not None else None)
    receiver = Receiver(identity=None, trust_store=load_trust_store(trust if trust is not None else default_trust_dir()),
                        audit_log=log, actor=default_actor(), import_policy=the_policy)

    def unlock() -> Any:
        from secfp.cli.exchange_cmds import passphrase_source

        return load_identity(key, passphrase=passphrase_source())

    return receiver, KeyOnDemand(unlock if key is not None else None)


def _repaired(pool: Path, r: Any) -> None:
    if r is not None and r.changed:
        _note(f"pool {pool}: repaired after an interruption: dropped {len(r.dropped_rows)} index rows whose bundle "
              f"file was gone, deleted {len(r.removed_files)} bundle files that were never indexed (add them again)")


def _open(pool: Path, *, create: bool = False) -> Any:
    from secfp.pool.store import Pool

    store = Pool.open(pool, create=create)
    _repaired(pool, store.reconciled)
    return store


def _task(entry: Any) -> str:
    return entry.task_name or "unnamed task: no task card"


@pool_app.command("add")
def pool_add(
    bundles: Annotated[list[Path], typer.Argument(help="Bundle files received.")],
    pool: PoolOption,
    key: KeyOption = None,
    trust: TrustOption = None,
    policy: PolicyOption = None,
    audit_log: AuditOption = None,
    as_json: JsonOption = False,
) -> None:
    """Verify each bundle (signature, trust, expiry, DP ledger, import policy) and store it in the pool."""
    from secfp.workflows.use import add_to_pool

    now = _now()
    receiver, unlock = pool_receiver(key=key, trust=trust, policy=policy, audit_log=audit_log, now=now)
    report = add_to_pool(pool, bundles, receiver=receiver, now=now, key=unlock)
    _repaired(pool, report.reconciled)
    if as_json:
        if not report.exit_code:
            print_json(report.to_json())
    else:
        for o in report.outcomes:
            if o.error is not None:
                _echo(f"refused  {o.file}: {o.error.diagnostics()}")
            elif o.result is not None and o.result.added:
                e = o.result.entry
                _echo(f"added    {o.file}: bundle {e.bundle_id} from {e.issuer_name} ({_task(e)})")
            elif o.result is not None:
                _echo(f"present  {o.file}: bundle {o.result.entry.bundle_id} is already in the pool")
    report.raise_if_failed()  # the one error document (--json) / line on stderr, with every outcome in it


def _status(store: Any, entry: Any, *, now: datetime, trust_store: Any) -> str:
    from secfp.workflows.use import pool_status

    return pool_status(store, entry, now=now, trust_store=trust_store)


@pool_app.command("list")
def pool_list(pool: PoolOption, trust: TrustOption = None, as_json: JsonOption = False) -> None:
    """List the pool's bundles; expired, untrusted or changed ones are marked and not used."""
    from secfp.exchange import default_trust_dir, load_trust_store

    now = _now()
    store = _open(pool)
    trust_store = load_trust_store(trust if trust is not None else default_trust_dir())
    rows = [(e, _status(store, e, now=now, trust_store=trust_store)) for e in store.entries()]
    if as_json:
        print_json({"pool": str(pool), "bundles": [{**e.facts_json(), "status": s} for e, s in rows]})
        return
    table = Table(title=f"pool {pool}: {len(rows)} bundles")
    for column in ("bundle", "issuer", "task", "modality", "spec", "privacy", "data use", "expires", "status"):
        table.add_column(column, overflow="fold")
    for e, status in rows:
        privacy = e.privacy_mechanism + (f" ε={e.epsilon:g}" if e.epsilon is not None else "")
        cells = (e.bundle_id[:12], e.issuer_name, _task(e), e.modality or "", e.spec_id[:12], privacy,
                 ", ".join(e.data_use), e.expires_at.strftime("%Y-%m-%d"), status)
        table.add_row(*(Text(c) for c in cells))
    stdout.print(table)


@pool_app.command("show")
def pool_show(
    bundle_id: Annotated[str, typer.Argument(help="Bundle id (or a unique prefix of at least 4 digits).")],
    pool: PoolOption,
    trust: TrustOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show everything the pool holds about one bundle: issuer, card, privacy ledger, data-use terms."""
    from secfp.exchange import default_trust_dir, load_trust_store

    store = _open(pool)
    entry = store.get(bundle_id)
    status = _status(store, entry, now=_now(), trust_store=load_trust_store(trust or default_trust_dir()))
    doc = {**entry.to_json(), "status": status}
    if as_json:
        print_json(doc)
        return
    facts = entry.facts_json()
    table = Table(title=f"bundle {entry.bundle_id}", show_header=False)
    table.add_column("fact", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name, value in (
        ("status", status), ("issuer", f"{entry.issuer_name} ({entry.issuer_key_id[:16]})"),
        ("public", str(entry.public)), ("issued / expires", f"{facts['issued_at']} / {facts['expires_at']}"),
        ("received", facts["received_at"]), ("spec id", entry.spec_id),
        ("shape / n", f"{entry.features} x {entry.bins}, n = {entry.n}{' (DP noise)' if entry.noisy else ''}"),
        ("privacy", json.dumps(entry.privacy, sort_keys=True)), ("policy", json.dumps(entry.policy, sort_keys=True)),
        ("card", json.dumps(entry.card, indent=1, sort_keys=True)), ("card problem", entry.card_error or "none"),
        ("checked at add", ", ".join(entry.checks)), ("file digest", entry.file_digest),
    ):
        table.add_row(Text(name), Text(value))
    stdout.print(table)


@pool_app.command("remove")
def pool_remove(
    bundle_id: Annotated[str, typer.Argument(help="Bundle id (or a unique prefix of at least 4 digits).")],
    pool: PoolOption,
    audit_log: AuditOption = None,
) -> None:
    """Delete a bundle from the pool (its file, index row and cached rows); the removal is audited."""
    from secfp.governance import default_actor, resolve_audit_log
    from secfp.workflows.use import remove_from_pool

    entry = remove_from_pool(pool, bundle_id, now=_now(), audit_log=resolve_audit_log(audit_log, None),
                             actor=default_actor())
    _note(f"removed bundle {entry.bundle_id} from {entry.issuer_name} ({_task(entry)}) from pool {pool}")


def _plan_report(*, query: Path, fp: Any, ranking: Any, the_plan: Any, query_card: Any, now: datetime,
                 best_fp: Any = None) -> Any:
    """The plan as a :class:`secfp.report.Report` (all renderers read it); None when nothing was ranked."""
    if not ranking.matches:
        return None
    from secfp.report import build_report

    return build_report(query_name=str(query), query_fp=fp, ranking=list(ranking.matches),
                        statements=ranking.statements(), plan=the_plan, variant=ranking.variant, now=now,
                        query_task=query_card.name if query_card is not None else None, best_match_fp=best_fp,
                        evidence=ranking.evidence())


def _best_match_fingerprint(store: Any, ranking: Any, *, receiver: Any, unlock: Any, now: datetime) -> Any:
    """The closest bundle's fingerprint for the report's heat map: verified again, and the read audited."""
    best = ranking.matches[0]
    try:
        data = store.stored_bytes(best.entry)
        return unlock.receiver_for(receiver, data).receive(data, now=now, event="pool-read",
                                label=f"pool {store.directory} bundle {best.source} (report heat map)").fingerprint
    except SecfpError as exc:
        _note(f"--html: no heat map of the closest source: {exc.diagnostics()}")
        return None


def plan(
    query: Annotated[Path, typer.Argument(help="Our task: a fingerprint file, or a bundle.")],
    pool: PoolOption,
    card: Annotated[Optional[Path], typer.Option("--card", help="Our task card (TOML), for keyword overlap.")] = None,
    top: Annotated[Optional[int], typer.Option("--top", min=1, help="Suggestions per scenario.")] = None,
    key: KeyOption = None,
    trust: TrustOption = None,
    policy: PolicyOption = None,
    audit_log: AuditOption = None,
    reverify: Annotated[bool, typer.Option("--reverify", help="Verify every stored bundle in full again.")] = False,
    html: Annotated[Optional[Path], typer.Option("--html", help="Also write a self-contained HTML report.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text (default) or markdown (for an approval ticket).")] = "text",
    as_json: JsonOption = False,
) -> None:
    """Which pooled tasks to learn from, per transfer scenario, with what to take and why."""
    from secfp.cards.task_card import TaskCard, load_card
    from secfp.cli._inputs import InputLoader
    from secfp.workflows.use import plan_from_pool

    now = _now()
    receiver, unlock = pool_receiver(key=key, trust=trust, policy=policy, audit_log=audit_log, now=now)
    loaded = InputLoader(key=key, trust=trust).load(query)
    query_card = None
    if card is not None:
        query_card = load_card(card)
    elif loaded.statement is not None and loaded.statement.card:
        try:
            query_card = TaskCard.from_json(loaded.statement.card)
        except BadInput:
            query_card = None
    store = _open(pool)  # reports a repair before the plan
    result = plan_from_pool(pool, str(query), loaded.fingerprint, receiver=receiver, now=now, query_card=query_card,
                            top=top, reverify=reverify, key=unlock)
    the_plan, ranking = result.plan, result.ranking
    for s in ranking.skipped:
        _note(f"not used: bundle {s.bundle_id}: {s.reason}")
    if ranking.other_specs:
        _note(f"not compared: {sum(ranking.other_specs.values())} bundles made with other specs")
    if fmt not in ("text", "markdown"):
        raise UsageError(f"--format must be text or markdown, not {fmt!r}")
    best_fp = _best_match_fingerprint(store, ranking, receiver=receiver, unlock=unlock, now=now) \
        if html is not None and ranking.matches else None
    report = _plan_report(query=query, fp=loaded.fingerprint, ranking=ranking, the_plan=the_plan,
                          query_card=query_card, now=now, best_fp=best_fp)
    if html is not None:
        if report is None:
            _note("--html: no usable source in the pool, so no report was written")
        else:
            from secfp.report import save_html

            save_html(report, html)
    if as_json:
        from secfp.report import plan_document

        fp = loaded.fingerprint
        print_json({
            **(plan_document(report) if report is not None else the_plan.to_json()),
            "query": {"path": str(query), "spec_id": fp.spec_id, "n": fp.n, "noisy": fp.noisy,
                      "card": query_card.to_json() if query_card is not None else None, **loaded.match_facts()},
            "pool": {"path": str(pool), **ranking.to_json()},
            "data_use_purpose": {"from": result.purpose_from, **result.purpose.to_json()},
        })
        return
    from secfp.report import render_markdown, render_plan_text

    if report is None:
        _echo(f"Transfer plan for {query}: no usable source among {ranking.considered} pooled bundles of this spec.")
    else:
        _echo(render_markdown(report) if fmt == "markdown" else render_plan_text(report))


def register(app: typer.Typer) -> None:
    """Add the ``pool`` group and the ``plan`` command."""
    app.add_typer(pool_app, name="pool")
    app.command("plan")(plan)
