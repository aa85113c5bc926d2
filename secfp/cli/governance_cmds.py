"""Commands of the governance layer: ``policy check``, ``audit verify``, ``audit show``.

Thin: parse, one library call in ``secfp.governance``, render. Errors are
``SecfpError``s mapped to exit codes by ``secfp.cli`` (3 malformed or expired policy,
unreadable log; 4 broken audit chain). ``--json`` prints exactly one JSON document on
stdout and never changes the exit code; for a broken chain ``audit verify --json`` prints
the CLI's error document, whose ``details`` hold ``"ok": false``, and exits 4.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from secfp.cli._render import print_json, stderr, stdout
from secfp.errors import AuditChainBroken
from secfp.governance import Policy, load_policy, read_log, verify_log
from secfp.governance.audit_record import AuditRecord

__all__ = ["register"]

policy_app = typer.Typer(help="Sharing policies: validate and summarise policy files.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail: verify the hash chain, show records.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
AnchorOption = Annotated[
    str | None,
    typer.Option("--anchor", help="A head hash recorded earlier; it must still be in the log (detects cut records)."),
]


def _now() -> datetime:
    return datetime.now(UTC)


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _policy_lines(policy: Policy) -> list[str]:
    data = policy.to_json()
    lines = [
        f"policy {policy.id} version {policy.version}: valid",
        f"  file         {policy.source}",
        f"  digest       {policy.digest}",
        f"  in force     {data['valid_from']} until {data['valid_until']}",
        f"  audit log    {data['audit_log'] or '(default: $SECFP_HOME/audit.jsonl)'}",
    ]
    if policy.description:
        lines.append(f"  description  {policy.description}")
    e = policy.export
    if e is None:
        lines.append("export: no [export] rules, every export is refused")
    else:
        dp = "not required"
        if e.dp_required:
            dp = f"required, epsilon <= {e.max_epsilon:g}, delta <= {e.max_delta:g}"
            if e.dataset_epsilon_budget is not None:
                dp += f", dataset budget {e.dataset_epsilon_budget:g}"
        recipients = "any" if e.allow_any_recipient else ", ".join(r.short() for r in e.recipients) or "none"
        lines += [
            "export:",
            f"  images       at least {e.min_source_images} in the dataset, {e.min_sampled_images} sampled",
            f"  DP           {dp}",
            f"  recipients   {recipients}",
            f"  public       {_yes(e.allow_public)}",
            f"  lifetime     at most {e.max_lifetime_days} days",
            f"  card allow   {', '.join(e.card.allow) or '(nothing leaves)'}",
            f"  card never   {', '.join(e.card.never) or '-'}",
            f"  data use     {', '.join(e.data_use)}",
        ]
    i = policy.import_
    if i is None:
        lines.append("import: no [import] rules, every bundle is refused")
    else:
        dp = f"required, epsilon <= {i.max_epsilon:g}" if i.dp_required else "not required"
        if i.dp_required and i.max_delta is not None:
            dp += f", delta <= {i.max_delta:g}"
        p = i.purpose
        lines += [
            "import:",
            f"  issuers      {'any trusted issuer' if i.allow_any_issuer else 'listed only'}",
            *(f"    {r.party.short()}: {_overrides(r)}" for r in i.issuers),
            f"  DP           {dp}",
            f"  max age      {i.max_age_days} days",
            f"  specs        {'any' if i.accept_any_spec else ', '.join(i.spec_ids)}",
            f"  purpose      {p.research_area} research"
            + (f" on {', '.join(p.diseases)}" if p.diseases else "")
            + f"; methods development {_yes(p.methods_development)}, commercial {_yes(p.commercial)}, "
            f"for-profit {_yes(p.for_profit_organisation)}, ethics approval {_yes(p.ethics_approval)}",
            f"  obligations  {', '.join(p.accept_obligations) or '-'}",
        ]
    return lines


def _overrides(rule) -> str:  # type: ignore[no-untyped-def]
    parts = []
    if rule.dp_required is not None:
        parts.append(f"DP {'required' if rule.dp_required else 'not required'}")
    if rule.max_epsilon is not None:
        parts.append(f"epsilon <= {rule.max_epsilon:g}")
    if rule.max_age_days is not None:
        parts.append(f"max age {rule.max_age_days} days")
    if rule.spec_ids is not None:
        parts.append(f"specs {', '.join(rule.spec_ids)}")
    return "; ".join(parts) or "global rules"


@policy_app.command("check")
def policy_check(
    file: Annotated[Path, typer.Argument(help="Policy file (TOML).")],
    json_out: JsonOption = False,
) -> None:
    """Validate a policy file (exit 3 if malformed or not in force) and summarise it."""
    policy = load_policy(file, now=_now())
    if json_out:
        print_json(policy.to_json())
        return
    for line in _policy_lines(policy):
        stdout.print(line, markup=False, highlight=False, soft_wrap=True)


@audit_app.command("verify")
def audit_verify(
    log: Annotated[Path, typer.Argument(help="Audit log (JSON lines).")],
    anchor: AnchorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Verify the hash chain; exit 4 and name the line if a record was edited,
    deleted, inserted or reordered."""
    try:
        summary = verify_log(log, anchor=anchor)
    except AuditChainBroken as exc:
        exc.details = {"path": str(log), "ok": False}  # the CLI's error document carries them under --json
        raise
    if json_out:
        print_json(summary.to_json())
        return
    noun = "record" if summary.count == 1 else "records"
    stdout.print(f"OK: {summary.path}: {summary.count} {noun}, chain intact", markup=False, soft_wrap=True)
    stdout.print(f"head {summary.head}", markup=False, soft_wrap=True)
    stderr.print("keep the head hash elsewhere and pass it as --anchor later to detect cut records", markup=False)


def _record_line(record: AuditRecord) -> str:
    e = record.event
    parts = [f"#{record.seq}", record.to_json()["time"], e.event, e.outcome, e.actor]
    if e.bundle_id:
        parts.append(f"bundle {e.bundle_id}")
    if e.issuer:
        parts.append(f"issuer {e.issuer.short()}")
    if e.recipients:
        parts.append("to " + ", ".join(r.name for r in e.recipients))
    if e.policy_id:
        parts.append(f"policy {e.policy_id}")
    if e.epsilon_spent is not None:
        parts.append(f"epsilon {e.epsilon_spent:g}")
    if e.budget_remaining is not None:
        parts.append(f"left {e.budget_remaining:g}")
    line = "  ".join(parts)
    for reason in e.reasons:
        line += f"\n      - {reason}"
    return line


@audit_app.command("show")
def audit_show(
    log: Annotated[Path, typer.Argument(help="Audit log (JSON lines).")],
    anchor: AnchorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Show the records of a verified log (exit 4 if the chain is broken)."""
    records = read_log(log, anchor=anchor)
    if json_out:
        print_json([dict(r.to_json(), hash=r.hash) for r in records])
        return
    if not records:
        stderr.print(f"{log}: no records", markup=False)
    for record in records:
        stdout.print(_record_line(record), markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the ``policy`` and ``audit`` command groups to the secfp app."""
    app.add_typer(policy_app, name="policy")
    app.add_typer(audit_app, name="audit")
