"""One self-contained HTML page a data steward can act on in one minute: the answer first, evidence one click away.

Order on the page: the recommendation per scenario in plain language (what to take,
from which institution and task, how sure, what it requires); the ranking (sources
named by institution and task, distances measured from our task's own floor); the
plan in detail (score terms, what each offer hands over, who was not suggested and
why); then verification and provenance, one ``<details>`` per source that opens by
itself only when something needs attention (an unsigned file, an expired statement).
Bundle ids, key ids and digests appear only inside ``<details>``. It has no script, no
external style sheet, font or image, and its Content-Security-Policy forbids loading
any (``default-src 'none'``), so it opens offline and leaks nothing when opened.

Every string that came from a bundle is attacker-controlled: it goes through
:func:`secfp.report._escape.text` (HTML escaping plus removal of control and bidi
characters); nothing from a bundle becomes a link, an id or a style. Element ids are
our own (``src-1``, ``plan-architecture``); rows carry ``class`` and ``data-*``
attributes (``tr.source-row[data-source]``, ``tr.suggestion-row[data-scenario]``,
``tr.exclusion-row``, ``section.source-detail``) for tests and for anyone scripting
over the file. Does not check that the report's statements were verified: a row is
shown as verified when the :class:`~secfp.report.model.Report` says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from secfp import __version__
from secfp._io import atomic_write_text
import secfp.report._escape as e
from secfp.report._chart import distance_bars
from secfp.report._duo import duo_id, duo_label
from secfp.report._knowledge import yes_no
from secfp.report._plan_html import plan_section, summary_section
from secfp.report._style import CSS
from secfp.report.heatmap import COMPARISON_CAPTION
from secfp.report.model import Report, SourceRow, format_time
from secfp.report.summary import distance_words, source_names

__all__ = ["render_html", "save_html", "CSP"]

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def _duo_chip(code: str) -> str:
    did = duo_id(code)
    label = duo_label(code)
    title = f"{label} ({did})" if did else label
    return f'<abbr class="chip duo" title="{e.text(title)}">{e.text(code)}</abbr>'


def _data_use(row: SourceRow, *, long: bool = False) -> str:
    if not row.verified:
        return '<span class="muted">not declared (unsigned)</span>'
    if not row.data_use:
        return '<span class="muted">no data-use terms declared</span>'
    if long:
        return "<br>".join(f"{_duo_chip(c)} {e.text(duo_label(c))}" for c in row.data_use)
    return "".join(_duo_chip(c) for c in row.data_use)


def _privacy_words(privacy: Mapping[str, Any] | None) -> str:
    if privacy is None:
        return '<span class="badge warn">no privacy claim</span>'
    mechanism = privacy.get("mechanism")
    if mechanism == "none":
        return '<span class="badge warn">no DP</span> <span class="muted">exact counts</span>'
    eps = e.number(privacy.get("epsilon"), ".3g")
    return (f'<span class="badge ok">DP</span> <span class="nowrap">\u03b5 = {eps}</span>'
            f' <span class="muted">({e.text(mechanism)})</span>')


def _status(row: SourceRow, *, expired: bool) -> str:
    if not row.verified:
        return '<span class="badge bad">unsigned</span>'
    if expired:
        return '<span class="badge bad">expired</span>'
    return '<span class="badge ok">verified</span>'


def _date(stamp: str | None) -> str:
    return f'<span class="nowrap">{e.text((stamp or "")[:10])}</span>' if stamp else "\u2013"


def _source_row(i: int, row: SourceRow, label: tuple[str, str], report: Report, expired: bool) -> str:
    kind = "verified" if row.verified else "unsigned"
    task, institution = label
    return (f'<tr class="source-row {kind}" id="row-{i}" data-source="{e.text(row.source)}" data-rank="{row.rank}" '
            f'data-verified="{"true" if row.verified else "false"}">'
            f'<td class="num" data-label="#">{row.rank}</td>'
            f'<td data-label="source"><a href="#src-{i}"><strong>{e.text(task)}</strong></a><br>'
            f'<span class="muted">{e.text(institution)}</span></td>'
            f'<td data-label="distance"><span class="num">{row.distance:.4f}</span><br>'
            f'<span class="muted small">{e.text(distance_words(row, report).partition(", ")[2])}</span></td>'
            f'<td data-label="status">{_status(row, expired=expired)}<br><span class="muted small">until '
            f"{_date(row.expires_at)}</span></td>"
            f'<td data-label="privacy">{_privacy_words(row.privacy)}</td>'
            f'<td data-label="data use">{_data_use(row)}</td></tr>')


def _facts(items: list[tuple[str, str]]) -> str:
    return '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def _accountants(privacy: Mapping[str, Any]) -> str:
    accountants = privacy.get("accountants")
    if not isinstance(accountants, list) or not accountants:
        return "\u2013"
    return "<br>".join(
        f"{e.text(a.get('name'))} {e.text(a.get('version'))}: \u03b5 = {e.number(a.get('epsilon'))}"
        if isinstance(a, Mapping) else e.text(a) for a in accountants)


def _detail(i: int, row: SourceRow, label: tuple[str, str], *, expired: bool) -> str:
    task, institution = label
    attrs = f'class="source-detail" id="src-{i}" data-source="{e.text(row.source)}"'
    if not row.verified:
        return (f"<details {attrs} open><summary><strong>{e.text(task)}</strong> \u2013 "
                '<span class="badge bad">unsigned file: nothing was checked</span></summary>'
                "<p>A fingerprint file read from disk. No issuer signed it, so its origin, privacy protection and "
                "terms of use are unknown. Use it for exploration only.</p>"
                + _facts([("file", f'<span class="mono">{e.text(row.source)}</span>')]) + "</details>")
    n = len(row.checks)
    line = (f'<span class="badge bad">statement expired since it was verified</span>' if expired
            else f'<span class="badge ok">all {n} checks passed</span>')
    privacy = row.privacy or {}
    items = [
        ("institution (issuer)", e.text(row.issuer)),
        ("task (from its card)", e.text(row.task) or '<span class="muted">no task card</span>'),
        ("issuer signing key", f'<span class="mono">{e.text(row.issuer_key_id)}</span>'),
        ("bundle id", f'<span class="mono">{e.text(row.bundle_id)}</span>'),
        ("issued", e.text(row.issued_at)), ("expires", e.text(row.expires_at)),
        ("addressed to", "anyone (public bundle)" if row.public else "named recipients, us included (sealed)"),
        ("checks passed", " ".join(f'<span class="chip check">{e.text(c)}</span>' for c in row.checks)),
        ("differential privacy", "no (exact counts)" if privacy.get("mechanism") in (None, "none")
         else f"yes ({e.text(privacy.get('mechanism'))})"),
    ]
    if privacy.get("mechanism") not in (None, "none"):
        items += [("\u03b5 (epsilon)", e.number(privacy.get("epsilon"))),
                  ("\u03b4 (delta)", e.number(privacy.get("delta"))),
                  ("\u03c3 (noise scale per count)", e.number(privacy.get("sigma"))),
                  ("sample rate q", e.number(privacy.get("sample_rate"))),
                  ("L2 sensitivity", e.number(privacy.get("sensitivity_l2"))),
                  ("accountants", _accountants(privacy))]
    items += [("export policy", e.text(row.policy_id) if row.policy_id else '<span class="muted">none named</span>'),
              ("data-use terms", _data_use(row, long=True))]
    return (f"<details {attrs}{' open' if expired else ''}><summary><strong>{e.text(task)}</strong> "
            f'<span class="muted">({e.text(institution)})</span> \u2013 {line}</summary>{_facts(items)}</details>')


def _figure(report: Report, names: Mapping[str, Any]) -> str:
    """The side-by-side heat map of our task and its closest source, when the report carries one."""
    if report.heatmap is None:
        return ""
    who = names.get(report.heatmap["source"])
    label = who.label if who is not None else "the closest source"
    # The PNG was checked to be base64 of a PNG when the report was built or loaded.
    return (f'<figure class="heatmap"><h3>Our task beside {e.text(label)}</h3>'
            f'<img src="data:image/png;base64,{e.text(report.heatmap["png_base64"])}" '
            f'alt="Heat maps of our fingerprint and of {e.text(label)}, side by side">'
            f"<figcaption class=\"muted\">{e.text(COMPARISON_CAPTION)}</figcaption></figure>")


def render_html(report: Report, *, now: datetime | None = None) -> str:
    """The whole page as a string (UTF-8 when written; :func:`save_html` writes it).

    ``now`` marks statements that expired after they were verified (their details open
    by themselves); by default the report's ``generated_at``.
    """
    q = report.query
    names = source_names(report)
    labels = [(names[r.source].task, names[r.source].institution) for r in report.rows]
    moment = format_time(now) if now is not None else report.generated_at
    expired = [bool(r.verified and r.expires_at and r.expires_at < moment) for r in report.rows]
    anchors: dict[str, str] = {}
    for i, row in enumerate(report.rows, start=1):
        for key in (row.bundle_id, row.source):
            if key is not None:
                anchors.setdefault(key, f"src-{i}")
    verified = sum(r.verified for r in report.rows)
    notes = "".join(f"<li>{e.text(n)}</li>" for n in report.notes)
    ours = report.query_task or q.name
    query_facts = _facts([
        ("our task", e.text(report.query_task) or '<span class="muted">no task card given</span>'),
        ("fingerprint file", f'<span class="mono">{e.text(q.name)}</span>'),
        ("fingerprint", f"{q.features} features \u00d7 {q.bins} bins, n = {q.n}" + (" (DP estimate)" if q.noisy else "")),
        ("spec id", f'<span class="mono">{e.text(q.spec_id)}</span>'),
        ("distance", f"bKLD, {e.text(report.variant)} variant: lower = more similar task"
                     + (f"; our own floor {report.query_floor:.4f}" if report.query_floor is not None else "")),
        ("noisy counts (DP)", yes_no(q.noisy)),
    ])
    table = "".join(_source_row(i, r, labels[i - 1], report, expired[i - 1]) for i, r in enumerate(report.rows, 1))
    details = "".join(_detail(i, r, labels[i - 1], expired=expired[i - 1]) for i, r in enumerate(report.rows, 1))
    bar_labels = [f"{t} ({inst})" for t, inst in labels]
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="secfp {e.text(__version__)}">
<title>{e.text(report.title)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<header id="top"><h1>{e.text(report.title)}</h1>
<p class="lead">What to take from which partner for <strong>{e.text(ours)}</strong>: {len(report.rows)} sources
matched, {verified} signed and verified, {len(report.rows) - verified} unsigned. Generated
{e.text(report.generated_at[:10])}.</p>
{f'<div class="note-box"><ul class="notes">{notes}</ul></div>' if notes else ""}
</header>
{summary_section(report)}
<section id="ranking"><h2>How close each source is</h2>
{distance_bars(report.rows, bar_labels, floor=report.query_floor)}
<table class="ranking stack"><thead><tr><th class="num">#</th><th>source</th><th>distance</th><th>status</th>
<th>privacy</th><th>data use</th></tr></thead>
<tbody>{table}</tbody></table>
{_figure(report, names)}
</section>
{plan_section(report, anchors)}
<section id="sources"><h2>Verification and provenance</h2>
<p class="muted">One line per source; open it for the checks, keys, bundle id and privacy ledger.</p>
{details}
<details class="source-detail" id="about-query"><summary><strong>Our fingerprint</strong></summary>{query_facts}</details>
</section>
<footer><p>How to read this report: bKLD is the binned KL divergence between fingerprints (Godau et al.,
arXiv 2412.08763); it ranks similarity and is not a guarantee that transfer helps. "Verified" means the
bundle's signature, issuer, audience and validity were checked against our trust store when it was opened;
it does not mean the issuer's claims about its data are true. Text from bundles is shown as its issuer
wrote it. Generated by secfp {e.text(__version__)} at {e.text(report.generated_at)}.</p></footer>
</main>
</body>
</html>
"""


def save_html(report: Report, path: str | Path) -> None:
    """Write :func:`render_html`'s page to ``path`` atomically (temp file, then rename)."""
    atomic_write_text(path, render_html(report), mode=0o600)
