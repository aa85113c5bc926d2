"""``secfp bench transfer``: how well do source selectors pick what to transfer?

Thin: parse the options, load the study folder, run :func:`run_transfer_bench`, render.
``--json`` prints exactly one JSON document on stdout and changes nothing else;
``--rankings-out`` writes every selector's rankings (atomically) so that the printed
numbers can be recomputed independently. Errors are :class:`secfp.errors.SecfpError`
subclasses, mapped to exit codes by :mod:`secfp.cli`.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from secfp._io import atomic_write_text
from secfp.errors import UsageError
from secfp.evaluation.bootstrap import DEFAULT_RESAMPLES, REFERENCES
from secfp.evaluation.metrics import LOWER_IS_BETTER, METRICS
from secfp.evaluation.transfer_bench import DEFAULT_PERMUTATIONS, BenchResult, run_transfer_bench
from secfp.evaluation.study import load_transfer_study

__all__ = ["register", "bench_transfer"]

_HEADERS = {"gain@1": "gain@1", "gain_best@3": "gain best3", "delta@1": "delta@1", "delta_best@3": "delta best3",
            "percentile@1": "pct@1", "weighted_tau": "w.tau", "percentile@3avg": "pct@3avg",
            "delta@3avg": "delta@3avg", "regret@3avg": "regret@3avg"}
_SCENARIO_METRICS = ("percentile@1", "weighted_tau", "percentile@3avg", "delta@3avg", "regret@3avg")


def _render(result: BenchResult, console: Console) -> None:
    targets = "shrunk (800-image)" if result.size == "800" else "full-size"
    seeds = "averaged first" if result.seeds == "mean" else "scored separately"
    console.print(f"[bold]Transfer benchmark[/bold] on {result.data}: {targets} targets, seeds {seeds}; top-3; "
                  f"random = exact expectation (tau: {result.permutations} permutations where scores tie)")
    for exp in result.experiments:
        table = Table(title=f"{exp.scenario} / {exp.metric} / {exp.size} ({len(exp.targets)} targets)",
                      title_justify="left")
        table.add_column("selector")
        for m in METRICS:
            table.add_column(_HEADERS[m], justify="right")
        best = {m: (min if m in LOWER_IS_BETTER else max)(
            (v[m] for v in exp.summary.values() if not math.isnan(v[m])), default=math.nan) for m in METRICS}
        for name, values in exp.summary.items():
            cells = []
            for m in METRICS:
                v = values[m]
                text = "-" if math.isnan(v) else f"{v:.3f}"
                cells.append(f"[bold]{text}[/bold]" if not math.isnan(v) and v == best[m] else text)
            table.add_row(name, *cells)
        console.print(table)
    for st in result.scenarios:
        table = Table(title=f"{st.scenario}: mean [95% CI] over {st.targets} targets (BA and AUROC pooled; "
                            f"{st.resamples} bootstrap resamples of targets)", title_justify="left")
        table.add_column("selector")
        for m in _SCENARIO_METRICS:
            table.add_column(_HEADERS[m], justify="right")
        for ref in REFERENCES:
            table.add_column(f"better than {ref}", justify="right")
        for name, by_m in st.intervals.items():
            cells = [f"{iv.mean:.3f} [{iv.low:.3f}, {iv.high:.3f}]" if math.isfinite(iv.mean) else "-"
                     for iv in (by_m[m] for m in _SCENARIO_METRICS)]
            for ref in REFERENCES:
                p = st.paired.get(name, {}).get(ref)
                cells.append("-" if p is None else
                             f"pct@1 {p['percentile@1']['p_better']:.0%}, tau {p['weighted_tau']['p_better']:.0%}")
            table.add_row(name, *cells)
        console.print(table)
    if result.aggregate_rank:
        ranks = ", ".join(f"{n} {r:.2f}" for n, r in result.aggregate_rank.items())
        console.print(f"Aggregate then rank (mean rank over experiment x meta-metric, 1 = best): {ranks}")
    console.print("Bold = best in column (lowest for regret@3avg). gain: share of targets beating the no-transfer baseline; "
                  "pct@1: percentile rank of the top suggestion (1 = best source); w.tau: weighted Kendall tau; "
                  "@3avg: averaged over the top-3 suggestions (the paper's Fig. 5); regret: normalised gap to the "
                  "best source. 'better than': share of bootstrap resamples in which the selector beats it.")
    for note in result.notes:
        console.print(f"[yellow]Note:[/yellow] {note}")


def bench_transfer(
    data: Annotated[Path, typer.Option("--data", help="Study folder (tasks.csv, groups.json, distances/, outcomes/).")],
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")] = False,
    rankings_out: Annotated[Path | None, typer.Option("--rankings-out", help="Write every ranking as JSON.")] = None,
    size: Annotated[str, typer.Option(help="Target size: 800 (shrunk, the study's protocol) or full.")] = "800",
    seeds: Annotated[str, typer.Option(help="mean: average seeds first; separate: score each seed.")] = "mean",
    metric: Annotated[list[str] | None, typer.Option(help="Only this metric (repeatable), e.g. BA.")] = None,
    permutations: Annotated[int, typer.Option(help="Random rankings for random's tau under ties.")]
    = DEFAULT_PERMUTATIONS,
    max_target_classes: Annotated[int | None, typer.Option(
        help="Only targets with at most N classes (the study's dev evaluation: 39).")] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples of targets for the intervals.")]
    = DEFAULT_RESAMPLES,
) -> None:
    """Score the planner, each distance, size-only and random on measured transfer outcomes."""
    if size not in ("800", "full"):
        raise UsageError("--size must be 800 or full")
    if seeds not in ("mean", "separate"):
        raise UsageError("--seeds must be mean or separate")
    study = load_transfer_study(data)
    result = run_transfer_bench(study, size=size, seeds=seeds, metrics=tuple(metric) if metric else None,
                                permutations=permutations, max_target_classes=max_target_classes,
                                resamples=resamples)
    if rankings_out is not None:
        atomic_write_text(rankings_out, json.dumps(result.rankings_json(), indent=1, sort_keys=True) + "\n")
    if json_out:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, allow_nan=False) + "\n")
        sys.stdout.flush()
    else:
        _render(result, Console(highlight=False))
    if rankings_out is not None:
        Console(stderr=True, highlight=False).print(f"rankings written to {rankings_out}")


def register(app: typer.Typer) -> None:
    """Add the ``bench`` group with its ``transfer`` command."""
    bench = typer.Typer(no_args_is_help=True, help="Benchmarks on published measurements.")
    bench.command("transfer")(bench_transfer)
    app.add_typer(bench, name="bench")
