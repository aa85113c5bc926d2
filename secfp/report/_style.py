"""The report's inline style sheet: system fonts only, readable on screen and on paper."""

from __future__ import annotations

__all__ = ["CSS"]

CSS = """
:root { --ink: #1d2430; --muted: #5a6472; --line: #d7dce3; --ok: #1f6f54; --ok-bg: #e3f3ec;
  --warn: #8a4208; --warn-bg: #fbeadb; --bad: #9b1c1c; --bad-bg: #fde8e8; --accent: #2a7f62; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 20px 0 6px; }
p.lead, .muted { color: var(--muted); }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12px; }
.mono { overflow-wrap: anywhere; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 8px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { text-align: left; vertical-align: top; padding: 6px 8px; border-bottom: 1px solid var(--line); }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); background: #f6f8fa; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.unsigned td { background: #fffaf5; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
  white-space: nowrap; }
.badge.ok { color: var(--ok); background: var(--ok-bg); }
.badge.warn { color: var(--warn); background: var(--warn-bg); }
.badge.bad { color: var(--bad); background: var(--bad-bg); }
.chip { display: inline-block; margin: 1px 3px 1px 0; padding: 0 6px; border: 1px solid var(--line);
  border-radius: 4px; font-size: 12px; background: #f9fafb; white-space: nowrap; }
abbr.chip { text-decoration: none; cursor: help; }
ul.notes { margin: 8px 0; padding-left: 20px; }
ul.notes li { margin: 2px 0; }
.note-box { border-left: 4px solid var(--warn); background: var(--warn-bg); padding: 8px 12px; margin: 12px 0; }
.chart { overflow-x: auto; }
svg.ranking-chart { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
svg .grid { stroke: #e6e9ee; }
svg .axis { stroke: #7a8390; }
svg .tick, svg .axis-title { fill: var(--muted); }
svg .bar-label, svg .bar-value { fill: var(--ink); }
.legend span { margin-right: 16px; }
.swatch { display: inline-block; width: 12px; height: 12px; vertical-align: -1px; margin-right: 4px; }
.swatch.verified { background: var(--accent); }
.swatch.unsigned { background: repeating-linear-gradient(45deg, #b4590f 0 3px, #f3d9c0 3px 6px); }
.source-detail { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; margin: 10px 0;
  break-inside: avoid; }
.scenario { margin-bottom: 18px; break-inside: avoid-page; }
table.components { width: auto; margin: 0; }
table.components td { border: 0; padding: 0 8px 0 0; font-size: 12px; }
td.offer { min-width: 230px; }
td.offer dd { overflow-wrap: anywhere; }
.nowrap { white-space: nowrap; }
.why { font-size: 12px; color: var(--muted); max-width: 520px; }
.pos { color: var(--ok); } .neg { color: var(--bad); }
footer { margin-top: 36px; font-size: 12px; color: var(--muted); border-top: 1px solid var(--line); padding-top: 10px; }
@media print { main { max-width: none; padding: 0; } h2 { break-after: avoid; } a { color: inherit; } }
"""
