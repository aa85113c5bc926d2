"""How close each source is, as HTML bars measured from the query's own floor (no script, no SVG text to clip).

bKLD is not zero for identical fingerprints (Godau et al., arXiv 2412.08763, Sec. 3:
the source side is a softmax), so an axis from 0 makes every bar look the same. The
bars here start at the query's *floor*, its distance to an exact copy of itself, and
run to the farthest source: a bar's length is how far a source is from being a copy of
our task. Where the ranking carries an uncertainty interval, it is drawn as a whisker
and sources within noise of the closest are labelled as tied; without one, the page
says that the gaps cannot be judged. Unsigned sources get a hatched bar and an
"(unsigned)" label, so the difference does not rest on colour alone.

Bar widths are numbers this module computes; every text comes from
:mod:`secfp.report._escape`.
"""

from __future__ import annotations

from collections.abc import Sequence

import secfp.report._escape as e
from secfp.report.model import SourceRow

__all__ = ["distance_bars"]


def _pct(value: float, low: float, span: float) -> float:
    return max(0.0, min(100.0, (value - low) / span * 100.0)) if span > 0 else 100.0


def distance_bars(rows: Sequence[SourceRow], labels: Sequence[str], *, floor: float | None) -> str:
    """A ``<div class="bars">`` with one bar per row (``labels[i]`` names row ``i``) and a sentence on noise."""
    if not rows:
        return '<p class="empty">No sources were ranked.</p>'
    low = floor if floor is not None and floor <= min(r.distance for r in rows) else min(
        0.0, min(r.distance for r in rows))
    highs = [max(r.distance, (r.evidence or {}).get("distance_high", r.distance)) for r in rows]
    span = max(highs) - low
    out = ['<div class="bars" role="list">']
    with_noise = [bool(r.evidence and "distance_low" in r.evidence and "distance_high" in r.evidence) for r in rows]
    have_noise = any(with_noise)
    for row, label in zip(rows, labels):
        kind = "verified" if row.verified else "unsigned"
        width = max(_pct(row.distance, low, span), 0.6)
        whisker = ""
        ev = row.evidence or {}
        if "distance_low" in ev and "distance_high" in ev:
            left, right = _pct(ev["distance_low"], low, span), _pct(ev["distance_high"], low, span)
            whisker = (f'<span class="whisker" style="left:{left:.2f}%;width:{max(right - left, 0.4):.2f}%" '
                       'aria-hidden="true"></span>')
        tied = ' <span class="badge warn">tied with #1</span>' if ev.get("tied") and row.rank > 1 else ""
        suffix = ' <span class="muted">(unsigned)</span>' if not row.verified else ""
        out.append(
            f'<div class="bar-row {kind}" role="listitem" data-source="{e.text(row.source)}" data-rank="{row.rank}">'
            f'<span class="bar-label">{row.rank}. {e.text(label)}{suffix}{tied}</span>'
            f'<span class="bar-track"><span class="bar {kind}" style="width:{width:.2f}%"></span>{whisker}</span>'
            f'<span class="bar-value">{row.distance:.3f}</span></div>')
    out.append("</div>")
    if floor is not None and low == floor:
        axis = f"Bars start at our task's own floor, bKLD {floor:.3f} (a copy of our fingerprint would sit there)"
    elif floor is not None:
        axis = (f"Bars start at bKLD {low:.3f}, since a source lies below our task's own floor, bKLD {floor:.3f} "
                "(where a copy of our fingerprint would sit)")
    else:
        axis = "Bars start at bKLD 0"
    distances = sorted(r.distance for r in rows)
    gaps = [b - a for a, b in zip(distances, distances[1:])]
    if have_noise:
        noise = ("; whiskers show each distance's uncertainty, and overlapping whiskers mean the order is within noise"
                 + ("." if all(with_noise) else " (sources without a whisker have no estimate)."))
    elif gaps:
        noise = (f"; the gaps between neighbours ({', '.join(f'{g:.3f}' for g in gaps[:4])}) come without an "
                 "uncertainty estimate in this report, so treat small differences as possibly noise.")
    else:
        noise = "."
    out.append(f'<p class="muted chart-note">{e.text(axis)}{e.text(noise)} Lower = more similar task.</p>')
    return "".join(out)
