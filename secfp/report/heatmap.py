"""A fingerprint as a heat map: features (rows) by bins (columns), counts on a log colour scale.

Counts span orders of magnitude (a probe feature often puts most images in a few bins),
so a linear scale would show a handful of bright cells on black. Noise-free counts use a
log scale with zero cells left blank; DP-noisy counts can be zero or negative, so they
use a symmetric log scale (linear within +-1 count).

matplotlib is imported inside :func:`save_heatmap`, so importing :mod:`secfp.report`
does not load it, and the figure is drawn on an explicit Agg canvas without pyplot: no
global backend is changed and nothing opens a window.
"""

from __future__ import annotations

import io
import re
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from secfp._io import atomic_write_bytes
from secfp.errors import UsageError

__all__ = ["save_heatmap", "heatmap_png", "comparison_png", "COMPARISON_CAPTION"]

_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _default_title(fp: Any) -> str:
    features, bins = fp.counts.shape
    n = f"n \u2248 {fp.n} (DP estimate)" if fp.noisy else f"n = {fp.n}"
    return f"fingerprint {str(fp.spec_id)[:12]}: {features} features \u00d7 {bins} bins, {n}"


def heatmap_png(fp: Any, *, title: str | None = None, dpi: int = 120) -> bytes:
    """The heat map of ``fp`` (a :class:`~secfp.fingerprint.histogram.Fingerprint`) as PNG bytes."""
    from matplotlib import colors
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = np.asarray(fp.counts)
    if counts.ndim != 2 or counts.size == 0:
        raise UsageError("a heat map needs a features x bins count matrix")
    features, bins = counts.shape
    if fp.noisy or counts.min() < 0:
        data = counts.astype(np.float64)
        bound = max(1.0, float(np.abs(data).max()))
        norm = colors.SymLogNorm(linthresh=1.0, vmin=-bound, vmax=bound)
        label = "noisy count (symmetric log scale, linear within \u00b11)"
    else:
        data = np.ma.masked_less_equal(counts.astype(np.float64), 0.0)
        norm = colors.LogNorm(vmin=1.0, vmax=max(1.0, float(counts.max())) + 1e-9)
        label = "count (log scale; blank = 0)"
    fig = Figure(figsize=(8.0, 6.0), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    cmap = "RdBu_r" if isinstance(norm, colors.SymLogNorm) else "viridis"
    image = ax.imshow(data, aspect="auto", interpolation="nearest" if features <= 600 else "antialiased",
                      cmap=cmap, norm=norm, origin="upper", extent=(-0.5, bins - 0.5, features - 0.5, -0.5))
    ax.set_facecolor("#f2f2f2")
    ax.set_xlabel(f"bin (0 \u2026 {bins - 1}, low \u2192 high feature value)")
    ax.set_ylabel(f"feature (0 \u2026 {features - 1})")
    # Text from a bundle: no mathtext (a '$' would be parsed), no control characters.
    shown = _INVISIBLE.sub("\ufffd", title if title is not None else _default_title(fp))
    ax.set_title(shown[:200], fontsize=10, parse_math=False)
    bar = fig.colorbar(image, ax=ax)
    bar.set_label(label)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


COMPARISON_CAPTION = (
    "Each row is one probe feature, each column a bin (low to high feature value); a cell is the share of images "
    "in that bin, per feature. Rows are clustered by their pattern in our task and drawn in the same order in "
    "both panels. Look for bands in the same columns on both sides (the tasks agree there); bins lit on one side "
    "only are what makes the distance larger.")


def _row_shares(fp: Any) -> np.ndarray:
    counts = np.clip(np.asarray(fp.counts, dtype=np.float64), 0.0, None)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def cluster_order(shares: np.ndarray) -> np.ndarray:
    """Row order from average-linkage clustering of the rows (Euclidean); similar rows end up adjacent."""
    from scipy.cluster.hierarchy import leaves_list, linkage

    if shares.shape[0] < 3:
        return np.arange(shares.shape[0])
    return leaves_list(linkage(shares, method="average", metric="euclidean"))


def comparison_png(query: Any, source: Any, *, query_title: str, source_title: str, dpi: int = 110,
                   caption: bool = True) -> bytes:
    """Our fingerprint and one source side by side as PNG bytes (same clustered row order, one colour scale).

    Shares span orders of magnitude (most images of a feature fall into a few bins), so
    the colour scale is logarithmic from 0.1 % up; an empty bin is left blank. Titles may
    come from a bundle: control characters are replaced and mathtext is off. With
    ``caption``, :data:`COMPARISON_CAPTION` is printed under the panels.
    """
    from matplotlib import colors
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from secfp.matching.bkld import check_compatible

    check_compatible(query, source)  # IncompatibleFingerprints (exit 6) for another spec
    q, s = _row_shares(query), _row_shares(source)
    if q.ndim != 2 or q.shape != s.shape or q.size == 0:
        raise UsageError("a comparison needs two fingerprints of the same features x bins shape")
    order = cluster_order(q)
    q, s = q[order], s[order]
    norm = colors.LogNorm(vmin=1e-3, vmax=max(1e-3 * 1.01, float(max(q.max(), s.max()))))
    fig = Figure(figsize=(10.0, 6.2 if caption else 5.6), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=True)
    features, bins = q.shape
    image = None
    for ax, data, title in ((axes[0], q, query_title), (axes[1], s, source_title)):
        image = ax.imshow(np.ma.masked_less_equal(data, 0.0), aspect="auto",
                          interpolation="nearest" if features <= 600 else "antialiased", cmap="magma_r", norm=norm,
                          origin="upper",
                          extent=(-0.5, bins - 0.5, features - 0.5, -0.5))
        ax.set_title(_INVISIBLE.sub("\ufffd", title)[:90], fontsize=10, parse_math=False)
        ax.set_xlabel("bin (low \u2192 high feature value)")
    axes[0].set_ylabel(f"{features} probe features (clustered)")
    axes[0].set_yticks([])
    bar = fig.colorbar(image, ax=list(axes), shrink=0.9)
    bar.set_label("share of images in the bin, per feature (log scale; blank = none)")
    if caption:
        fig.get_layout_engine().set(rect=(0.0, 0.09, 1.0, 0.91))
        fig.text(0.01, 0.01, "\n".join(textwrap.wrap(COMPARISON_CAPTION, 150)), fontsize=8, va="bottom",
                 parse_math=False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def save_heatmap(fp: Any, path: str | Path, *, title: str | None = None, against: Any = None,
                 against_title: str | None = None) -> None:
    """Write the heat map of ``fp`` as a PNG file (atomically); ``path`` must end in ``.png``.

    With ``against`` (another fingerprint of the same spec), both are drawn side by side
    (:func:`comparison_png`) instead.
    """
    if Path(path).suffix.lower() != ".png":
        raise UsageError(f"the heat map is written as PNG: give a file name ending in .png, not {Path(path).name}")
    # Private outputs: a heat map may show a decrypted fingerprint.
    if against is not None:
        atomic_write_bytes(path, comparison_png(fp, against, query_title=title or "ours",
                                                source_title=against_title or "compared with"), mode=0o600)
        return
    atomic_write_bytes(path, heatmap_png(fp, title=title), mode=0o600)
