"""secfp.report: reports for people: the HTML page (ranking, provenance, plan) and the heat map.

* :func:`build_report` gathers a ranking, the sources' verified statements and a plan
  into a :class:`Report` (pure, JSON round-trip with ``to_json``/``from_json``);
* :func:`render_html` / :func:`save_html`: one self-contained HTML page, every bundle
  string escaped;
* :func:`save_heatmap` / :func:`heatmap_png`: a fingerprint as a PNG heat map
  (matplotlib, imported only when called).
"""

from secfp.report.heatmap import heatmap_png, save_heatmap
from secfp.report.html import render_html, save_html
from secfp.report.model import QueryInfo, Report, SourceRow, build_report

__all__ = ["QueryInfo", "Report", "SourceRow", "build_report", "render_html", "save_html", "heatmap_png",
           "save_heatmap"]
