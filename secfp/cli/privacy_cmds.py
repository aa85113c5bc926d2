"""``secfp privacy``: see what a differentially private release costs before making one, and what was spent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from secfp.cli._options import JsonOption
from secfp.cli._render import print_json, stderr, stdout

__all__ = ["register"]

privacy_app = typer.Typer(help="Differential privacy: noise scale, accountants, budgets.", no_args_is_help=True)
budget_app = typer.Typer(help="Per-dataset privacy budgets: what is spent and what is left.", no_args_is_help=True)
privacy_app.add_typer(budget_app, name="budget")


@privacy_app.command("explain")
def explain_cmd(
    dp_epsilon: Annotated[float, typer.Option("--dp-epsilon", help="Target epsilon of one release.")],
    dp_delta: Annotated[float, typer.Option("--dp-delta", help="Target delta of one release.")] = 1e-6,
    sample_rate: Annotated[Optional[float], typer.Option("--sample-rate", help="Public Poisson sampling rate q of the privacy units (default: the policy's dp_sample_rate, else 1).")] = None,
    max_images_per_unit: Annotated[int, typer.Option("--max-images-per-unit", help="k: at most this many images per sampled unit (export's default: 4 per patient or volume, 1 per image).")] = 4,
    policy: Annotated[Optional[Path], typer.Option("--policy", help="Export policy whose dp_sample_rate applies.")] = None,
    spec: Annotated[Optional[str], typer.Option("--spec", help="Shipped spec name or spec file (default: the default spec).")] = None,
    samples: Annotated[int, typer.Option("--samples", help="Expected number of sampled images n (about q times the images available).")] = 10_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """Print the noise scale, the noise relative to the mean bin count n/B, and every accountant's epsilon.

    Nothing is read from any dataset and nothing is released.
    """
    from secfp.fingerprint.spec import load_spec
    from secfp.privacy.release import explain
    from secfp.workflows.export import DPRequest, public_sample_rate

    the_policy = None
    if policy is not None:
        from datetime import datetime, timezone

        from secfp.governance import load_policy

        the_policy = load_policy(policy, now=datetime.now(timezone.utc))
    rate, source, notes = public_sample_rate(DPRequest(epsilon=dp_epsilon, sample_rate=sample_rate), the_policy)
    result = explain(epsilon=dp_epsilon, delta=dp_delta, sample_rate=rate, spec=load_spec(spec), samples=samples,
                     max_images_per_unit=max_images_per_unit, sample_rate_source=source)
    for note in notes:
        stderr.print(f"warning: {note}")
    if result.useless:
        stderr.print(f"warning: noise std {result.noise_std_relative:.3g}x the mean bin count: the release would be useless")
    if as_json:
        print_json(result.to_json())
        return
    table = Table(show_header=False, title="differential privacy of one release (nothing released)")
    table.add_column(no_wrap=True)
    table.add_column()
    table.add_row("spec", f"{result.spec_id[:12]} ({result.num_features} features x {result.bins} bins)")
    table.add_row("target", f"epsilon {result.target_epsilon:g}, delta {result.delta:g}")
    table.add_row("sample rate q", f"{result.sample_rate:g} ({result.sample_rate_source}; public, never derived from the data)")
    table.add_row("sensitivity (L2)", f"k sqrt(m) = {result.max_images_per_unit} x sqrt({result.num_features}) = {result.sensitivity_l2:.4g} counts")
    table.add_row("noise sigma per count", f"{result.sigma:.6g} (noise multiplier {result.noise_multiplier:.5g})")
    table.add_row("mean bin count n/B", f"{result.mean_bin_count:.4g} (n = {result.samples})")
    table.add_row("noise / mean bin count", f"std {result.noise_std_relative:.3g}x, mean |noise| {result.noise_mean_abs_relative:.3g}x")
    table.add_row("released n", f"estimated from the noisy counts, std {result.n_estimate_std:.3g}")
    for record in result.accountants:
        table.add_row(f"epsilon: {record.name}", f"{record.epsilon:.6g} (version {record.version})")
    table.add_row("declared epsilon", f"{result.epsilon:.6g} (the largest)")
    stdout.print(table)


def _store(folder: Path | None, dp_budget: float | None, policy: Path | None):  # noqa: ANN202
    from datetime import datetime, timezone

    from secfp.cli.exchange_cmds import DEFAULT_DP_BUDGET
    from secfp.exchange import secfp_home
    from secfp.privacy import BudgetStore
    from secfp.workflows.export import effective_budget

    the_policy = None
    if policy is not None:
        from secfp.governance import load_policy

        the_policy = load_policy(policy, now=datetime.now(timezone.utc))
    store = BudgetStore(folder or secfp_home() / "budgets", total_epsilon=dp_budget if dp_budget is not None else DEFAULT_DP_BUDGET)
    return effective_budget(store, the_policy)


def _state_json(state) -> dict:  # noqa: ANN001
    return {"dataset": state.dataset_id, "total_epsilon": state.total_epsilon, "spent_epsilon": state.spent_epsilon,
            "spent_delta": state.spent_delta, "remaining_epsilon": state.remaining_epsilon,
            "releases": len(state.charges), "pending": sum(1 for c in state.charges if c.state == "pending"),
            "charges": [c.to_json() for c in state.charges]}


BudgetFolder = Annotated[Optional[Path], typer.Option("--budgets", help="Budget folder (default: $SECFP_HOME/budgets).")]
BudgetTotal = Annotated[Optional[float], typer.Option("--dp-budget", help="Total epsilon per dataset (default 10; a policy's budget binds if smaller).")]
BudgetPolicy = Annotated[Optional[Path], typer.Option("--policy", help="Export policy whose dataset_epsilon_budget applies.")]


@budget_app.command("list")
def budget_list_cmd(budgets: BudgetFolder = None, dp_budget: BudgetTotal = None, policy: BudgetPolicy = None,
                    as_json: JsonOption = False) -> None:
    """Every dataset with releases: epsilon spent (pending reservations count) and left."""
    store = _store(budgets, dp_budget, policy)
    states = store.datasets()
    if as_json:
        print_json({"folder": str(store.folder), "datasets": [_state_json(s) for s in states]})
        return
    table = Table(title=f"privacy budgets in {store.folder} (total epsilon {store.total_epsilon:g} per dataset)")
    for column in ("dataset", "releases", "spent epsilon", "spent delta", "left epsilon"):
        table.add_column(column)
    for state in states:
        pending = sum(1 for c in state.charges if c.state == "pending")
        table.add_row(state.dataset_id, f"{len(state.charges)}" + (f" ({pending} pending)" if pending else ""),
                      f"{state.spent_epsilon:.6g}", f"{state.spent_delta:.3g}", f"{state.remaining_epsilon:.6g}")
    stdout.print(table)


@budget_app.command("show")
def budget_show_cmd(dataset: Annotated[str, typer.Argument(help="Dataset id (as in the export's audit record or dry run).")],
                    budgets: BudgetFolder = None, dp_budget: BudgetTotal = None, policy: BudgetPolicy = None,
                    as_json: JsonOption = False) -> None:
    """One dataset's releases, with what each cost, and what is left."""
    store = _store(budgets, dp_budget, policy)
    state = store.state(dataset)
    if as_json:
        print_json(_state_json(state))
        return
    table = Table(title=f"privacy budget of {dataset}: {state.spent_epsilon:.6g} of {state.total_epsilon:g} spent, "
                        f"{state.remaining_epsilon:.6g} left")
    for column in ("at", "state", "epsilon", "delta", "label"):
        table.add_column(column)
    for charge in state.charges:
        table.add_row(charge.at, charge.state, f"{charge.epsilon:.6g}", f"{charge.delta:.3g}", charge.label)
    stdout.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(privacy_app, name="privacy")
