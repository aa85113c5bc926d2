"""The report as Markdown, for pasting into an approval ticket (``secfp plan --format markdown``).

Same content and order as the HTML page: the recommendation, the ranking, the plan,
who was not suggested, then provenance per source. Every string from a bundle is data,
never markup: :func:`md` replaces control and bidi characters, HTML-escapes ``<``, ``>``
and ``&`` (Markdown renderers pass raw HTML through) and backslash-escapes every
character that starts markup inside a line (emphasis, code, links, images, ``|`` in
tables). Newlines inside a value become spaces, so an issuer cannot start a heading,
a quote or a list of its own; every value is written after other text on its line.
"""

from __future__ import annotations

import html
import re
from typing import Any

from secfp.planning.planner import SCENARIOS
from secfp.report._duo import duo_label
from secfp.report._knowledge import offer_items
from secfp.report.model import Report
from secfp.report.summary import (SCENARIO_TITLES, distance_words, not_suggested, p_gain, scenario_summaries,
                                  source_names, suggestions)

__all__ = ["render_markdown", "md"]

_INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
# Mid-line, only these start markup (emphasis, code, links and images, tables, strikethrough,
# headings in some renderers); values never start a line, so list markers need no escape.
_SPECIAL = re.compile(r"([\\`*_{}\[\]#!|~])")


def md(value: Any) -> str:
    """``value`` as inert Markdown text (one line)."""
    text = _INVISIBLE.sub("\ufffd", "" if value is None else str(value))
    text = re.sub(r"\s*[\r\n\t]+\s*", " ", text)
    return _SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def render_markdown(report: Report) -> str:
    """The whole report as Markdown text (ends with a newline)."""
    names = source_names(report)
    verified = sum(r.verified for r in report.rows)
    out = [f"# {md(report.title)}", "",
           f"{len(report.rows)} sources matched ({verified} signed and verified, {len(report.rows) - verified} "
           f"unsigned); generated {md(report.generated_at)}.", ""]
    for note in report.notes:
        out.append(f"> {md(note)}")
    out += ["", "## Recommendation", ""]
    answers = scenario_summaries(report)
    if not answers:
        out.append("No transfer plan was made.")
    for a in answers:
        out.append(f"- **{md(a.title)}**: {md(a.headline)} {md(a.confidence)}".rstrip())
        for r in a.requires:
            out.append(f"  - requires: {md(r)}")
    out += ["", "## How close each source is", "",
            "| # | source | institution | distance | status |", "|---:|---|---|---|---|"]
    for row in report.rows:
        who = names[row.source]
        status = "verified" if row.verified else "**unsigned**"
        out.append(f"| {row.rank} | {md(who.task)} | {md(who.institution)} | {md(distance_words(row, report))} | "
                   f"{status} |")
    if report.plan is not None:
        out += ["", "## The plan in detail"]
        for scenario in SCENARIOS:
            out += ["", f"### {md(SCENARIO_TITLES.get(scenario, scenario))}", ""]
            listed = suggestions(report, scenario)
            if not listed:
                out.append("No matched source offers this.")
            for s in listed:
                who = names.get(s.get("source_id"))  # type: ignore[arg-type]
                score = s.get("score") if isinstance(s.get("score"), dict) else {}
                total = score.get("total")
                p = p_gain(s)
                head = f"{s.get('rank')}. **{md(who.label if who else s.get('source_id'))}**"
                if isinstance(total, int | float):
                    head += f", score {total:+.3f}"
                if who:
                    head += f", closeness {who.closeness_rank} of {who.matched}"
                if p is not None:
                    head += f", chance of gain {p:.0%}"
                out.append(head)
                for c in score.get("components", []) if isinstance(score.get("components"), list) else []:
                    if isinstance(c, dict) and isinstance(c.get("contribution"), int | float):
                        out.append(f"   - {c['contribution']:+.3f} {md(c.get('name'))}: {md(c.get('note'))}")
                offer = s.get("offer") if isinstance(s.get("offer"), dict) else {}
                for label, text in offer_items(scenario, offer):
                    out.append(f"   - {md(label)}: {'; '.join(md(t.strip()) for t in text.split(chr(10)))}")
        left = not_suggested(report)
        out += ["", f"### Not suggested ({len(left)})", ""]
        for who, pairs in left:
            reasons = "; ".join(f"{md(scen)}: {md(reason)}" for scen, reason in pairs)
            out.append(f"- **{md(who.label)}** (closeness {who.closeness_rank} of {who.matched}): {reasons}")
    out += ["", "## Verification and provenance", ""]
    for row in report.rows:
        who = names[row.source]
        if not row.verified:
            out.append(f"- **{md(who.label)}**: unsigned file, nothing was checked")
            continue
        uses = ", ".join(f"{md(c)} ({md(duo_label(c))})" for c in row.data_use) or "none declared"
        mech = (row.privacy or {}).get("mechanism")
        privacy = "no differential privacy" if mech in (None, "none") else (
            f"differential privacy ({md(mech)}, epsilon {md((row.privacy or {}).get('epsilon'))})")
        out.append(f"- **{md(who.label)}**: all {len(row.checks)} checks passed ({md(', '.join(row.checks))}); "
                   f"{privacy}; data use: {uses}; expires {md(row.expires_at)}; bundle {md(row.bundle_id)}")
    return "\n".join(out) + "\n"
