"""secfp.report: reports for people: the answer first, the evidence one click away.

* :func:`build_report` gathers a ranking, the sources' verified statements and a plan
  into a :class:`Report` (pure, JSON round-trip with ``to_json``/``from_json``);
* :func:`scenario_summaries` / :func:`plan_document`: the plain-language answer per
  scenario, and the plan's JSON with summaries, institutions and honest closeness ranks;
* :func:`render_html` / :func:`save_html`: one self-contained HTML page, every bundle
  string escaped; :func:`render_plan_text` (terminal) and :func:`render_markdown`
  (approval tickets) say the same in their formats;
* :func:`save_heatmap` / :func:`heatmap_png` / :func:`comparison_png`: heat maps
  (matplotlib, imported only when called).
"""

from secfp.report.heatmap import comparison_png, heatmap_png, save_heatmap
from secfp.report.html import render_html, save_html
from secfp.report.markdown import render_markdown
from secfp.report.model import QueryInfo, Report, SourceRow, build_report
from secfp.report.summary import plan_document, scenario_summaries
from secfp.report.text import render_plan_text

__all__ = ["QueryInfo", "Report", "SourceRow", "build_report", "render_html", "save_html", "heatmap_png",
           "save_heatmap", "comparison_png", "render_markdown", "render_plan_text", "plan_document",
           "scenario_summaries"]
