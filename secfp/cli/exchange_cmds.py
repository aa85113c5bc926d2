"""Commands of the exchange journey: keygen, trust add/list/remove, export, verify.

Thin: each command parses its options, makes one library call in
``secfp.exchange`` and renders the result. Errors are ``SecfpError``s, mapped
to one stderr line and an exit code by ``secfp.cli``. ``--json`` prints
exactly one JSON document on stdout; everything for humans goes to stderr,
except the verify report, which is the command's result.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from secfp.cli._options import ForceOption, JsonOption, StrictOption, TrustOption
from secfp.cli._outputs import check_output
from secfp.cli._render import plain, print_json, stderr, stdout
from secfp.errors import SecfpError, UsageError

__all__ = ["register", "passphrase_source", "parse_duration"]

trust_app = typer.Typer(help="The trust store: identity cards whose bundles we accept.", no_args_is_help=True)

StoreOption = TrustOption
DEFAULT_DP_BUDGET = 10.0
_DURATION = re.compile(r"(\d{1,5})([hdw])")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def parse_duration(text: str) -> timedelta:
    """``12h``, ``90d`` or ``2w``."""
    m = _DURATION.fullmatch(text.strip())
    if m is None:
        raise UsageError(f"cannot read duration {text!r}: use e.g. 12h, 90d or 2w")
    value, unit = int(m.group(1)), m.group(2)
    return {"h": timedelta(hours=value), "d": timedelta(days=value), "w": timedelta(weeks=value)}[unit]


def passphrase_source(*, confirm: bool = False) -> Callable[[], str]:
    """``$SECFP_PASSPHRASE`` if set, else a hidden prompt on stderr (only on a terminal)."""
    from secfp.exchange.keyfile import PASSPHRASE_ENV

    def get() -> str:
        value = os.environ.get(PASSPHRASE_ENV)
        if value is not None:
            return value
        if not sys.stdin.isatty():
            raise UsageError(f"a passphrase is needed: set {PASSPHRASE_ENV} (no terminal to prompt on)")
        return typer.prompt("passphrase", hide_input=True, confirmation_prompt=confirm, err=True)

    return get


def keygen(
    name: Annotated[str, typer.Argument(help="Institution name (letters, digits, '.', '_', '-').")],
    out: Annotated[Path, typer.Option("--out", help="Folder for NAME.key and NAME.card.json.")],
    no_passphrase: Annotated[bool, typer.Option("--no-passphrase", help="Store the private keys UNENCRYPTED (only if you must).")] = False,
    valid_days: Annotated[int, typer.Option("--valid-days", help="Days until the identity card expires.")] = 730,
    as_json: JsonOption = False,
) -> None:
    """Create an identity: an Ed25519 signing key and an X25519 encryption key, and a public card."""
    from secfp.exchange import generate_identity, save_identity

    identity = generate_identity(name, now=_now(), valid_for=timedelta(days=valid_days))
    passphrase = None if no_passphrase else passphrase_source(confirm=True)()
    files = save_identity(identity, out, passphrase=passphrase, unsafe_no_passphrase=no_passphrase)
    card = identity.card
    if as_json:
        print_json({"name": card.name, "key_file": str(files.key_file), "card_file": str(files.card_file),
                    "signing_key_id": card.signing_key_id, "encryption_key_id": card.encryption_key_id,
                    "not_after": card.to_json()["not_after"], "encrypted": not no_passphrase})
        return
    stderr.print(f"wrote {files.key_file} (private, mode 0600{'' if not no_passphrase else ', NOT encrypted'}) and {files.card_file} (public)")
    stderr.print(f"signing key id:    {card.signing_key_id}", soft_wrap=True)
    stderr.print(f"encryption key id: {card.encryption_key_id}", soft_wrap=True)
    stderr.print("send the card to your partners; they should check the signing key id with you by phone")


@trust_app.command("add")
def trust_add_cmd(
    card_file: Annotated[Path, typer.Argument(help="An identity card file (NAME.card.json).")],
    store: StoreOption = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a different card of the same name (key rotation).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Trust an identity card: bundles signed by its key will be accepted."""
    from secfp.exchange import default_trust_dir, load_card, trust_add

    directory = store or default_trust_dir()
    card = trust_add(directory, load_card(card_file), now=_now(), replace=replace)
    if as_json:
        print_json({"store": str(directory), "card": card.to_json()})
        return
    stderr.print(f"trusted {card.name} in {directory}")
    stderr.print(f"signing key id {card.signing_key_id}: compare it with {card.name} out of band", soft_wrap=True)


@trust_app.command("list")
def trust_list_cmd(store: StoreOption = None, as_json: JsonOption = False) -> None:
    """List the trusted identity cards."""
    from secfp.exchange import default_trust_dir, load_trust_store

    directory = store or default_trust_dir()
    trusted = load_trust_store(directory)
    if as_json:
        print_json({"store": str(directory), "cards": trusted.to_json()})
        return
    # One fact per line, key ids in full: people compare them character by character.
    stderr.print(f"trust store {directory}: {len(trusted)} cards", soft_wrap=True)
    for card in trusted:
        stdout.print(f"{card.name}\n  signing key id     {card.signing_key_id}\n"
                     f"  encryption key id  {card.encryption_key_id}\n  not after          {card.to_json()['not_after']}",
                     soft_wrap=True)


@trust_app.command("remove")
def trust_remove_cmd(name: Annotated[str, typer.Argument(help="Name of the card to remove.")], store: StoreOption = None) -> None:
    """Stop trusting an identity (its bundles are rejected from now on)."""
    from secfp.exchange import default_trust_dir, trust_remove

    directory = store or default_trust_dir()
    card = trust_remove(directory, name)
    stderr.print(f"removed {card.name} ({card.signing_key_id}) from {directory}", markup=False, soft_wrap=True)


def _recipient_cards(to: list[str], trust: Path | None) -> list[Any]:
    from secfp.exchange import default_trust_dir, load_trust_store
    from secfp.exchange.trust import resolve_recipient

    store = load_trust_store(trust or default_trust_dir())
    return [resolve_recipient(item, store) for item in to]


AuditOption = Annotated[Optional[Path], typer.Option("--audit-log", help="Audit log (default: the policy's, else $SECFP_HOME/audit.jsonl).")]
PolicyOption = Annotated[Optional[Path], typer.Option("--policy", help="Sharing policy (TOML) to enforce.")]


def _policy(path: Path | None) -> Any:
    if path is None:
        return None
    from secfp.governance import load_policy

    return load_policy(path, now=_now())


def _audit_log(flag: Path | None, policy: Any) -> Path:
    from secfp.governance import resolve_audit_log

    return resolve_audit_log(flag, policy.audit_log if policy is not None else None)


def export(
    inputs: Annotated[list[Path], typer.Argument(help="A fingerprint file (.json), or image folders/files to fingerprint.")],
    key: Annotated[Path, typer.Option("--key", help="Our private key file.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Bundle file to write.")],
    to: Annotated[Optional[list[str]], typer.Option("--to", help="Recipient: a name in the trust store, or a card file given as a path (./NAME.card.json) (repeat).")] = None,
    public: Annotated[bool, typer.Option("--public", help="Sign but do not encrypt (for an open knowledge cloud).")] = False,
    expires: Annotated[str, typer.Option("--expires", help="Validity period, e.g. 90d, 12h, 2w.")] = "90d",
    card: Annotated[Optional[Path], typer.Option("--card", help="Task card (TOML) to include.")] = None,
    trust: TrustOption = None,
    spec: Annotated[str, typer.Option("--spec", help="Spec for image inputs.")] = "mobilenet_v2-b100",
    samples: Annotated[int, typer.Option(help="Images to sample for image inputs (under DP: the expected sample size).")] = 10_000,
    seed: Annotated[int, typer.Option(help="Sampling seed for image inputs (not used under DP: the DP sample is secret).")] = 0,
    dp_epsilon: Annotated[Optional[float], typer.Option("--dp-epsilon", help="Release under (epsilon, delta)-DP with this epsilon.")] = None,
    dp_delta: Annotated[float, typer.Option("--dp-delta", help="DP delta.")] = 1e-6,
    sample_rate: Annotated[Optional[float], typer.Option("--sample-rate", help="DP Poisson sampling rate q of the privacy units, public (default: the policy's dp_sample_rate, else 1).")] = None,
    privacy_unit: Annotated[Optional[str], typer.Option("--privacy-unit", help="What DP protects: patient, volume or image (default: the coarsest the inputs provide).")] = None,
    max_images_per_unit: Annotated[Optional[int], typer.Option("--max-images-per-unit", help="DP: at most this many images from each sampled unit (default: 4 for patient and volume, 1 for image).")] = None,
    units: Annotated[Optional[Path], typer.Option("--units", help="DP: CSV of path,unit rows mapping every input file to its patient.")] = None,
    dataset: Annotated[Optional[str], typer.Option("--dataset", help="Dataset name for the privacy budget; a DP release is charged to it and to the digest of the inputs' file contents (the default id), so a new name never resets the budget.")] = None,
    dp_budget: Annotated[Optional[float], typer.Option("--dp-budget", help="Total epsilon budget of the dataset (default 10; the policy's dataset_epsilon_budget binds if smaller).")] = None,
    policy: PolicyOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show exactly what would be released and the verdict; write nothing.")] = False,
    audit_log: AuditOption = None,
    force: ForceOption = False,
    strict: StrictOption = False,
    as_json: JsonOption = False,
) -> None:
    """Sign a fingerprint and encrypt it to the named recipients (or publish it signed, --public)."""
    from secfp.cli._render import progress_bar
    from secfp.exchange import load_identity, secfp_home
    from secfp.fingerprint.spec import load_spec
    from secfp.governance import default_actor
    from secfp.cards.task_card import load_card as load_task_card
    from secfp.privacy import BudgetStore
    from secfp.workflows.export import DPRequest, prepare_export, release

    if public == bool(to):
        raise UsageError("give --to CARD (one or more) or --public, not both and not neither")
    if not dry_run:
        check_output(output, force=force)
    if strict and not (len(inputs) == 1 and inputs[0].is_file() and _looks_like_json(inputs[0])):
        from secfp.fingerprint.images import require_readable, scan

        require_readable(scan([str(p) for p in inputs]))
    now = _now()
    lifetime = parse_duration(expires)
    the_policy = _policy(policy)
    recipients = _recipient_cards(list(to or []), trust)
    task_card = load_task_card(card).to_json() if card is not None else None
    identity = None if dry_run else load_identity(key, passphrase=passphrase_source())
    if dp_epsilon is None and any(v is not None for v in (sample_rate, privacy_unit, max_images_per_unit, units)):
        raise UsageError("--sample-rate, --privacy-unit, --max-images-per-unit and --units need --dp-epsilon")
    # The smaller of --dp-budget (default 10) and the policy's budget binds (effective_budget in the workflow).
    budget = BudgetStore(secfp_home() / "budgets", total_epsilon=dp_budget if dp_budget is not None else DEFAULT_DP_BUDGET)
    dp = (DPRequest(epsilon=dp_epsilon, delta=dp_delta, sample_rate=sample_rate, privacy_unit=privacy_unit,
                    max_images_per_unit=max_images_per_unit, units=units) if dp_epsilon is not None else None)
    with progress_bar("fingerprinting", enabled=not as_json) as update:
        plan = prepare_export(inputs, spec=load_spec(spec), samples=samples, seed=seed, dp=dp, recipients=recipients,
                              public=public, lifetime=lifetime, card=task_card, policy=the_policy, dataset=dataset,
                              budget=budget, now=now, on_progress=update)
    for warning in plan.warnings:
        stderr.print(f"warning: {warning}", soft_wrap=True)
    if dry_run:
        shown = plan.to_json(now=now)
        if as_json and not plan.allowed:
            from secfp.errors import PolicyViolation

            assert plan.verdict is not None
            try:
                plan.verdict.raise_if_refused()
            except PolicyViolation as exc:
                exc.details = {"dry_run": shown}  # one JSON document: the error carries the plan
                raise
        if as_json:
            print_json(shown)
        else:
            import json

            stdout.print_json(json.dumps(shown))
            stderr.print("dry run: " + ("the policy allows this export" if plan.allowed else "the policy REFUSES this export") + "; nothing was written")
        if not plan.allowed:
            assert plan.verdict is not None
            plan.verdict.raise_if_refused()
        return
    sealed = release(plan, output, issuer=identity, budget=budget, audit_log=_audit_log(audit_log, the_policy),
                     actor=default_actor(), now=now)
    facts = sealed.statement.to_json()
    summary = {"output": str(output), "bundle_id": facts["bundle_id"], "issuer": facts["issuer"], "public": public,
               "recipients": [{"name": c.name, "encryption_key_id": c.encryption_key_id} for c in recipients],
               "issued_at": facts["issued_at"], "expires_at": facts["expires_at"],
               "spec_id": plan.fingerprint.spec_id, "n": plan.fingerprint.n, "privacy": plan.ledger.to_json(),
               "policy": plan.policy_reference(), "withheld_card_fields": list(plan.withheld_card_fields),
               "numerics": plan.numerics, "warnings": list(plan.warnings), "bytes": len(sealed.data)}
    if as_json:
        print_json(summary)
        return
    where = "public (signed, not encrypted)" if public else "to " + ", ".join(c.name for c in recipients)
    dp_text = f", DP epsilon {plan.ledger.epsilon:.3g}" if plan.ledger.is_private else ", no DP"
    stderr.print(f"wrote {output}: bundle {summary['bundle_id']} {where}{dp_text}, expires {summary['expires_at']}")


def verify(
    bundle: Annotated[Path, typer.Argument(help="The bundle file received.")],
    key: Annotated[Optional[Path], typer.Option("--key", help="Our private key file (needed for sealed bundles).")] = None,
    trust: TrustOption = None,
    replay_store: Annotated[Optional[Path], typer.Option("--replay-store", help="Replay store folder (default: $SECFP_HOME/replay).")] = None,
    no_record: Annotated[bool, typer.Option("--no-record", help="Check the replay store but do not record this bundle as received.")] = False,
    policy: PolicyOption = None,
    audit_log: AuditOption = None,
    as_json: JsonOption = False,
) -> None:
    """Receive a bundle: decrypt, verify every check, re-derive its DP claim, apply the import policy, record its id."""
    from secfp.exchange import ReplayStore, default_replay_dir, default_trust_dir, load_identity, load_trust_store, read_bundle_file
    from secfp.governance import default_actor
    from secfp.workflows.receive import Receiver

    now = _now()
    the_policy = _policy(policy)
    trusted = load_trust_store(trust or default_trust_dir())
    receiver = Receiver(identity=None, trust_store=trusted, audit_log=_audit_log(audit_log, the_policy),
                        actor=default_actor(), import_policy=the_policy)
    try:
        data = read_bundle_file(bundle)
    except SecfpError as exc:
        receiver.log_failure(exc, now=now, label=str(bundle))
        raise
    # Ask for the passphrase only when the bundle is sealed; a bundle that does not parse
    # goes on to the receiver, which refuses it and writes the audit record.
    if key is not None and _is_sealed(data):
        receiver = replace(receiver, identity=load_identity(key, passphrase=passphrase_source()))
    store = ReplayStore(replay_store or default_replay_dir())
    verified = receiver.receive(data, now=now, label=str(bundle), replay_store=store, record=not no_record).statement
    checks = list(verified.checks)
    fp = verified.fingerprint
    report = verified.to_json(include_fingerprint=False)
    report["checks"] = checks
    report["fingerprint"] = {"spec_id": fp.spec_id, "n": fp.n, "shape": list(fp.shape), "noisy": fp.noisy}
    if as_json:
        print_json(report)
        return
    names = {c.encryption_key_id: c.name for c in trusted}
    if receiver.identity is not None:
        names[receiver.identity.card.encryption_key_id] = f"{receiver.identity.name} (us)"
    table = Table(title=plain(f"verified {bundle}"), show_header=False)
    table.add_column("fact", no_wrap=True)
    table.add_column("value", overflow="fold")
    # Every value below comes from the bundle: added as plain text, never parsed as rich markup.
    def row(fact: str, value: str) -> None:
        table.add_row(fact, plain(value))

    row("issuer", f"{verified.issuer_name} ({verified.issuer_key_id})")
    audience = "public" if verified.public else ", ".join(names.get(k, k) for k in verified.audience)
    row("audience", audience)
    row("issued / expires", f"{report['issued_at']} / {report['expires_at']}")
    row("bundle id", verified.bundle_id)
    row("spec id", fp.spec_id)
    row("n", str(fp.n) + (" (DP estimate)" if fp.noisy else ""))
    privacy = verified.privacy
    row("privacy", "none" if privacy.get("mechanism") == "none" else
        f"{privacy['mechanism']}, epsilon {privacy['epsilon']:.4g}, delta {privacy['delta']:.2g}")
    if verified.policy:
        row("export policy", f"{verified.policy['id']} ({verified.policy['digest']}), data use: {', '.join(verified.policy['data_use']) or '-'}")
    row("checked", ", ".join(checks))
    stdout.print(table)


def _looks_like_json(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(64).lstrip().startswith(b"{")


def _is_sealed(data: bytes) -> bool:
    from secfp.exchange.bundle import parse_bundle

    try:
        return parse_bundle(data).sealed is not None
    except SecfpError:
        return False


def register(app: typer.Typer) -> None:
    app.command("keygen")(keygen)
    app.command("export")(export)
    app.command("verify")(verify)
    app.add_typer(trust_app, name="trust")
