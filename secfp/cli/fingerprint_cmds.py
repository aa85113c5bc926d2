"""Commands of the fingerprint journey: fingerprint, inspect, match, spec, probe, demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from secfp.cli._options import ForceOption, JsonOption, StrictOption, TrustOption
from secfp.cli._outputs import check_output
from secfp.cli._render import print_json, progress_bar, stderr, stdout
from secfp.errors import BadInput, UsageError

__all__ = ["register"]

spec_app = typer.Typer(help="Fingerprint specs: list, show, calibrate.", no_args_is_help=True)
probe_app = typer.Typer(help="Probe networks and their weights.", no_args_is_help=True)

SpecOption = Annotated[str, typer.Option("--spec", help="Shipped spec name or spec file.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")]


def fingerprint(
    data: Annotated[list[Path], typer.Argument(help="Image folders (recursive) or files: PNG/JPEG/TIFF/BMP, DICOM, NIfTI, .npy/.npz.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Fingerprint file to write.")],
    spec: SpecOption = "mobilenet_v2-b100",
    samples: Annotated[int, typer.Option(help="Images to sample, with replacement (paper: 10000).")] = 10_000,
    seed: Annotated[int, typer.Option(help="Seed of the sampling, crops and flips.")] = 0,
    nifti_axis: Annotated[int, typer.Option(help="Axis along which NIfTI volumes are sliced.")] = 2,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 32,
    numerics: Annotated[str, typer.Option(help="Numeric path: auto (compile from 2000 samples, else channels-last), fp32, channels-last, compile; bf16 only for bf16 specs.")] = "auto",
    scheduler: Annotated[Optional[str], typer.Option(help="Run the forward passes on the Dask scheduler tcp://HOST:PORT (pip install 'secfp[dask]').")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Run on a local Dask cluster of N single-threaded worker processes.")] = None,
    quiet: QuietOption = False,
    strict: StrictOption = False,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Fingerprint a task: sample images, run the probe, bin the features, write the counts."""
    from contextlib import nullcontext

    from secfp.fingerprint.histogram import save_fingerprint
    from secfp.fingerprint.pipeline import fingerprint_paths
    from secfp.fingerprint.spec import load_spec

    if scheduler is not None and workers is not None:
        raise UsageError("give --scheduler or --workers, not both")
    check_output(output, force=force)
    the_spec = load_spec(spec)
    if strict:
        from secfp.fingerprint.images import require_readable, scan

        require_readable(scan([str(p) for p in data], nifti_axis=nifti_axis))
    if scheduler is not None or workers is not None:
        from secfp.fingerprint.distributed import dask_runner

        cluster = dask_runner(scheduler=scheduler, workers=workers)
    else:
        cluster = nullcontext(None)
    with cluster as runner, progress_bar("fingerprinting", enabled=not (quiet or as_json)) as update:
        run = fingerprint_paths([str(p) for p in data], spec=the_spec, samples=samples, seed=seed, nifti_axis=nifti_axis,
                                batch_size=batch_size, numerics=numerics, runner=runner, on_progress=update)
    if strict and run.failed:
        raise BadInput(f"--strict: {len(run.failed)} images failed to decode, e.g. {run.failed[0][0]}: {run.failed[0][1]}")
    save_fingerprint(run.fingerprint, output)
    summary = {
        "output": str(output),
        "spec_id": run.fingerprint.spec_id,
        "n": run.fingerprint.n,
        "numerics": run.numerics,
        "images": len(run.report.refs),
        "files_read": run.report.files_read,
        "unreadable_files": [{"path": p, "error": e} for p, e in run.report.unreadable],
        "undecodable_images": [{"image": p, "error": e} for p, e in run.failed],
    }
    if as_json:
        print_json(summary)
    elif not quiet:
        stderr.print(f"{run.report.summary()}; {len(run.failed)} images failed to decode")
        for path, error in (run.report.unreadable + run.failed)[:10]:
            stderr.print(f"  skipped {path}: {error}")
        stderr.print(f"wrote {output} (n={run.fingerprint.n}, spec {run.fingerprint.spec_id[:12]})")



def inspect(
    file: Annotated[Path, typer.Argument(help="A fingerprint file or a bundle.")],
    as_json: JsonOption = False,
    key: Annotated[Optional[Path], typer.Option("--key", help="Our private key file (for sealed bundles).")] = None,
    trust: TrustOption = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Also write the fingerprint as a heat map (PNG, features x bins).")] = None,
    force: ForceOption = False,
    against: Annotated[Optional[Path], typer.Option("--against", help="With --plot: draw this fingerprint or bundle (e.g. the best match) beside ours, rows clustered alike.")] = None,
) -> None:
    """Show a fingerprint (or a bundle's verified statement)."""
    from secfp.cli._inputs import load_input

    check_output(plot, force=force, option="--plot")
    loaded = load_input(file, key=key, trust=trust)
    fp = loaded.fingerprint
    if against is not None and plot is None:
        raise UsageError("--against draws a side-by-side heat map: give --plot FILE.png too")
    if plot is not None:
        from secfp.report.heatmap import save_heatmap

        other = load_input(against, key=key, trust=trust).fingerprint if against is not None else None
        save_heatmap(fp, plot, title=file.name, against=other, against_title=against.name if against else None)
    if as_json:
        print_json(loaded.to_json())
        return
    table = Table(show_header=False)
    table.add_row("file", str(file))
    table.add_row("spec id", fp.spec_id)
    table.add_row("shape", f"{fp.shape[0]} features x {fp.shape[1]} bins")
    table.add_row("n", str(fp.n) + (" (DP estimate)" if fp.noisy else ""))
    table.add_row("noisy (DP)", "yes" if fp.noisy else "no")
    for name, value in loaded.facts():
        table.add_row(name, value)
    stdout.print(table)


def match(
    query: Annotated[Path, typer.Argument(help="Our task: a fingerprint file or bundle.")],
    sources: Annotated[Optional[list[Path]], typer.Argument(help="Received fingerprints or bundles to rank.")] = None,
    pool: Annotated[Optional[Path], typer.Option("--pool", help="Rank every usable bundle of this pool instead of (or besides) SOURCE files.")] = None,
    variant: Annotated[str, typer.Option(help="bKLD variant: small (target-weighted) or large (unweighted).")] = "small",
    top: Annotated[Optional[int], typer.Option(help="Show only the K closest.")] = None,
    as_json: JsonOption = False,
    html: Annotated[Optional[Path], typer.Option("--html", help="Also write a self-contained HTML report.")] = None,
    key: Annotated[Optional[Path], typer.Option("--key", help="Our private key file (for sealed bundles).")] = None,
    trust: TrustOption = None,
    policy: Annotated[Optional[Path], typer.Option("--policy", help="Import policy every received bundle must satisfy.")] = None,
    allow_unsigned: Annotated[bool, typer.Option("--allow-unsigned", help="Under --policy, rank unsigned fingerprint files too (marked unverified).")] = False,
    force: ForceOption = False,
    audit_log: Annotated[Optional[Path], typer.Option("--audit-log", help="Audit log (default: the policy's, else $SECFP_HOME/audit.jsonl).")] = None,
) -> None:
    """Rank source tasks by bKLD to the query (lower = closer). Bundles are verified first."""
    from datetime import datetime, timezone

    from secfp.cli._inputs import InputLoader
    from secfp.cli.pool_cmds import pool_receiver
    from secfp.workflows import use

    if not sources and pool is None:
        raise UsageError("give SOURCE files to rank, or --pool DIR")
    if sources and pool is not None:
        raise UsageError("give SOURCE files or --pool DIR, not both")
    check_output(html, force=force, option="--html")
    now = datetime.now(timezone.utc)
    receiver, unlock = pool_receiver(key=key if pool is not None else None, trust=trust, policy=policy,
                                     audit_log=audit_log, now=now)
    loader = InputLoader(key=key, trust=trust, policy=receiver.import_policy, audit_log=receiver.audit_log,
                         allow_unsigned=allow_unsigned)
    target = loader.load(query, ours=True)
    if pool is not None:
        ranking = use.rank_pool(pool, str(query), target.fingerprint, receiver=receiver, now=now, variant=variant,
                                top=top, key=unlock)
        rows, statements, results = use.pool_match_rows(ranking), ranking.statements(), list(ranking.matches)
    else:
        files = use.rank_files(str(query), target, {str(s): loader.load(s) for s in sources or []},
                               receiver=receiver, now=now, variant=variant, top=top)
        rows, statements, results = files.rows(), files.statements, list(files.results)
    if html is not None:
        from secfp._io import atomic_write_text
        from secfp.report import build_report, render_html

        report = build_report(query_name=str(query), query_fp=target.fingerprint, ranking=results,
                              statements=statements, plan=None, variant=variant, now=now)
        atomic_write_text(html, render_html(report), mode=0o600)  # may hold decrypted fingerprints
    if as_json:
        print_json({"variant": variant, "spec_id": target.fingerprint.spec_id, "query": str(query), "results": rows})
        return
    table = Table(title=f"bKLD ({variant}) to {query}")
    table.add_column("rank", justify="right")
    table.add_column("source")
    table.add_column("distance", justify="right")
    table.add_column("issuer")
    table.add_column("privacy")
    for r in rows:
        table.add_row(str(r["rank"]), r["source"], f"{r['distance']:.4f}", r.get("issuer") or "-", str(r.get("privacy") or "-"))
    stdout.print(table)


@spec_app.command("list")
def spec_list() -> None:
    """List the specs that ship with secfp."""
    from secfp.fingerprint.spec import load_spec, shipped_spec_names

    for name in shipped_spec_names():
        s = load_spec(name)
        stdout.print(f"{name}\t{s.spec_id}\t{s.probe}\t{s.bins} bins\t{s.num_features} features")


@spec_app.command("show")
def spec_show(
    spec: Annotated[str, typer.Argument(help="Shipped spec name or spec file.")] = "mobilenet_v2-b100",
    as_json: JsonOption = False,
) -> None:
    """Show a spec's id, probe, weights digest, preprocessing and calibration."""
    from secfp.fingerprint.spec import load_spec

    s = load_spec(spec)
    info = {
        "spec_id": s.spec_id, "probe": s.probe, "weights": s.weights, "weights_sha256": s.weights_sha256,
        "bins": s.bins, "features": s.num_features, "preprocessing": s.preprocessing, "calibration": s.calibration,
    }
    if as_json:
        print_json(info)
    else:
        for k, v in info.items():
            if isinstance(v, dict):
                stdout.print(f"{k}:")
                for sub, value in v.items():
                    stdout.print(f"  {sub}: {_readable(value)}", soft_wrap=True)
            else:
                stdout.print(f"{k}: {_readable(v)}", soft_wrap=True)


def _readable(value: object) -> str:
    """Lists as comma-separated values (long ones shortened), everything else as its text."""
    if isinstance(value, list | tuple):
        items = [_readable(x) for x in value]
        return ", ".join(items) if len(items) <= 8 else ", ".join(items[:6]) + f", ... ({len(items)} values)"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@spec_app.command("calibrate")
def spec_calibrate(
    data: Annotated[list[Path], typer.Argument(help="Public reference images (never private data).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Spec file to write.")],
    reference: Annotated[str, typer.Option(help="Which public reference set this is (recorded in the spec).")],
    probe: Annotated[str, typer.Option(help="Probe network (see `secfp probe list`).")] = "mobilenet_v2",
    bins: Annotated[int, typer.Option(help="Bins per feature (paper: 100 small, 1000 large).")] = 100,
    samples: Annotated[int, typer.Option(help="Reference samples with crops and flips.")] = 4000,
    seed: Annotated[int, typer.Option()] = 0,
    q_low: Annotated[float, typer.Option(help="Lower edge quantile.")] = 0.05,
    q_high: Annotated[float, typer.Option(help="Upper edge quantile.")] = 0.95,
    random_weights: Annotated[Optional[int], typer.Option(help="Use an UNTRAINED probe with this seed (recorded in the spec; never matches real specs).")] = None,
    quiet: QuietOption = False,
    force: ForceOption = False,
) -> None:
    """Calibrate a spec: per-feature quantile edges of the probe's features on public images."""
    from secfp.fingerprint.pipeline import calibrate_spec
    from secfp.fingerprint.spec import save_spec

    check_output(output, force=force)

    weights = f"random:{random_weights}" if random_weights is not None else "IMAGENET1K_V1"
    with progress_bar("calibrating", enabled=not quiet) as update:
        s = calibrate_spec([str(p) for p in data], probe=probe, weights=weights, bins=bins, samples=samples,
                           seed=seed, q_low=q_low, q_high=q_high, reference=reference, on_progress=update)
    save_spec(s, output)
    if not quiet:
        stderr.print(f"wrote {output}: spec {s.spec_id} ({s.probe}, {s.bins} bins, {s.calibration['degenerate_features']} degenerate features)")


@probe_app.command("list")
def probe_list() -> None:
    """List registered probes and whether their weights are installed."""
    from secfp.fingerprint.probe import PROBES, checkpoint_path

    for info in PROBES.values():
        path = checkpoint_path(info)
        state = "installed" if path.is_file() else "missing"
        stdout.print(f"{info.name}\t{info.num_features} features\t{info.weights_enum}.{info.weights_name}\t{state}: {path}")


@probe_app.command("import-weights")
def probe_import_weights(
    file: Annotated[Path, typer.Argument(help="A torchvision checkpoint file, e.g. mobilenet_v2-b0353104.pth.")],
    probe: Annotated[Optional[str], typer.Option(help="Probe it must belong to.")] = None,
) -> None:
    """Check a checkpoint's SHA-256 and tensors, then place it where torchvision finds it."""
    from secfp.fingerprint.probe import import_weights

    info, target = import_weights(file, probe=probe)
    stderr.print(f"imported {info.name} weights ({info.weights_enum}.{info.weights_name}) to {target}")


def demo(
    out: Annotated[Path, typer.Option(help="Working folder for the sample tasks and fingerprints.")] = Path("demo-out"),
    samples: Annotated[int, typer.Option(help="Images sampled per task half.")] = 300,
    spec: SpecOption = "mobilenet_v2-b100",
    quiet: QuietOption = False,
) -> None:
    """Fingerprint real sample tasks (shipped with the dependencies) and rank them split-half."""
    from secfp.fingerprint.histogram import save_fingerprint
    from secfp.fingerprint.pipeline import fingerprint_paths
    from secfp.fingerprint.spec import load_spec
    from secfp.matching.ranking import rank_sources
    from secfp.sample_tasks import SAMPLE_TASKS, build_sample_tasks

    the_spec = load_spec(spec)
    folders = build_sample_tasks(out / "tasks")
    prints = {}
    for name, (dir_a, dir_b) in folders.items():
        for half, folder in (("a", dir_a), ("b", dir_b)):
            with progress_bar(f"{name}/{half}", enabled=not quiet) as update:
                run = fingerprint_paths([str(folder)], spec=the_spec, samples=samples, seed=1, on_progress=update)
            save_fingerprint(run.fingerprint, out / "fingerprints" / f"{name}-{half}.json")
            prints[(name, half)] = run.fingerprint
    sources = [(name, prints[(name, "b")]) for name in folders]
    table = Table(title=f"Split-half retrieval: each task's half a against every task's half b (bKLD small, n={samples})")
    table.add_column("query (half a)")
    table.add_column("modality")
    table.add_column("closest (half b)")
    table.add_column("bKLD", justify="right")
    table.add_column("runner-up")
    table.add_column("bKLD", justify="right")
    table.add_column("own half rank", justify="right")
    modality = {t.name: t.modality for t in SAMPLE_TASKS}
    hits = 0
    for name in folders:
        ranking = rank_sources(prints[(name, "a")], sources)
        own = next(r.rank for r in ranking if r.source == name)
        hits += own == 1
        table.add_row(name, modality[name], ranking[0].source, f"{ranking[0].distance:.4f}",
                      ranking[1].source, f"{ranking[1].distance:.4f}", str(own))
    stdout.print(table)
    stdout.print(f"{hits} of {len(folders)} tasks retrieve their own other half first. Fingerprints in {out / 'fingerprints'}.")


def sample_tasks(
    out: Annotated[Path, typer.Argument(help="Folder to write the tasks to (OUT/<task>/a and OUT/<task>/b).")],
) -> None:
    """Write the real sample tasks (images shipped with the dependencies) as two disjoint halves each."""
    from secfp.sample_tasks import SAMPLE_TASKS, build_sample_tasks

    folders = build_sample_tasks(out)
    for task in SAMPLE_TASKS:
        stdout.print(f"{task.name}\t{task.modality}\t{folders[task.name][0]}\t{folders[task.name][1]}\t{task.description}")


def register(app: typer.Typer) -> None:
    app.command("sample-tasks")(sample_tasks)
    app.command()(fingerprint)
    app.command()(inspect)
    app.command()(match)
    app.command()(demo)
    app.add_typer(spec_app, name="spec")
    app.add_typer(probe_app, name="probe")
