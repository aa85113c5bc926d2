"""``secfp privacy``: see what a differentially private release costs before making one."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from secfp.cli._render import print_json, stdout

__all__ = ["register"]

privacy_app = typer.Typer(help="Differential privacy: noise scale, accountants, budgets.", no_args_is_help=True)


@privacy_app.command("explain")
def explain_cmd(
    dp_epsilon: Annotated[float, typer.Option("--dp-epsilon", help="Target epsilon of one release.")],
    dp_delta: Annotated[float, typer.Option("--dp-delta", help="Target delta of one release.")] = 1e-6,
    sample_rate: Annotated[float, typer.Option("--sample-rate", help="Poisson sampling rate q of the images (1 = all).")] = 1.0,
    spec: Annotated[Optional[str], typer.Option("--spec", help="Shipped spec name or spec file (default: the default spec).")] = None,
    samples: Annotated[int, typer.Option("--samples", help="Expected number of sampled images n (about q times the images available).")] = 10_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """Print the noise scale, the noise relative to the mean bin count n/B, and every accountant's epsilon.

    Nothing is read from any dataset and nothing is released.
    """
    from secfp.fingerprint.spec import load_spec
    from secfp.privacy.release import explain

    result = explain(epsilon=dp_epsilon, delta=dp_delta, sample_rate=sample_rate, spec=load_spec(spec), samples=samples)
    if as_json:
        print_json(result.to_json())
        return
    table = Table(show_header=False, title="differential privacy of one release (nothing released)")
    table.add_column(no_wrap=True)
    table.add_column()
    table.add_row("spec", f"{result.spec_id[:12]} ({result.num_features} features x {result.bins} bins)")
    table.add_row("target", f"epsilon {result.target_epsilon:g}, delta {result.delta:g}, sample rate {result.sample_rate:g}")
    table.add_row("sensitivity (L2)", f"sqrt({result.num_features}) = {result.sensitivity_l2:.4g} counts")
    table.add_row("noise sigma per count", f"{result.sigma:.6g} (noise multiplier {result.noise_multiplier:.5g})")
    table.add_row("mean bin count n/B", f"{result.mean_bin_count:.4g} (n = {result.samples})")
    table.add_row("noise / mean bin count", f"std {result.noise_std_relative:.3g}x, mean |noise| {result.noise_mean_abs_relative:.3g}x")
    table.add_row("released n", f"estimated from the noisy counts, std {result.n_estimate_std:.3g}")
    for record in result.accountants:
        table.add_row(f"epsilon: {record.name}", f"{record.epsilon:.6g} (version {record.version})")
    table.add_row("declared epsilon", f"{result.epsilon:.6g} (the largest)")
    stdout.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(privacy_app, name="privacy")
