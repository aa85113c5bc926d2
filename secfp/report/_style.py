"""The report's inline style sheet: system fonts only; readable at 1,280 px, on a phone and on A4 paper.

Colours come from :data:`PALETTE`; :data:`CONTRAST_PAIRS` lists every text/background
pair the sheet uses, and the tests hold each to WCAG 2.1 AA (contrast ratio >= 4.5:1
for normal text). Under 760 px, tables marked ``stack`` turn into one block per row
with each cell labelled from its ``data-label``, so nothing scrolls sideways. In print,
the page uses A4 with 14 mm margins, table headers repeat and rows do not split.
"""

from __future__ import annotations

__all__ = ["CSS", "PALETTE", "CONTRAST_PAIRS"]

PALETTE = {
    "ink": "#1d2430", "muted": "#515b69", "line": "#d7dce3", "paper": "#ffffff", "panel": "#f6f8fa",
    "ok": "#1b6049", "ok-bg": "#e3f3ec", "warn": "#7f3c07", "warn-bg": "#fbeadb", "bad": "#9b1c1c",
    "bad-bg": "#fde8e8", "accent": "#2a7f62", "link": "#1f5fa8", "answer-bg": "#f1f7f4", "chip-bg": "#f9fafb",
}

#: (text, background) colour names of :data:`PALETTE` that appear together.
CONTRAST_PAIRS = (
    ("ink", "paper"), ("muted", "paper"), ("ink", "panel"), ("muted", "panel"), ("ok", "ok-bg"),
    ("warn", "warn-bg"), ("bad", "bad-bg"), ("link", "paper"), ("ink", "answer-bg"), ("muted", "answer-bg"),
    ("ink", "chip-bg"), ("ink", "warn-bg"), ("ok", "paper"), ("bad", "paper"), ("link", "answer-bg"),
)

_VARS = " ".join(f"--{k}: {v};" for k, v in PALETTE.items())

CSS = """
:root { %s }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%%; }
body { margin: 0; color: var(--ink); background: var(--paper);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
a { color: var(--link); }
h1 { font-size: 24px; margin: 0 0 6px; overflow-wrap: anywhere; }
h2 { font-size: 19px; margin: 30px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 18px 0 6px; }
p.lead { color: var(--muted); margin: 0 0 8px; }
.muted { color: var(--muted); }
.small { font-size: 13px; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12.5px;
  overflow-wrap: anywhere; word-break: break-all; }
.num { font-variant-numeric: tabular-nums; }
.nowrap { white-space: nowrap; }
.answers { display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 12px; }
.answer { background: var(--answer-bg); border-left: 4px solid var(--accent); border-radius: 4px;
  padding: 10px 14px; break-inside: avoid; }
.answer h3 { margin: 0 0 4px; }
.answer p { margin: 4px 0; overflow-wrap: anywhere; }
.answer .headline { font-weight: 600; font-size: 16px; }
.answer .from { margin-top: 0; }
.answer .requires-title { font-weight: 600; font-size: 13px; margin-top: 8px; }
ul.requires { margin: 2px 0 0; padding-left: 18px; font-size: 14px; overflow-wrap: anywhere; }
dl.facts { display: grid; grid-template-columns: minmax(0, max-content) minmax(0, 1fr); gap: 2px 14px; margin: 8px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; min-width: 0; }
table { border-collapse: collapse; width: 100%%; margin: 6px 0 12px; }
th, td { text-align: left; vertical-align: top; padding: 6px 8px; border-bottom: 1px solid var(--line);
  overflow-wrap: anywhere; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); background: var(--panel); }
td.num, th.num { text-align: right; white-space: nowrap; }
tr.unsigned td { background: #fffaf5; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12.5px; font-weight: 600; }
.badge.ok { color: var(--ok); background: var(--ok-bg); }
.badge.warn { color: var(--warn); background: var(--warn-bg); }
.badge.bad { color: var(--bad); background: var(--bad-bg); }
.chip { display: inline-block; margin: 1px 3px 1px 0; padding: 0 6px; border: 1px solid var(--line);
  border-radius: 4px; font-size: 12.5px; background: var(--chip-bg); }
abbr.chip { text-decoration: none; cursor: help; }
ul.notes { margin: 6px 0; padding-left: 20px; }
.note-box { border-left: 4px solid var(--warn); background: var(--warn-bg); padding: 6px 12px; margin: 12px 0; }
.bars { margin: 6px 0 4px; }
.bar-row { display: grid; grid-template-columns: minmax(0, 38%%) minmax(0, 1fr) 4.5em; gap: 10px; align-items: center;
  padding: 3px 0; }
.bar-label { overflow-wrap: anywhere; }
.bar-track { position: relative; height: 18px; background: var(--panel); border-radius: 2px; }
.bar { position: absolute; left: 0; top: 3px; height: 12px; border-radius: 2px; }
.bar.verified { background: var(--accent); }
.bar.unsigned { background: repeating-linear-gradient(45deg, #b4590f 0 3px, #f3d9c0 3px 6px);
  outline: 1px solid #b4590f; }
.whisker { position: absolute; top: 8px; height: 2px; background: var(--ink); }
.whisker::before, .whisker::after { content: ""; position: absolute; top: -5px; width: 2px; height: 12px;
  background: var(--ink); }
.whisker::before { left: 0; } .whisker::after { right: 0; }
.bar-value { text-align: right; font-variant-numeric: tabular-nums; }
.chart-note { font-size: 13px; }
figure.heatmap { margin: 16px 0; break-inside: avoid; }
figure.heatmap img { display: block; max-width: 100%%; height: auto; border: 1px solid var(--line); }
figure.heatmap figcaption { font-size: 13px; margin-top: 4px; }
details.source-detail { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; margin: 8px 0;
  break-inside: avoid; }
details.source-detail > summary { cursor: pointer; }
details.source-detail[open] > summary { margin-bottom: 4px; }
.scenario { margin-bottom: 16px; }
ul.terms { list-style: none; margin: 0; padding: 0; font-size: 13px; }
ul.terms li { margin: 1px 0; }
td.offer { min-width: 200px; }
details.why { font-size: 13px; color: var(--muted); margin-top: 4px; }
ul.not-suggested { padding-left: 20px; }
ul.not-suggested > li { margin: 6px 0; }
ul.not-suggested ul { padding-left: 18px; margin: 2px 0; }
.pos { color: var(--ok); } .neg { color: var(--bad); }
footer { margin-top: 36px; font-size: 13px; color: var(--muted); border-top: 1px solid var(--line); padding-top: 10px; }
@media (max-width: 760px) {
  main { padding: 14px 12px 32px; }
  h1 { font-size: 20px; }
  table.stack thead { display: none; }
  table.stack, table.stack tbody, table.stack tr, table.stack td { display: block; width: 100%%; }
  table.stack tr { border: 1px solid var(--line); border-radius: 6px; margin: 0 0 10px; padding: 4px 0; }
  table.stack td { border: 0; padding: 3px 10px 3px 124px; text-align: left; white-space: normal;
    position: relative; min-height: 1.6em; }
  table.stack td[data-label]::before { content: attr(data-label); position: absolute; left: 10px; top: 5px;
    width: 108px; font-size: 11px; text-transform: uppercase; letter-spacing: .02em; color: var(--muted); }
  td.offer { min-width: 0; }
  .bar-row { grid-template-columns: minmax(0, 1fr) 4.5em; }
  .bar-label { grid-column: 1 / -1; }
  dl.facts { grid-template-columns: minmax(0, 1fr); }
  dl.facts dt { margin-top: 4px; }
}
@page { size: A4; margin: 14mm; }
@media print {
  body { font-size: 11pt; }
  main { max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
  thead { display: table-header-group; }
  tr, .answer, .bar-row, details.source-detail { break-inside: avoid; }
  .answers { grid-template-columns: 1fr 1fr; }
  td.offer { min-width: 0; }
  .bar.verified, .bar.unsigned, .badge, .answer { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
""" % _VARS
