"""The transfer plan for a terminal: the answer per scenario first, then the ranking, then the details.

Plain text (no rich markup, so an issuer's ``[bold]`` stays literal), lines of at most
about 100 characters where the content allows. Control, zero-width and bidirectional
characters in issuers' strings are replaced with U+FFFD, as in the HTML report, so a
card name cannot reorder or hide what the terminal shows. Bundle ids are not shown
here; ``secfp pool show`` and the HTML report's details have them.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

from secfp.planning.planner import SCENARIOS
from secfp.report._knowledge import offer_items
from secfp.report.model import Report
from secfp.report.summary import (SCENARIO_TITLES, distance_words, not_suggested, p_gain, scenario_summaries,
                                  source_names, suggestions)

__all__ = ["render_plan_text"]

_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
WIDTH = 100


def clean(value: Any) -> str:
    """``value`` as text with control and bidi characters replaced (newlines and tabs kept)."""
    return _INVISIBLE.sub("\ufffd", "" if value is None else str(value))


def _wrap(text: str, indent: str, *, first: str | None = None) -> list[str]:
    return textwrap.wrap(clean(text), width=WIDTH, initial_indent=first if first is not None else indent,
                         subsequent_indent=indent, break_on_hyphens=False) or [first or indent]


def render_plan_text(report: Report) -> str:
    """The whole terminal plan as one string (ends with a newline)."""
    out: list[str] = [clean(report.title), "=" * min(len(report.title), WIDTH)]
    verified = sum(r.verified for r in report.rows)
    out.append(f"{len(report.rows)} sources matched ({verified} signed and verified, "
               f"{len(report.rows) - verified} unsigned).")
    for note in report.notes:
        out += _wrap(note, "  ", first="! ")
    out += ["", "Recommendation", "--------------"]
    answers = scenario_summaries(report)
    if not answers:
        out.append("No transfer plan was made.")
    for a in answers:
        out += _wrap(a.headline, "    ", first=f"  {a.title}: ")
        if a.confidence:
            out += _wrap(a.confidence, "    ")
        for r in a.requires:
            out += _wrap(r, "      ", first="    requires: ")
    out += ["", "How close each source is (bKLD, lower = more similar)", "-----------------------------------------"
            "------------"]
    names = source_names(report)
    for row in report.rows:
        who = names[row.source]
        status = "verified" if row.verified else "UNSIGNED"
        out += _wrap(f"{who.task} ({who.institution}), {status}", "     ", first=f"  {row.rank}. ")
        out += _wrap(distance_words(row, report), "     ")
    if report.plan is not None:
        out += ["", "The plan in detail", "------------------"]
        for scenario in SCENARIOS:
            listed = suggestions(report, scenario)
            out.append(f"  {SCENARIO_TITLES.get(scenario, scenario)}:")
            if not listed:
                out.append("    no matched source offers this")
            for s in listed:
                who = names.get(s.get("source_id"))  # type: ignore[arg-type]
                label = who.label if who else str(s.get("source_id"))
                score = s.get("score") if isinstance(s.get("score"), dict) else {}
                total = score.get("total")
                head = f"{label}: score {total:+.3f}" if isinstance(total, int | float) else label
                if who:
                    head += f", closeness {who.closeness_rank} of {who.matched}"
                p = p_gain(s)
                head += f", chance of gain {p:.0%}" if p is not None else ""
                out += _wrap(head, "       ", first=f"    {s.get('rank')}. ")
                for c in score.get("components", []) if isinstance(score.get("components"), list) else []:
                    if isinstance(c, dict) and isinstance(c.get("contribution"), int | float):
                        out += _wrap(f"{c['contribution']:+.3f} {c.get('name')}: {c.get('note')}", "         ",
                                     first="       ")
                offer = s.get("offer") if isinstance(s.get("offer"), dict) else {}
                for label_, text in offer_items(scenario, offer):
                    lines = text.split("\n")
                    out += _wrap(lines[0], "         ", first=f"       {label_}: ")
                    for line in lines[1:]:
                        out += _wrap(line, "         ", first="         ")
        left = not_suggested(report)
        out += ["", f"Not suggested ({len(left)})", "-------------"]
        for who, pairs in left:
            out += _wrap(f"{who.label}, closeness {who.closeness_rank} of {who.matched}", "    ", first="  - ")
            for scen, reason in pairs:
                out += _wrap(f"{scen}: {reason}", "      ", first="    ")
    return "\n".join(out) + "\n"
