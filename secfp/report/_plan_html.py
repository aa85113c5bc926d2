"""The answer and the plan in HTML: the per-scenario summary (first on the page) and the plan in detail.

Reads the plan as JSON (:meth:`secfp.planning.planner.TransferPlan.to_json`) through
:mod:`secfp.report.summary` and is defensive about its shape: a report loaded from a
file may hold anything, and a missing or odd field shows as a dash rather than
breaking the page. Fields a newer planner adds (``p_gain``) are shown when present.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from secfp.planning.planner import SCENARIOS
import secfp.report._escape as e
from secfp.report._knowledge import offer_items
from secfp.report.model import Report
from secfp.report.summary import (SCENARIO_TITLES, SourceName, not_suggested, p_gain, scenario_summaries,
                                  source_names, suggestions)

__all__ = ["summary_section", "plan_section"]

SCENARIO_BLURB = {
    "architecture": "Which network to train: the source owner's best architecture for its task.",
    "pretraining": "Whose trained weights to start from (licence and terms shown).",
    "augmentation": "Whose augmentation policy to reuse.",
    "cotraining": "Whose data to train on jointly; only sources whose card allows sharing.",
}

_TERM_LABEL = {"similarity": "fingerprint similarity", "size": "source size", "classes": "number of classes",
               "keywords": "shared keywords"}


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _who(name: SourceName | None, fallback: Any, anchors: Mapping[str, str]) -> str:
    if name is None:
        return e.clip(fallback, 60, keep_end=True)
    link = anchors.get(name.source)
    task = f'<a href="#{link}">{e.text(name.task)}</a>' if link else e.text(name.task)
    return f'<strong>{task}</strong><br><span class="muted">{e.text(name.institution)}</span>'


def summary_section(report: Report) -> str:
    """``<section id="summary">``: one answer per scenario, in plain language."""
    out = ['<section id="summary"><h2>Recommendation</h2>']
    answers = scenario_summaries(report)
    if not answers:
        out.append('<p class="empty">No transfer plan was made for this report; the ranking below shows '
                   "which sources resemble our task.</p></section>")
        return "".join(out)
    out.append('<div class="answers">')
    for a in answers:
        requires = "".join(f"<li>{e.text(r)}</li>" for r in a.requires)
        out.append(
            f'<article class="answer" data-scenario="{e.text(a.scenario)}"><h3>{e.text(a.title)}</h3>'
            f'<p class="headline">{e.text(a.action)}</p>'
            + (f'<p class="from">{e.text(a.source_line)}</p>' if a.source_line else "")
            + ''
            + (f'<p class="confidence">{e.text(a.confidence)}</p>' if a.confidence else "")
            + (f'<p class="requires-title">Requires</p><ul class="requires">{requires}</ul>' if requires else "")
            + "</article>")
    out.append("</div></section>")
    return "".join(out)


def _terms(score: Mapping[str, Any]) -> str:
    items = []
    for c in _list(score.get("components")):
        c = _dict(c)
        name = str(c.get("name"))
        value = c.get("contribution")
        shown = f"{value:+.3f}" if e.is_number(value) else "\u2013"
        css = "pos" if e.is_number(value) and value > 0 else "neg" if e.is_number(value) and value < 0 else ""
        items.append(f'<li class="component" data-component="{e.text(name)}"><span class="{css} num">{shown}</span> '
                     f"{e.text(_TERM_LABEL.get(name, name))}: <span class=\"muted\">{e.text(c.get('note'))}</span></li>")
    return f'<ul class="terms">{"".join(items)}</ul>' if items else "\u2013"


def _offer(scenario: str, offer: Mapping[str, Any]) -> str:
    items = []
    for label, text in offer_items(scenario, offer):
        body = "<br>".join(e.text(line).replace("  ", "\u00a0\u00a0") for line in text.split("\n"))
        items.append(f"<dt>{e.text(label)}</dt><dd>{body}</dd>")
    if isinstance(offer.get("sha256"), str):
        items.append(f'<dt>digest</dt><dd><details><summary>SHA-256</summary><span class="mono">'
                     f"{e.text(offer['sha256'])}</span></details></dd>")
    return f'<dl class="facts offer">{"".join(items)}</dl>' if items else "\u2013"


def _chance(s: Mapping[str, Any]) -> str:
    p = p_gain(s)
    if p is None:
        return '<span class="muted">not estimated</span>'
    return f'{p:.0%}<br><span class="muted">helped in about {round(p * 10)} of 10 similar cases</span>'


def _scenario(report: Report, scenario: str, names: Mapping[str, SourceName], anchors: Mapping[str, str]) -> str:
    title = SCENARIO_TITLES.get(scenario, scenario)
    head = (f'<section class="scenario" id="plan-{e.text(scenario)}" data-scenario="{e.text(scenario)}">'
            f"<h3>{e.text(title)}</h3><p class=\"muted\">{e.text(SCENARIO_BLURB.get(scenario, ''))}</p>")
    listed = suggestions(report, scenario)
    if not listed:
        return head + '<p class="empty">No matched source offers this (see \u201cnot suggested\u201d below).</p></section>'
    rows = []
    for s in listed:
        sid = s.get("source_id")
        name = names.get(sid) if isinstance(sid, str) else None
        score = _dict(s.get("score"))
        total = score.get("total")
        closeness = (f'<br><span class="muted nowrap">closeness {name.closeness_rank} of {name.matched}</span>'
                     if name else "")
        why = (f'<details class="why"><summary>planner\u2019s reasoning</summary>{e.text(s.get("why"))}</details>'
               if s.get("why") else "")
        rows.append(
            f'<tr class="suggestion-row" data-scenario="{e.text(scenario)}" data-source="{e.text(sid)}" '
            f'data-rank="{e.text(s.get("rank"))}"><td class="num" data-label="#">{e.text(s.get("rank"))}</td>'
            f'<td data-label="source">{_who(name, sid, anchors)}{closeness}</td>'
            f'<td data-label="chance of gain">{_chance(s)}</td>'
            f'<td class="num" data-label="score">{e.number(total, "+.3f")}</td>'
            f'<td data-label="score terms">{_terms(score)}{why}</td>'
            f'<td class="offer" data-label="what you get">{_offer(scenario, _dict(s.get("offer")))}</td></tr>')
    return (head + '<table class="suggestions stack"><thead><tr><th class="num">#</th><th>source</th>'
            '<th>chance of gain</th><th class="num">score</th><th>score terms</th><th>what you get</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></section>')


def plan_section(report: Report, anchors: Mapping[str, str]) -> str:
    """``<section id="plan">``: per scenario the suggestions with their evidence, then who was left out and why."""
    out = ['<section id="plan"><h2>The plan in detail</h2>']
    if report.plan is None:
        out.append('<p class="empty">No transfer plan was made for this report.</p></section>')
        return "".join(out)
    names = source_names(report)
    weights = _dict(report.plan.get("weights"))
    if weights:
        known = [k for k in ("similarity", "size", "classes", "keywords") if k in weights]
        keys = known + sorted(str(k) for k in weights if k not in known)
        terms = ", ".join(f"{e.text(_TERM_LABEL.get(k, k))} {e.number(weights.get(k), 'g')}" for k in keys)
        out.append(f'<p class="muted">The score ranks sources within a scenario (higher = better); it is a sum of '
                   f"weighted terms ({terms}), not a probability. Negative totals are normal: the similarity "
                   "term is minus the bKLD.</p>")
    scenarios = _dict(report.plan.get("scenarios"))
    for scenario in list(SCENARIOS) + sorted(str(s) for s in scenarios if s not in SCENARIOS):
        out.append(_scenario(report, scenario, names, anchors))
    left = not_suggested(report)
    out.append(f'<h3 id="not-suggested">Not suggested ({len(left)})</h3>')
    if left:
        items = []
        for who, pairs in left:
            reasons = "".join(f'<li class="exclusion-row" data-source="{e.text(who.source)}">'
                              f"<strong>{e.text(scen)}</strong>: {e.text(reason)}</li>" for scen, reason in pairs)
            items.append(f'<li class="not-suggested" data-source="{e.text(who.source)}">{_who(who, who.source, anchors)}'
                         f' <span class="muted">(closeness {who.closeness_rank} of {who.matched})</span>'
                         f"<ul>{reasons}</ul></li>")
        out.append(f'<ul class="not-suggested">{"".join(items)}</ul>')
    else:
        out.append('<p class="empty">Every matched source was considered in every scenario.</p>')
    out.append("</section>")
    return "".join(out)
