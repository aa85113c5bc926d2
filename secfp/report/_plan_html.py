"""The transfer plan section: per scenario, the suggested sources with score terms and 'why'.

Reads the plan as JSON (:meth:`secfp.planning.planner.TransferPlan.to_json`) and is
defensive about its shape: a report loaded from a file may hold anything, and a missing
or odd field shows as a dash rather than breaking the page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from secfp.planning.planner import SCENARIOS
from secfp.report import _escape as e

__all__ = ["plan_section"]

SCENARIO_TEXT = {
    "architecture": ("Architecture", "Which network to train: the source owner's best architecture for its task."),
    "pretraining": ("Pre-training", "Whose trained weights to start from (licence and terms shown)."),
    "augmentation": ("Augmentation", "Whose augmentation policy to reuse."),
    "cotraining": ("Co-training", "Whose data to train on jointly; only sources whose card allows sharing."),
}


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _signed(value: Any) -> str:
    if not e.is_number(value):
        return e.number(value)
    css = "pos" if value > 0 else "neg" if value < 0 else ""
    return f'<span class="{css}">{value:+.3f}</span>'


def _components(score: Mapping[str, Any]) -> str:
    rows = []
    for c in _list(score.get("components")):
        c = _dict(c)
        rows.append(f'<tr class="component" data-component="{e.text(c.get("name"))}"><td>{e.text(c.get("name"))}</td>'
                    f'<td class="num">{_signed(c.get("contribution"))}</td><td>{e.text(c.get("note"))}</td></tr>')
    return f'<table class="components">{"".join(rows)}</table>' if rows else "\u2013"


def _offer(offer: Mapping[str, Any]) -> str:
    items = []
    for key, value in offer.items():
        shown = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
        if key == "sha256":
            items.append(f'<dt>sha256</dt><dd class="mono" title="{e.text(shown)}">{e.clip(shown, 17)}</dd>')
        else:
            items.append(f"<dt>{e.text(key)}</dt><dd>{e.clip(shown, 300)}</dd>")
    return f'<dl class="facts">{"".join(items)}</dl>' if items else "\u2013"


def _source_cell(source_id: Any, task: Any, anchors: Mapping[str, str]) -> str:
    sid = source_id if isinstance(source_id, str) else str(source_id)
    name = e.clip(sid, 60, keep_end=True)
    link = f'<a href="#{anchors[sid]}">{name}</a>' if sid in anchors else name
    return f'{link}<br><span class="muted">{e.text(task)}</span>' if task else link


def _scenario(scenario: str, suggestions: list[Any], anchors: Mapping[str, str]) -> str:
    title, blurb = SCENARIO_TEXT.get(scenario, (scenario, ""))
    head = (f'<section class="scenario" id="plan-{e.text(scenario)}" data-scenario="{e.text(scenario)}">'
            f"<h3>{e.text(title)}</h3><p class=\"muted\">{e.text(blurb)}</p>")
    if not suggestions:
        return head + '<p class="empty">No source offers this (see exclusions below).</p></section>'
    rows = []
    for s in suggestions:
        s = _dict(s)
        score = _dict(s.get("score"))
        sid = s.get("source_id")
        rows.append(
            f'<tr class="suggestion-row" data-scenario="{e.text(scenario)}" data-source="{e.text(sid)}" '
            f'data-rank="{e.text(s.get("rank"))}"><td class="num">{e.text(s.get("rank"))}</td>'
            f"<td>{_source_cell(sid, s.get('task'), anchors)}</td>"
            f'<td class="num">{_signed(score.get("total"))}</td><td>{_components(score)}</td>'
            f'<td class="offer">{_offer(_dict(s.get("offer")))}</td><td class="why">{e.text(s.get("why"))}</td></tr>')
    return (head + '<table class="suggestions"><thead><tr><th class="num">#</th><th>source</th>'
            '<th class="num">score</th><th>score terms</th><th>offer</th><th>why</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></section>')


def plan_section(plan: Mapping[str, Any] | None, anchors: Mapping[str, str]) -> str:
    """The ``<section id="plan">``; ``anchors`` maps a source id to the id of its detail box."""
    out = ['<section id="plan"><h2>Transfer plan</h2>']
    if plan is None:
        out.append('<p class="empty">No transfer plan was made for this report.</p></section>')
        return "".join(out)
    weights = _dict(plan.get("weights"))
    if weights:
        known = [k for k in ("similarity", "size", "classes", "keywords") if k in weights]
        keys = known + sorted(str(k) for k in weights if k not in known)
        terms = ", ".join(f"{e.text(k)} {e.number(weights.get(k), 'g')}" for k in keys)
        out.append(f'<p class="muted">Score = sum of weighted terms (higher = better); weights: {terms}. '
                   "Each suggestion shows the terms and the reason in words.</p>")
    scenarios = _dict(plan.get("scenarios"))
    order = [s for s in SCENARIOS] + sorted(str(s) for s in scenarios if s not in SCENARIOS)
    for scenario in order:
        out.append(_scenario(scenario, _list(scenarios.get(scenario)), anchors))
    excluded = [_dict(x) for x in _list(plan.get("excluded"))]
    out.append(f"<h3>Exclusions ({len(excluded)})</h3>")
    if excluded:
        rows = "".join(
            f'<tr class="exclusion-row" data-scenario="{e.text(x.get("scenario"))}" '
            f'data-source="{e.text(x.get("source_id"))}"><td>{e.text(x.get("scenario"))}</td>'
            f"<td>{_source_cell(x.get('source_id'), None, anchors)}</td><td>{e.text(x.get('reason'))}</td></tr>"
            for x in excluded)
        out.append('<table class="exclusions"><thead><tr><th>scenario</th><th>source</th><th>reason</th></tr>'
                   f"</thead><tbody>{rows}</tbody></table>")
    else:
        out.append('<p class="empty">No source was left out.</p>')
    out.append("</section>")
    return "".join(out)
