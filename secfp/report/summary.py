"""The answer first: per scenario, what to take, from which institution and task, how sure, what it requires.

Pure functions over a :class:`~secfp.report.model.Report` (its rows and its plan as
JSON), shared by the HTML page, the terminal plan and the Markdown export, so the
three say the same thing. The strings hold issuers' text unescaped; each renderer
escapes them for its format.

Honest labels: a source's *closeness rank* is its rank by distance among all matched
sources (the ranking), not among those left after the planner's exclusions; sources
the planner left out appear in :func:`not_suggested` with every reason.

Confidence: a suggestion's ``p_gain`` (probability that the transfer beats training
without it, when the planner provides one) is said in words ("helped in about 7 of
10 similar cases in the study"); without it, the evidence is described: the closeness
rank and the score term that weighs most. Nothing here claims that a transfer helps.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from secfp.planning.planner import SCENARIOS
from secfp.report._duo import duo_label
from secfp.report._knowledge import short_number, transforms
from secfp.report.model import Report, SourceRow

__all__ = ["SCENARIO_TITLES", "SourceName", "ScenarioSummary", "source_names", "suggestions", "scenario_summaries",
           "not_suggested", "p_gain", "plan_document", "distance_words", "study_evidence"]

SCENARIO_TITLES = {"architecture": "Architecture", "pretraining": "Pre-trained weights",
                   "augmentation": "Augmentation", "cotraining": "Co-training"}

_TERM_WORDS = {"similarity": "its close fingerprint",
               "size": "its small size (small source tasks transferred better in the study)",
               "classes": "its number of classes", "keywords": "the keywords it shares with our task",
               "modality": "its modality", "images": "its class balance and image size"}
# Score terms that are the same for every source of one plan (the model's constant, our own task's
# facts): they never say why one source was chosen over another.
_SHARED_TERMS = frozenset({"baseline", "query"})
_ORDINALS = {1: "closest", 2: "second closest", 3: "third closest"}


@dataclass(frozen=True)
class SourceName:
    """How people name a source: institution and task; ids stay in the detail view."""

    source: str
    institution: str
    task: str
    closeness_rank: int
    matched: int
    verified: bool

    @property
    def label(self) -> str:
        return f"{self.task} ({self.institution})"


@dataclass(frozen=True)
class ScenarioSummary:
    """One scenario's answer: the action, whose it is, how sure, what it requires (all plain text)."""

    scenario: str
    title: str
    action: str
    source_line: str
    confidence: str
    requires: tuple[str, ...]
    source: str | None

    @property
    def headline(self) -> str:
        return f"{self.action}, {self.source_line}." if self.source_line else f"{self.action}."

    @property
    def text(self) -> str:
        parts = [self.headline]
        if self.confidence:
            parts.append(self.confidence)
        if self.requires:
            parts.append("Requires: " + "; ".join(self.requires) + ".")
        return " ".join(parts)


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def source_names(report: Report) -> dict[str, SourceName]:
    """Source id (and bundle id) -> :class:`SourceName`, ranks counted among all matched sources."""
    out: dict[str, SourceName] = {}
    for row in report.rows:
        name = SourceName(
            source=row.source,
            institution=row.issuer if row.verified and row.issuer else "unsigned file",
            task=row.task or ("unnamed task (no task card)" if row.verified else _file_name(row.source)),
            closeness_rank=row.rank, matched=len(report.rows), verified=row.verified)
        out.setdefault(row.source, name)
        if row.bundle_id:
            out.setdefault(row.bundle_id, name)
    return out


def _file_name(source: str) -> str:
    return source.replace("\\", "/").rsplit("/", 1)[-1] or source


def row_of(report: Report, source: Any) -> SourceRow | None:
    for row in report.rows:
        if source in (row.source, row.bundle_id):
            return row
    return None


def suggestions(report: Report, scenario: str) -> list[Mapping[str, Any]]:
    plan = _dict(report.plan)
    return [_dict(s) for s in _list(_dict(plan.get("scenarios")).get(scenario))]


def p_gain(suggestion: Mapping[str, Any]) -> float | None:
    """The suggestion's probability of gain in [0, 1], if the planner gave one (a number or ``{"value": p}``)."""
    value = suggestion.get("p_gain")
    if isinstance(value, Mapping):
        value = value.get("value", value.get("p"))
    if type(value) in (int, float) and 0.0 <= value <= 1.0:
        return float(value)
    return None


def distance_words(row: SourceRow, report: Report) -> str:
    """Where a source's distance stands: above the query's floor, uncertainty, ties, pool percentile."""
    ev = row.evidence or {}
    floor = ev.get("distance_floor", report.query_floor)
    parts = [f"bKLD {row.distance:.3f}"]
    if floor is not None:
        parts.append(f"{row.distance - floor:+.3f} above our task's own floor ({floor:.3f})")
    if "distance_low" in ev and "distance_high" in ev:
        parts.append(f"uncertainty {ev['distance_low']:.3f} to {ev['distance_high']:.3f}")
    if ev.get("tied"):
        parts.append("tied with the closest source (within noise)")
    if "pool_percentile" in ev:
        parts.append(f"percentile {ev['pool_percentile']:.0f} of distances in the pool (lower = closer)")
    return ", ".join(p for p in parts if p)


def _top_term(suggestion: Mapping[str, Any]) -> str | None:
    terms = [_dict(c) for c in _list(_dict(suggestion.get("score")).get("components"))]
    terms = [c for c in terms if type(c.get("contribution")) in (int, float)]
    # The similarity term is always negative (it is -bKLD); compare the others by contribution.
    positive = [c for c in terms if c.get("name") != "similarity" and c.get("name") not in _SHARED_TERMS
                and c["contribution"] > 0.005]
    if not positive:
        return None
    best = max(positive, key=lambda c: c["contribution"])
    return _TERM_WORDS.get(str(best.get("name")), f"its {best.get('name')} term")


def _action(scenario: str, offer: Mapping[str, Any]) -> str:
    if scenario == "architecture":
        result = (f" ({offer.get('metric', 'score')} {short_number(offer['score'])} on their task)"
                  if offer.get("score") is not None else "")
        return f"Train {offer.get('name', 'their network')}{result}"
    if scenario == "pretraining":
        return "Start from their trained weights"
    if scenario == "augmentation":
        steps = [t.strip() for t in transforms(offer.get("policy"))] if offer.get("policy") is not None else []
        more = "; \u2026" if len(steps) > 4 else ""
        return f"Reuse their augmentation policy{': ' + '; '.join(steps[:4]) + more if steps else ''}"
    if scenario == "cotraining":
        return "Train jointly on their data"
    return f"Take their {scenario}"


def _closeness(rank: int, matched: int) -> str:
    return f"{_ORDINALS.get(rank, f'{rank}th closest')} of {matched} matched sources"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def study_evidence(evidence: Mapping[str, Any], alternative: str | None = None) -> str:
    """How the planner's first pick did against "smallest source first" in the study, out of fold, in words.

    Said plainly when the size prior did better: the steward should know that the
    planner's order is not better evidence than task size alone for this kind of transfer.
    ``alternative`` is a sentence naming that choice here (the eligible source with the
    fewest images); it is added only then.
    """
    pick, size = evidence.get("percentile@1"), evidence.get("size_only_percentile@1")
    share, targets = evidence.get("beats_size_only_share"), evidence.get("targets")
    if not all(type(v) in (int, float) for v in (pick, size, share)) or type(targets) is not int:
        return ""
    where = (f"in the study ({targets} tasks, out of fold) its first pick was at the "
             f"{_ordinal(round(100 * pick))} percentile of sources, picking the smallest source at the "
             f"{_ordinal(round(100 * size))}")
    if share >= 0.5:
        return f"Evidence: {where}."
    here = f" {alternative}" if alternative else ""
    return f"Evidence: {where}; for this kind of transfer the smallest source was the better first choice.{here}"


def _confidence(suggestion: Mapping[str, Any], who: SourceName, row: SourceRow | None,
                evidence: Mapping[str, Any], smallest: SourceName | None) -> str:
    p = p_gain(suggestion)
    sentence = _closeness(who.closeness_rank, who.matched).capitalize()
    if row is not None and row.evidence and row.evidence.get("tied") and who.closeness_rank > 1:
        sentence += " (within noise of the closest)"
    term = _top_term(suggestion)
    sentence += f"; chosen mainly for {term}" if term else ""
    alternative = None
    if smallest is not None:
        alternative = ("This pick is also the smallest eligible source here." if smallest.source == who.source
                       else f"The smallest eligible source here is \u201c{smallest.task}\u201d from "
                            f"{smallest.institution}.")
    study = study_evidence(evidence, alternative)
    study = f" {study}" if study else ""
    if p is not None:
        return f"Helped in about {round(p * 10)} of 10 similar cases in the study. {sentence}.{study}"
    return f"{sentence}. Chance that it helps: not estimated.{study}"


def _requires(scenario: str, offer: Mapping[str, Any], row: SourceRow | None) -> tuple[str, ...]:
    out: list[str] = []
    if scenario == "pretraining":
        if offer.get("licence"):
            out.append(f"licence {offer['licence']}")
        if offer.get("terms"):
            out.append(f"terms: {offer['terms']}")
    if scenario == "cotraining":
        if offer.get("terms"):
            out.append(f"terms: {offer['terms']}")
        if offer.get("contact"):
            out.append(f"contact {offer['contact']}")
    if row is not None and row.data_use:
        out.append("data use: " + ", ".join(f"{c} ({duo_label(c)})" for c in row.data_use))
    if row is not None and not row.verified:
        out.append("caution: an unsigned file, nobody vouches for its origin or terms")
    return tuple(out)


def scenario_summaries(report: Report) -> list[ScenarioSummary]:
    """One :class:`ScenarioSummary` per scenario of the plan (none when the report has no plan)."""
    if report.plan is None:
        return []
    names = source_names(report)
    excluded = [_dict(x) for x in _list(_dict(report.plan).get("excluded"))]
    evidence = _dict(_dict(_dict(report.plan).get("model")).get("evidence"))
    smallest = _dict(_dict(report.plan).get("smallest_source"))
    scenarios = list(SCENARIOS) + sorted(str(s) for s in _dict(report.plan.get("scenarios")) if s not in SCENARIOS)
    out = []
    for scenario in scenarios:
        title = SCENARIO_TITLES.get(scenario, scenario)
        listed = suggestions(report, scenario)
        if not listed:
            left = sum(1 for x in excluded if x.get("scenario") == scenario)
            why = f" ({left} left out; see \u201cnot suggested\u201d)" if left else ""
            out.append(ScenarioSummary(scenario, title, f"No matched source offers this{why}", "", "", (), None))
            continue
        top = listed[0]
        sid = top.get("source_id")
        who = names.get(sid) if isinstance(sid, str) else None
        if who is None:
            who = SourceName(str(sid), str(top.get("institution") or "unknown institution"),
                             str(top.get("task") or "unnamed task"), 0, len(report.rows), False)
        row = row_of(report, sid)
        offer = _dict(top.get("offer"))
        out.append(ScenarioSummary(scenario, title, _action(scenario, offer),
                                   f"from {who.institution}: \u201c{who.task}\u201d",
                                   _confidence(top, who, row, _dict(evidence.get(scenario)),
                                               names.get(smallest.get(scenario))
                                               if isinstance(smallest.get(scenario), str) else None),
                                   _requires(scenario, offer, row), who.source))
    return out


def not_suggested(report: Report) -> list[tuple[SourceName, list[tuple[str, str]]]]:
    """Each left-out source with its (scenarios, reason) pairs; one pair when a reason covers every scenario."""
    names = source_names(report)
    grouped: dict[str, dict[str, list[str]]] = {}
    for x in _list(_dict(report.plan).get("excluded")):
        x = _dict(x)
        sid, reason = str(x.get("source_id")), str(x.get("reason"))
        grouped.setdefault(sid, {}).setdefault(reason, []).append(str(x.get("scenario")))
    out = []
    for sid, reasons in grouped.items():
        who = names.get(sid) or SourceName(sid, "unknown institution", "unnamed task", 0, len(report.rows), False)
        pairs = [("every scenario" if set(scen) >= set(SCENARIOS) else ", ".join(
            SCENARIO_TITLES.get(s, s).lower() for s in scen), reason) for reason, scen in reasons.items()]
        out.append((who, pairs))
    out.sort(key=lambda item: (item[0].closeness_rank or 10**9, item[0].source))
    return out


def plan_document(report: Report) -> dict[str, Any]:
    """The plan's JSON with, per scenario, a ``summary`` string, and per suggestion the institution, task
    name, closeness rank among all matched sources and the distance in words; plus ``not_suggested``."""
    doc = copy.deepcopy(dict(report.plan or {}))
    names = source_names(report)
    doc["summary"] = {s.scenario: s.text for s in scenario_summaries(report)}
    for scenario, listed in _dict(doc.get("scenarios")).items():
        for s in _list(listed):
            if not isinstance(s, dict):
                continue
            who = names.get(s.get("source_id"))
            row = row_of(report, s.get("source_id"))
            if who is not None:
                s["institution"] = who.institution
                s["task"] = s.get("task") or who.task
                s["closeness_rank"] = who.closeness_rank
                s["matched_sources"] = who.matched
            if row is not None:
                s["distance"] = distance_words(row, report)
    doc["not_suggested"] = [
        {"source_id": who.source, "institution": who.institution, "task": who.task,
         "reasons": [{"scenarios": scen, "reason": reason} for scen, reason in pairs]}
        for who, pairs in not_suggested(report)]
    return doc
