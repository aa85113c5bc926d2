"""Load a transfer-outcome study folder (Godau et al., arXiv 2412.08763) and apply its protocol.

The folder layout is the one of ``tests/data/paper-transfer-dev`` (see its README):
``tasks.csv``, ``groups.json``, ``distances/<measure>.csv`` and
``outcomes/<scenario>_<metric>_<800|full>.csv`` plus ``outcomes/baseline_<metric>_<800|full>.csv``.

Why a strict loader: the benchmark's numbers are only as good as the protocol behind them.
A source that shares images with its target, a missing seed or a distance column for the
wrong target size would all bias the result silently, so each of them is an error here
(:class:`secfp.errors.BadInput`, exit 3) that names the file and what is wrong.

Protocol rules encoded here, from the study (README "Protocol of the study" and the
study's ``mml_tf/tasks.py``):

* valid sources of a target in the *dev* split: the other dev tasks; of a target in the
  *val* split: all tasks except itself; in both cases minus every task in the target's
  image-sharing group (:func:`valid_sources`);
* a shrunk experiment (``_800``) uses the target's ``NAME@800`` distance column and its
  800-image baseline where they exist; a target that could not be shrunk was trained at
  full size, so it uses its full column and full baseline (:func:`distance_column`,
  :func:`baseline`).

This module reads files and checks them; it computes no metric.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from secfp._io import read_capped, strict_json_loads
from secfp.errors import BadInput
from secfp.evaluation._csv_fields import parse_float, parse_int, parse_keywords, read_csv

__all__ = [
    "SCENARIOS",
    "SIZES",
    "SHRUNK_SUFFIX",
    "TaskInfo",
    "DistanceTable",
    "Experiment",
    "TransferStudy",
    "load_transfer_study",
    "valid_sources",
    "distance_column",
    "baseline",
]

SCENARIOS: tuple[str, ...] = ("architecture", "pretraining", "augmentation", "cotraining")
SIZES: tuple[str, ...] = ("800", "full")
SHRUNK_SUFFIX = "@800"
SPLITS = ("dev", "val")

# Generous: the real groups.json is under 1 kB. The cap bounds memory on a hostile folder.
_JSON_CAP = 4 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
_MEASURE = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
_OUTCOME_FILE = re.compile(r"^(?P<kind>[a-z]+)_(?P<metric>[A-Za-z0-9]+)_(?P<size>800|full)\.csv$")


@dataclass(frozen=True)
class TaskInfo:
    """One row of ``tasks.csv``: the meta-information a planner may use about a source."""

    name: str
    num_classes: int
    num_samples: int
    domains: str
    keywords: tuple[str, ...]
    split: str
    group: str | None
    datasets: str = ""
    imbalance_ratio: float | None = None  # largest over smallest class count
    image_pixels: float | None = None  # typical pixels per image: geometric mean of min and max resolution


@dataclass(frozen=True)
class DistanceTable:
    """``distances/<measure>.csv``: rows are sources, columns targets (``NAME`` or ``NAME@800``)."""

    measure: str
    sources: tuple[str, ...]
    columns: tuple[str, ...]
    values: np.ndarray = field(repr=False)

    def value(self, source: str, column: str) -> float:
        return float(self.values[self.sources.index(source), self.columns.index(column)])


@dataclass(frozen=True)
class Experiment:
    """One outcome file: measured scores per target, source and seed, and the baselines.

    ``scores[target][source][seed]`` and ``baselines[target][seed]``; every target's sources
    are exactly its valid sources and every pair has the baseline's seeds (checked on load).
    """

    scenario: str
    metric: str
    size: str
    scores: Mapping[str, Mapping[str, Mapping[int, float]]]
    baselines: Mapping[str, Mapping[int, float]]

    @property
    def key(self) -> str:
        return f"{self.scenario}_{self.metric}_{self.size}"

    @property
    def shrunk(self) -> bool:
        return self.size == "800"


@dataclass(frozen=True)
class TransferStudy:
    """A whole study folder, checked: tasks, groups, distance tables and experiments."""

    root: str
    tasks: Mapping[str, TaskInfo]
    groups: Mapping[str, tuple[str, ...]]
    distances: Mapping[str, DistanceTable]
    experiments: Mapping[str, Experiment]

    def experiment(self, scenario: str, metric: str, size: str) -> Experiment:
        key = f"{scenario}_{metric}_{size}"
        if key not in self.experiments:
            raise BadInput(f"{self.root}: no outcomes/{key}.csv in this study")
        return self.experiments[key]


def valid_sources(study: TransferStudy, target: str) -> tuple[str, ...]:
    """The sources a target may learn from, sorted by name (the study's ``get_valid_sources``).

    Dev targets draw only on dev tasks, so the validation split stays unseen during
    development; val targets may use all tasks. Tasks that share images with the target
    (same group) are never valid: their "transfer" would be leakage, not knowledge.
    """
    info = study.tasks.get(target)
    if info is None:
        raise BadInput(f"{study.root}: target {target!r} is not in tasks.csv")
    pool = [t for t in study.tasks.values() if info.split == "val" or t.split == "dev"]
    return tuple(
        sorted(t.name for t in pool if t.name != target and (info.group is None or t.group != info.group))
    )


def distance_column(table: DistanceTable, target: str, *, shrunk: bool) -> str:
    """The column to rank sources for ``target``: ``target@800`` for shrunk experiments where present."""
    if shrunk and target + SHRUNK_SUFFIX in table.columns:
        return target + SHRUNK_SUFFIX
    if target in table.columns:
        return target
    raise BadInput(f"distances/{table.measure}.csv has no column for target {target!r}")


def baseline(baselines: Mapping[tuple[str, str], Mapping[str, Mapping[int, float]]], metric: str, target: str,
             *, shrunk: bool) -> Mapping[int, float]:
    """The no-transfer score per seed: the 800-image one for shrunk targets, else the full one."""
    if shrunk and target in baselines.get((metric, "800"), {}):
        return baselines[(metric, "800")][target]
    if target in baselines.get((metric, "full"), {}):
        return baselines[(metric, "full")][target]
    size = "800 or full" if shrunk else "full"
    raise BadInput(f"no baseline_{metric}_{size} column for target {target!r}")


def load_transfer_study(path: str | Path) -> TransferStudy:
    """Read and check a study folder; raises :class:`BadInput` naming the first problem found."""
    root = Path(path)
    if not root.is_dir():
        raise BadInput(f"transfer study folder {root} does not exist or is not a folder")
    tasks = _load_tasks(root / "tasks.csv")
    groups = _load_groups(root / "groups.json", tasks)
    distances = _load_distances(root / "distances", tasks)
    experiments = _load_experiments(root, tasks)
    study = TransferStudy(str(root), MappingProxyType(tasks), MappingProxyType(groups),
                          MappingProxyType(distances), MappingProxyType({}))
    for exp in experiments.values():
        _check_experiment(study, exp)
        for table in distances.values():
            for target in exp.scores:
                column = distance_column(table, target, shrunk=exp.shrunk)
                missing = sorted(set(valid_sources(study, target)) - set(table.sources))
                if missing:
                    raise BadInput(f"distances/{table.measure}.csv lacks rows for valid sources of {column}: {missing}")
    return TransferStudy(str(root), study.tasks, study.groups, study.distances, MappingProxyType(experiments))


def _load_tasks(path: Path) -> dict[str, TaskInfo]:
    rows = read_csv(path)
    header = rows[0]
    need = ("name", "num_classes", "num_samples", "domains", "keywords", "split", "group")
    missing = [c for c in need if c not in header]
    if missing:
        raise BadInput(f"{path}: missing columns {missing}")
    col = {c: header.index(c) for c in need}
    tasks: dict[str, TaskInfo] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise BadInput(f"{path}:{line}: {len(row)} fields, header has {len(header)}")
        where = f"{path}:{line}"
        name = row[col["name"]]
        if not _NAME.match(name) or name.endswith(SHRUNK_SUFFIX):
            raise BadInput(f"{where}: bad task name {name!r}")
        if name in tasks:
            raise BadInput(f"{where}: task {name!r} listed twice")
        split = row[col["split"]]
        if split not in SPLITS:
            raise BadInput(f"{where}: split must be 'dev' or 'val', not {split!r}")
        tasks[name] = TaskInfo(
            name=name,
            num_classes=parse_int(row[col["num_classes"]], f"{where} num_classes", minimum=1),
            num_samples=parse_int(row[col["num_samples"]], f"{where} num_samples", minimum=1),
            domains=row[col["domains"]],
            keywords=parse_keywords(row[col["keywords"]], where),
            split=split,
            group=row[col["group"]] or None,
            datasets=row[header.index("datasets")] if "datasets" in header else "",
            imbalance_ratio=_optional_float(row, header, "imbalance_ratios", where),
            image_pixels=_typical_pixels(row, header, where),
        )
    if not tasks:
        raise BadInput(f"{path}: no tasks")
    return tasks


def _optional_float(row: list[str], header: list[str], column: str, where: str) -> float | None:
    """A positive finite number from an optional column; None where the column or the value is absent."""
    if column not in header or not row[header.index(column)].strip():
        return None
    value = parse_float(row[header.index(column)], f"{where} {column}", allow_nan=True)
    if math.isnan(value):
        return None
    if not math.isfinite(value) or value <= 0:
        raise BadInput(f"{where}: {column} must be a positive number, not {value!r}")
    return value


def _typical_pixels(row: list[str], header: list[str], where: str) -> float | None:
    low = _optional_float(row, header, "min_resolution", where)
    high = _optional_float(row, header, "max_resolution", where)
    if low is None or high is None:
        return None
    return math.sqrt(low * high)


def _load_groups(path: Path, tasks: Mapping[str, TaskInfo]) -> dict[str, tuple[str, ...]]:
    if not path.is_file():
        raise BadInput(f"missing study file {path}")
    raw = strict_json_loads(read_capped(path, cap=_JSON_CAP, what="groups file"), what=str(path))
    if not isinstance(raw, dict):
        raise BadInput(f"{path}: expected an object mapping group name to a list of tasks")
    groups: dict[str, tuple[str, ...]] = {}
    member_of: dict[str, str] = {}
    for name, members in raw.items():
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise BadInput(f"{path}: group {name!r} must be a list of task names")
        for m in members:
            if m not in tasks:
                raise BadInput(f"{path}: group {name!r} names unknown task {m!r}")
            if m in member_of:
                raise BadInput(f"{path}: task {m!r} is in groups {member_of[m]!r} and {name!r}")
            member_of[m] = name
        groups[name] = tuple(members)
    for t in tasks.values():
        if t.group != member_of.get(t.name):
            raise BadInput(
                f"tasks.csv says {t.name!r} is in group {t.group!r}, groups.json says {member_of.get(t.name)!r}"
            )
    return groups


def _load_distances(folder: Path, tasks: Mapping[str, TaskInfo]) -> dict[str, DistanceTable]:
    if not folder.is_dir():
        raise BadInput(f"missing folder {folder}")
    tables: dict[str, DistanceTable] = {}
    for path in sorted(folder.glob("*.csv")):
        measure = path.stem
        if not _MEASURE.match(measure):
            raise BadInput(f"{path}: measure names are lower-case letters, digits and '_'")
        rows = read_csv(path)
        columns = tuple(rows[0][1:])
        if len(set(columns)) != len(columns):
            raise BadInput(f"{path}: duplicate target columns")
        for c in columns:
            if c.removesuffix(SHRUNK_SUFFIX) not in tasks:
                raise BadInput(f"{path}: column {c!r} is not a task of tasks.csv")
        sources: list[str] = []
        values = np.empty((len(rows) - 1, len(columns)), dtype=np.float64)
        for i, row in enumerate(rows[1:]):
            if len(row) != len(columns) + 1:
                raise BadInput(f"{path}:{i + 2}: {len(row)} fields, header has {len(columns) + 1}")
            if row[0] not in tasks or row[0] in sources:
                raise BadInput(f"{path}:{i + 2}: row {row[0]!r} is unknown or repeated")
            sources.append(row[0])
            for j, cell in enumerate(row[1:]):
                values[i, j] = parse_float(cell, f"{path}:{i + 2} column {columns[j]}", allow_nan=True)
        values.setflags(write=False)
        tables[measure] = DistanceTable(measure, tuple(sources), columns, values)
    if not tables:
        raise BadInput(f"{folder}: no distance tables (*.csv)")
    return tables


def _load_baselines(path: Path, tasks: Mapping[str, TaskInfo]) -> dict[str, dict[int, float]]:
    rows = read_csv(path)
    header = rows[0]
    if not header or header[0] != "seed":
        raise BadInput(f"{path}: first column must be 'seed'")
    for t in header[1:]:
        if t not in tasks:
            raise BadInput(f"{path}: column {t!r} is not a task of tasks.csv")
    if len(set(header)) != len(header):
        raise BadInput(f"{path}: duplicate columns")
    result: dict[str, dict[int, float]] = {t: {} for t in header[1:]}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise BadInput(f"{path}:{line}: {len(row)} fields, header has {len(header)}")
        seed = parse_int(row[0], f"{path}:{line} seed", minimum=0)
        for t, cell in zip(header[1:], row[1:], strict=True):
            if seed in result[t]:
                raise BadInput(f"{path}:{line}: seed {seed} repeated")
            result[t][seed] = parse_float(cell, f"{path}:{line} column {t}", allow_nan=False)
    return result


def _load_experiments(root: Path, tasks: Mapping[str, TaskInfo]) -> dict[str, Experiment]:
    folder = root / "outcomes"
    if not folder.is_dir():
        raise BadInput(f"missing folder {folder}")
    baselines: dict[tuple[str, str], dict[str, dict[int, float]]] = {}
    pending: list[tuple[Path, str, str, str]] = []
    for path in sorted(folder.glob("*.csv")):
        m = _OUTCOME_FILE.match(path.name)
        if m is None:
            raise BadInput(f"{path}: expected <scenario>_<metric>_<800|full>.csv or baseline_<metric>_<800|full>.csv")
        kind, metric, size = m["kind"], m["metric"], m["size"]
        if kind == "baseline":
            baselines[(metric, size)] = _load_baselines(path, tasks)
        elif kind in SCENARIOS:
            pending.append((path, kind, metric, size))
        else:
            raise BadInput(f"{path}: unknown scenario {kind!r}; expected one of {', '.join(SCENARIOS)}")
    experiments: dict[str, Experiment] = {}
    for path, scenario, metric, size in pending:
        rows = read_csv(path)
        if rows[0] != ["seed", "source", "target", "score"]:
            raise BadInput(f"{path}: header must be seed,source,target,score")
        scores: dict[str, dict[str, dict[int, float]]] = {}
        for line, row in enumerate(rows[1:], start=2):
            if len(row) != 4:
                raise BadInput(f"{path}:{line}: expected 4 fields")
            seed = parse_int(row[0], f"{path}:{line} seed", minimum=0)
            source, target = row[1], row[2]
            for t in (source, target):
                if t not in tasks:
                    raise BadInput(f"{path}:{line}: {t!r} is not a task of tasks.csv")
            cell = scores.setdefault(target, {}).setdefault(source, {})
            if seed in cell:
                raise BadInput(f"{path}:{line}: seed {seed} for {source} -> {target} repeated")
            cell[seed] = parse_float(row[3], f"{path}:{line} score", allow_nan=False)
        if not scores:
            raise BadInput(f"{path}: no outcome rows")
        per_target: dict[str, Mapping[int, float]] = {}
        for target in scores:
            try:
                per_target[target] = MappingProxyType(baseline(baselines, metric, target, shrunk=size == "800"))
            except BadInput as exc:
                raise BadInput(f"{path}: {exc}") from None
        frozen = {t: MappingProxyType({s: MappingProxyType(v) for s, v in src.items()}) for t, src in scores.items()}
        exp = Experiment(scenario, metric, size, MappingProxyType(frozen), MappingProxyType(per_target))
        experiments[exp.key] = exp
    if not experiments:
        raise BadInput(f"{folder}: no outcome files")
    return experiments


def _check_experiment(study: TransferStudy, exp: Experiment) -> None:
    where = f"outcomes/{exp.key}.csv"
    for target, by_source in exp.scores.items():
        valid = set(valid_sources(study, target))
        have = set(by_source)
        if have != valid:
            extra, missing = sorted(have - valid), sorted(valid - have)
            raise BadInput(
                f"{where}: sources of target {target!r} do not match the valid sources "
                f"(not allowed: {extra[:5]}{'...' if len(extra) > 5 else ''}; "
                f"missing: {missing[:5]}{'...' if len(missing) > 5 else ''})"
            )
        seeds = set(exp.baselines[target])
        for source, by_seed in by_source.items():
            if set(by_seed) != seeds:
                raise BadInput(
                    f"{where}: {source} -> {target} has seeds {sorted(by_seed)}, baseline has {sorted(seeds)}"
                )
