"""One self-contained HTML page for a governance reviewer or a clinician (issue 6, "Reports").

The page holds the query, the ranking as an inline SVG chart and as a table, each
source's provenance (issuer, verification checks, privacy ledger, data-use terms) and
the transfer plan per scenario with its reasons and exclusions. It has no script, no
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
from pathlib import Path
from typing import Any

from secfp import __version__
from secfp._io import atomic_write_text
from secfp.governance.duo import MODIFIERS, PERMISSIONS
from secfp.report import _escape as e
from secfp.report._chart import ranking_chart
from secfp.report._plan_html import plan_section
from secfp.report._style import CSS
from secfp.report.model import Report, SourceRow

__all__ = ["render_html", "save_html", "CSP"]

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

DUO_LABELS = {
    "NRES": "no restriction", "GRU": "general research use", "HMB": "health, medical or biomedical research",
    "DS": "disease-specific research", "POA": "population origins or ancestry research only",
    "NPOA": "no population origins or ancestry research", "NMDS": "no general methods research",
    "GSO": "genetic studies only", "NCU": "non-commercial use only", "NPU": "not-for-profit organisations only",
    "NPUNCU": "not-for-profit, non-commercial use only", "IRB": "ethics approval required",
    "CC": "clinical care use allowed", "PUB": "publication required", "COL": "collaboration required",
    "RTN": "return derived data to the source", "MOR": "publication moratorium", "TS": "time limit on use",
    "US": "user-specific restriction", "PS": "project-specific restriction", "IS": "institution-specific restriction",
    "GS": "geographic restriction", "RS": "research-specific restriction",
}


def _duo_chip(code: str) -> str:
    base = code.partition(":")[0]
    duo_id = PERMISSIONS.get(base) or MODIFIERS.get(base)
    label = DUO_LABELS.get(base, "code not known to secfp")
    title = f"{label} ({duo_id})" if duo_id else label
    return f'<abbr class="chip duo" title="{e.text(title)}">{e.text(code)}</abbr>'


def _data_use(row: SourceRow, *, long: bool = False) -> str:
    if not row.verified:
        return '<span class="muted">not declared (unsigned)</span>'
    if not row.data_use:
        return '<span class="muted">no data-use terms declared</span>'
    chips = "".join(_duo_chip(c) for c in row.data_use)
    if long:
        chips = "<br>".join(f"{_duo_chip(c)} {e.text(DUO_LABELS.get(c.partition(':')[0], ''))}" for c in row.data_use)
    return chips


def _privacy(privacy: Mapping[str, Any] | None) -> str:
    if privacy is None:
        return '<span class="badge warn">no ledger</span><br><span class="muted">unsigned file: no privacy claim</span>'
    mechanism = privacy.get("mechanism")
    if mechanism == "none":
        return '<span class="badge warn">no DP</span><br><span class="muted">exact counts, no noise</span>'
    parts = [f'<span class="badge ok">{e.text(mechanism)}</span>']
    for key, symbol in (("epsilon", "\u03b5"), ("delta", "\u03b4"), ("sigma", "\u03c3"), ("sample_rate", "q")):
        parts.append(f'<span class="chip" data-field="{key}">{symbol} = {e.number(privacy.get(key))}</span>')
    return " ".join(parts)


def _verification(row: SourceRow) -> str:
    if not row.verified:
        return ('<span class="badge bad">unsigned</span><br>'
                '<span class="muted">plain fingerprint file; nothing checked</span>')
    chips = "".join(f'<span class="chip check">{e.text(c)}</span>' for c in row.checks)
    return f'<span class="badge ok">verified</span><div>{chips}</div>'


def _source_row(i: int, row: SourceRow) -> str:
    kind = "verified" if row.verified else "unsigned"
    task = f'<br><span class="muted">task: {e.text(row.task)}</span>' if row.task else ""
    issuer = (f'{e.text(row.issuer)}<br><span class="mono muted nowrap" title="{e.text(row.issuer_key_id)}">'
              f"{e.clip(row.issuer_key_id, 13)}</span>"
              if row.verified else '<span class="muted">\u2013</span>')
    expiry = (f'<span class="mono">{e.clip(row.bundle_id, 13)}</span><br>expires {e.text(row.expires_at)}'
              if row.verified else "\u2013")
    return (f'<tr class="source-row {kind}" id="row-{i}" data-source="{e.text(row.source)}" data-rank="{row.rank}" '
            f'data-verified="{"true" if row.verified else "false"}">'
            f'<td class="num">{row.rank}</td>'
            f'<td><a href="#src-{i}">{e.clip(row.source, 60, keep_end=True)}</a>{task}</td>'
            f'<td class="num">{row.distance:.4f}</td><td>{issuer}</td><td>{_verification(row)}</td>'
            f"<td>{_privacy(row.privacy)}</td><td>{_data_use(row)}</td><td>{expiry}</td></tr>")


def _facts(items: list[tuple[str, str]]) -> str:
    return '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def _accountants(privacy: Mapping[str, Any]) -> str:
    accountants = privacy.get("accountants")
    if not isinstance(accountants, list) or not accountants:
        return "\u2013"
    return "<br>".join(
        f"{e.text(a.get('name'))} {e.text(a.get('version'))}: \u03b5 = {e.number(a.get('epsilon'))}"
        if isinstance(a, Mapping) else e.text(a) for a in accountants)


def _detail(i: int, row: SourceRow) -> str:
    head = (f'<section class="source-detail" id="src-{i}" data-source="{e.text(row.source)}">'
            f'<h3>{row.rank}. <span class="mono">{e.text(row.source)}</span></h3>')
    if not row.verified:
        return head + ('<p><span class="badge bad">unsigned</span> A fingerprint file read from disk. No issuer '
                       "signed it, so its origin, privacy protection and terms of use are unknown. Use it for "
                       "exploration only.</p></section>")
    privacy = row.privacy or {}
    items = [
        ("issuer", e.text(row.issuer)),
        ("issuer signing key", f'<span class="mono">{e.text(row.issuer_key_id)}</span>'),
        ("task (from its card)", e.text(row.task) or "\u2013"),
        ("bundle id", f'<span class="mono">{e.text(row.bundle_id)}</span>'),
        ("issued / expires", f"{e.text(row.issued_at)} / {e.text(row.expires_at)}"),
        ("addressed to", "anyone (public bundle)" if row.public else "named recipients, us included (sealed)"),
        ("checks passed", " ".join(f'<span class="chip check">{e.text(c)}</span>' for c in row.checks)),
        ("privacy mechanism", e.text(privacy.get("mechanism", "\u2013"))),
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
    return head + _facts(items) + "</section>"


def render_html(report: Report) -> str:
    """The whole page as a string (UTF-8 when written; :func:`save_html` writes it)."""
    q = report.query
    anchors: dict[str, str] = {}
    for i, row in enumerate(report.rows, start=1):
        for key in (row.bundle_id, row.source):
            if key is not None:
                anchors.setdefault(key, f"src-{i}")
    verified = sum(r.verified for r in report.rows)
    notes = "".join(f"<li>{e.text(n)}</li>" for n in report.notes)
    query_facts = _facts([
        ("query", e.text(q.name)),
        ("fingerprint", f"{q.features} features \u00d7 {q.bins} bins, n = {q.n}"
                        + (" (DP estimate)" if q.noisy else "")),
        ("spec id", f'<span class="mono">{e.text(q.spec_id)}</span>'),
        ("distance", f"bKLD, {e.text(report.variant)} variant: lower = more similar task"),
        ("sources", f"{len(report.rows)} ranked, {verified} verified, {len(report.rows) - verified} unsigned"),
        ("generated", e.text(report.generated_at)),
    ])
    table = "".join(_source_row(i, r) for i, r in enumerate(report.rows, start=1))
    details = "".join(_detail(i, r) for i, r in enumerate(report.rows, start=1))
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
<header id="summary"><h1>{e.text(report.title)}</h1>
<p class="lead">Which received tasks resemble ours, who vouches for them, under which privacy protection and
terms, and what to transfer from them.</p>
{query_facts}
{f'<div class="note-box"><ul class="notes">{notes}</ul></div>' if notes else ""}
</header>
<section id="ranking"><h2>Ranking</h2>
<p class="legend"><span><i class="swatch verified"></i>signed and verified</span>
<span><i class="swatch unsigned"></i>unsigned file</span></p>
<div class="chart">{ranking_chart(report.rows, variant=report.variant)}</div>
<table class="ranking"><thead><tr><th class="num">#</th><th>source</th><th class="num">bKLD</th><th>issuer</th>
<th>verification</th><th>privacy</th><th>data use</th><th>bundle</th></tr></thead>
<tbody>{table}</tbody></table>
</section>
<section id="sources"><h2>Sources in detail</h2>{details}</section>
{plan_section(report.plan, anchors)}
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
