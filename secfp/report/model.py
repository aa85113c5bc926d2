"""What a report says: the query, the ranked sources with their provenance, and the plan.

:func:`build_report` gathers the values the renderers need from a ranking
(:class:`secfp.matching.ranking.MatchResult`), the verified statements that came with
the sources (:class:`secfp.exchange.VerifiedStatement`, or None for an unsigned
fingerprint file) and an optional :class:`secfp.planning.planner.TransferPlan`.
It is pure: no I/O, and the clock is a parameter.

Everything copied from a statement (issuer, card, privacy ledger, policy) was signed
by the issuer, but the issuer is still an outside party: the strings are kept as they
are here, and every renderer must escape them (:mod:`secfp.report.html` does).
What this module does not do: verify anything. A row is ``verified`` exactly when a
statement was given for it, so callers must pass only statements that
:func:`secfp.exchange.open_bundle` (or ``load_fingerprint_or_bundle``) returned.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePath
from typing import Any

from secfp._io import canonical_json, format_utc, strict_json_loads
from secfp.errors import BadInput, UsageError
from secfp.report._evidence import (EVIDENCE_KEYS, check_evidence, check_heatmap, comparison, query_floor,
                                    result_evidence)

__all__ = ["REPORT_KIND", "REPORT_VERSION", "EVIDENCE_KEYS", "QueryInfo", "SourceRow", "Report", "build_report", "format_time"]

REPORT_KIND = "secfp.report"
REPORT_VERSION = 1


def format_time(value: datetime) -> str:
    """UTC, to the second, with a ``Z`` (:func:`secfp._io.format_utc`); a naive time is a UsageError."""
    try:
        return format_utc(value)
    except ValueError:
        raise UsageError("report times must be timezone-aware datetimes") from None


def _json_copy(value: Any, *, what: str) -> Any:
    """A private deep copy that is plain JSON (rejects NaN, infinities and non-JSON types)."""
    try:
        return strict_json_loads(canonical_json(value), what=what)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"{what} is not plain JSON: {exc}") from None


def _opt_str(value: Any, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise BadInput(f"report field {what} must be a string or null")
    return value


@dataclass(frozen=True)
class QueryInfo:
    """Our own task: its label, spec id, image count and whether its counts carry DP noise."""

    name: str
    spec_id: str
    n: int
    noisy: bool
    features: int
    bins: int

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not isinstance(self.spec_id, str):
            raise BadInput("report query name and spec id must be strings")
        for key in ("n", "features", "bins"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BadInput(f"report query {key} must be a positive integer")
        if not isinstance(self.noisy, bool):
            raise BadInput("report query noisy must be true or false")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "spec_id": self.spec_id, "n": self.n, "noisy": self.noisy,
                "features": self.features, "bins": self.bins}

    @classmethod
    def from_json(cls, obj: Any) -> QueryInfo:
        keys = {"name", "spec_id", "n", "noisy", "features", "bins"}
        if not isinstance(obj, Mapping) or set(obj) != keys:
            raise BadInput(f"report query needs exactly: {', '.join(sorted(keys))}")
        return cls(**{k: obj[k] for k in keys})


_ROW_KEYS = ("rank", "source", "distance", "variant", "verified", "issuer", "issuer_key_id", "task", "bundle_id",
             "issued_at", "expires_at", "public", "checks", "privacy", "policy_id", "data_use")
_ROW_OPTIONAL = ("evidence",)

@dataclass(frozen=True)
class SourceRow:
    """One ranked source. Provenance fields are None for an unsigned fingerprint file.

    ``privacy`` is the statement's privacy ledger as signed (None when unsigned: a file
    on disk makes no privacy claim). ``task`` is the card's ``task.name`` when the card
    has one.
    """

    rank: int
    source: str
    distance: float
    variant: str
    verified: bool
    issuer: str | None = None
    issuer_key_id: str | None = None
    task: str | None = None
    bundle_id: str | None = None
    issued_at: str | None = None
    expires_at: str | None = None
    public: bool | None = None
    checks: tuple[str, ...] = ()
    privacy: dict[str, Any] | None = field(default=None, hash=False)
    policy_id: str | None = None
    data_use: tuple[str, ...] = ()
    evidence: dict[str, Any] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
            raise BadInput("report row rank must be a positive integer")
        if not isinstance(self.source, str) or not isinstance(self.variant, str):
            raise BadInput("report row source and variant must be strings")
        if isinstance(self.distance, bool) or not isinstance(self.distance, int | float) \
                or not math.isfinite(self.distance):
            raise BadInput(f"report row distance must be a finite number, got {self.distance!r:.40}")
        object.__setattr__(self, "distance", float(self.distance))
        if not isinstance(self.verified, bool) or (self.public is not None and not isinstance(self.public, bool)):
            raise BadInput("report row verified and public must be true or false")
        for key in ("issuer", "issuer_key_id", "task", "bundle_id", "issued_at", "expires_at", "policy_id"):
            _opt_str(getattr(self, key), key)
        for key in ("checks", "data_use"):
            values = getattr(self, key)
            if not isinstance(values, tuple | list) or not all(isinstance(v, str) for v in values):
                raise BadInput(f"report row {key} must be a list of strings")
            object.__setattr__(self, key, tuple(values))
        if self.privacy is not None:
            if not isinstance(self.privacy, Mapping):
                raise BadInput("report row privacy must be an object or null")
            object.__setattr__(self, "privacy", _json_copy(dict(self.privacy), what="privacy ledger"))
        if not self.verified and (self.issuer is not None or self.checks):
            raise BadInput("an unverified report row cannot name an issuer or checks")
        if self.evidence is not None:
            object.__setattr__(self, "evidence", check_evidence(self.evidence))

    def to_json(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in _ROW_KEYS}
        out["checks"], out["data_use"] = list(self.checks), list(self.data_use)
        out["privacy"] = copy.deepcopy(self.privacy)
        out["evidence"] = copy.deepcopy(self.evidence)
        return out

    @classmethod
    def from_json(cls, obj: Any) -> SourceRow:
        if not isinstance(obj, Mapping) or not set(_ROW_KEYS) <= set(obj) <= {*_ROW_KEYS, *_ROW_OPTIONAL}:
            raise BadInput(f"report row needs exactly: {', '.join(_ROW_KEYS)} (and optionally evidence)")
        return cls(**{k: obj[k] for k in (*_ROW_KEYS, *_ROW_OPTIONAL) if k in obj})


@dataclass(frozen=True)
class Report:
    """A whole report: renderers take this and nothing else."""

    title: str
    generated_at: str
    query: QueryInfo
    variant: str
    rows: tuple[SourceRow, ...]
    plan: dict[str, Any] | None = field(default=None, hash=False)
    notes: tuple[str, ...] = ()
    query_task: str | None = None
    query_floor: float | None = None
    heatmap: dict[str, str] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if not all(isinstance(v, str) for v in (self.title, self.generated_at, self.variant)):
            raise BadInput("report title, generated_at and variant must be strings")
        _opt_str(self.query_task, "query_task")
        if self.query_floor is not None and (isinstance(self.query_floor, bool)
                                             or not isinstance(self.query_floor, int | float)
                                             or not math.isfinite(self.query_floor)):
            raise BadInput("report query_floor must be a finite number or null")
        if self.heatmap is not None:
            object.__setattr__(self, "heatmap", check_heatmap(self.heatmap))
        if not isinstance(self.query, QueryInfo):
            raise BadInput("report query must be a QueryInfo")
        if not isinstance(self.rows, tuple | list) or not all(isinstance(r, SourceRow) for r in self.rows):
            raise BadInput("report rows must be SourceRow values")
        object.__setattr__(self, "rows", tuple(self.rows))
        if not isinstance(self.notes, tuple | list) or not all(isinstance(n, str) for n in self.notes):
            raise BadInput("report notes must be a list of strings")
        object.__setattr__(self, "notes", tuple(self.notes))
        if self.plan is not None:
            if not isinstance(self.plan, Mapping):
                raise BadInput("report plan must be an object or null")
            object.__setattr__(self, "plan", _json_copy(dict(self.plan), what="transfer plan"))

    def to_json(self) -> dict[str, Any]:
        return {"v": REPORT_VERSION, "kind": REPORT_KIND, "title": self.title, "generated_at": self.generated_at,
                "query": self.query.to_json(), "variant": self.variant, "rows": [r.to_json() for r in self.rows],
                "plan": copy.deepcopy(self.plan), "notes": list(self.notes), "query_task": self.query_task,
                "query_floor": self.query_floor, "heatmap": copy.deepcopy(self.heatmap)}

    @classmethod
    def from_json(cls, obj: Any) -> Report:
        """Strict parse of :meth:`to_json`'s output (exact keys, version 1); raises BadInput.

        ``query_task``, ``query_floor`` and ``heatmap`` may be absent (reports written before they existed).
        """
        keys = {"v", "kind", "title", "generated_at", "query", "variant", "rows", "plan", "notes"}
        if not isinstance(obj, Mapping) or not keys <= set(obj) <= keys | {"query_task", "query_floor", "heatmap"}:
            raise BadInput(f"a report needs exactly: {', '.join(sorted(keys))} (and optionally query_task, "
                           "query_floor)")
        if obj["kind"] != REPORT_KIND or type(obj["v"]) is not int or obj["v"] != REPORT_VERSION:
            raise BadInput(f"not a version-{REPORT_VERSION} {REPORT_KIND} document")
        if not isinstance(obj["rows"], list):
            raise BadInput("report rows must be a list")
        return cls(title=obj["title"], generated_at=obj["generated_at"], query=QueryInfo.from_json(obj["query"]),
                   variant=obj["variant"], rows=tuple(SourceRow.from_json(r) for r in obj["rows"]),
                   plan=obj["plan"], notes=obj["notes"], query_task=obj.get("query_task"),
                   query_floor=obj.get("query_floor"), heatmap=obj.get("heatmap"))


def _task_name(card: Any) -> str | None:
    task = card.get("task") if isinstance(card, Mapping) else None
    name = task.get("name") if isinstance(task, Mapping) else None
    return name if isinstance(name, str) else None


def _row(result: Any, statement: Any, variant: str, evidence: dict[str, Any] | None = None) -> SourceRow:
    base = {"rank": result.rank, "source": str(result.source), "distance": result.distance, "variant": variant,
            "evidence": evidence}
    if statement is None:
        return SourceRow(verified=False, **base)
    policy = statement.policy if isinstance(statement.policy, Mapping) else None
    return SourceRow(
        verified=True,
        issuer=statement.issuer_name,
        issuer_key_id=statement.issuer_key_id,
        task=_task_name(statement.card),
        bundle_id=statement.bundle_id,
        issued_at=format_time(statement.issued_at),
        expires_at=format_time(statement.expires_at),
        public=bool(statement.public),
        checks=tuple(statement.checks),
        privacy=dict(statement.privacy),
        policy_id=policy.get("id") if policy else None,
        data_use=tuple(policy.get("data_use", ())) if policy else (),
        **base,
    )


def build_report(
    *,
    query_name: str,
    query_fp: Any,
    ranking: Sequence[Any],
    statements: Mapping[str, Any],
    plan: Any = None,
    variant: str,
    now: datetime,
    title: str | None = None,
    notes: Sequence[str] = (),
    query_task: str | None = None,
    evidence: Mapping[str, Mapping[str, Any]] | None = None,
    best_match_fp: Any = None,
) -> Report:
    """Assemble a :class:`Report` from a ranking, its sources' statements and a plan.

    ``ranking`` holds objects with ``source``, ``distance`` and ``rank`` (``MatchResult``).
    ``statements`` maps every ranked ``source`` to its ``VerifiedStatement``, or to None
    for an unsigned fingerprint file; a ranked source missing from it is a UsageError
    (silently calling it unsigned would hide a caller's bug). ``plan`` is a
    ``TransferPlan`` (anything with ``to_json()``) or None. ``notes`` are added after
    the notes this function writes itself (unsigned sources, expiry since verification).

    ``query_task`` is our task's name (from our card); the title uses it, else the last
    part of ``query_name`` (a file name). Distance evidence per source (see
    :data:`EVIDENCE_KEYS`) is read from the ranking results' attributes when the matcher
    provides it, and from ``evidence[source]``; absent fields are simply not shown. The
    query's floor (bKLD of the query to an exact copy of itself) is computed here when
    the results do not carry it. ``best_match_fp`` (the fingerprint of ``ranking[0]``)
    adds the side-by-side heat map of our task and its closest source.
    """
    generated_at = format_time(now)
    if not ranking:
        raise UsageError("a report needs at least one ranked source")
    missing = [str(r.source) for r in ranking if r.source not in statements]
    if missing:
        raise UsageError(f"no statement entry (VerifiedStatement or None) for source {missing[0]}")
    features, bins = (int(x) for x in query_fp.counts.shape)
    query = QueryInfo(name=str(query_name), spec_id=query_fp.spec_id, n=int(query_fp.n), noisy=bool(query_fp.noisy),
                      features=features, bins=bins)
    planned = _planned_evidence(plan.to_json() if plan is not None else None)
    rows = tuple(_row(r, statements[r.source], variant,
                      result_evidence(r, (evidence or {}).get(r.source), planned.get(r.source))) for r in ranking)
    floors = [r.evidence["distance_floor"] for r in rows if r.evidence and "distance_floor" in r.evidence]
    floor = floors[0] if floors else query_floor(query_fp, variant)
    auto: list[str] = []
    unsigned = [r.source for r in rows if not r.verified]
    if unsigned:
        auto.append(f"{len(unsigned)} of {len(rows)} sources are unsigned fingerprint files: nobody vouches for "
                    "their origin, privacy or terms of use.")
    expired = [r.source for r in ranking if statements[r.source] is not None and statements[r.source].expires_at < now]
    if expired:
        auto.append(f"{len(expired)} statements have expired since they were verified; ask their issuers for new ones.")
    return Report(
        title=title if title is not None else _title(query_task, str(query_name)),
        generated_at=generated_at,
        query=query,
        variant=variant,
        rows=rows,
        plan=plan.to_json() if plan is not None else None,
        notes=(*auto, *notes),
        query_task=query_task,
        query_floor=floor,
        heatmap=comparison(query_fp, best_match_fp, rows[0], query_task or str(query_name)),
    )


def _planned_evidence(plan: Any) -> dict[str, Mapping[str, Any]]:
    """Distance evidence a planner put on its suggestions (or under ``distance``), per source id."""
    out: dict[str, Mapping[str, Any]] = {}
    scenarios = plan.get("scenarios") if isinstance(plan, Mapping) else None
    for listed in (scenarios or {}).values() if isinstance(scenarios, Mapping) else ():
        for s in listed if isinstance(listed, list) else ():
            if isinstance(s, Mapping) and isinstance(s.get("source_id"), str):
                inner = s.get("evidence") if isinstance(s.get("evidence"), Mapping) else s
                out.setdefault(s["source_id"], inner)
    return out


def _title(task: str | None, query_name: str) -> str:
    if task:
        return f"Transfer sources for {task}"
    return f"Transfer sources for {PurePath(query_name).name or query_name}"
