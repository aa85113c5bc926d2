"""The walkthrough's own report, as a browser shows it: answer first, ids only in details, no sideways scroll.

Runs ``examples/walkthrough.sh`` (real images, real keys, real bundles, a real pool; 30
samples per task to keep it short), then reads the HTML report it wrote in headless
Chromium. Screenshots at 1,280 px and 390 px are kept for people to look at: under
``$SECFP_SCREENSHOTS`` when set, else in ``demo-out/report-screenshots/`` (ignored by
git; the path is printed, run with ``-s`` or ``-rP`` to see it).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from browser import TextOutsideDetails, dump_dom, measure_layout
from report_helpers import DOM

from secfp.planning.planner import SCENARIOS

REPO = Path(__file__).resolve().parents[2]
HEX64 = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory, torch_home) -> tuple[Path, dict[str, str]]:
    env = dict(os.environ, SAMPLES="60", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               TORCH_HOME=str(torch_home), COLUMNS="200")
    out = tmp_path_factory.mktemp("walkthrough") / "wt"
    result = subprocess.run(["bash", str(REPO / "examples" / "walkthrough.sh"), str(out)], env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out, env


@pytest.fixture(scope="module")
def dom_text(walkthrough, tmp_path_factory) -> str:
    out, _ = walkthrough
    return dump_dom(out / "newcomer" / "report.html", tmp_path_factory.mktemp("profile"))


@pytest.fixture(scope="module")
def shots() -> Path:
    where = os.environ.get("SECFP_SCREENSHOTS")
    folder = Path(where) if where else REPO / "demo-out" / "report-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _index(dom: DOM, tag: str, **attrs: str) -> int:
    for i, el in enumerate(dom.elements):
        if el["tag"] == tag and all(el["attrs"].get(k) == v or (k == "class" and v in (el["attrs"].get(k) or "").split())
                                    for k, v in attrs.items()):
            return i
    raise AssertionError(f"no <{tag}> with {attrs}")


def test_summary_comes_before_the_ranking_and_the_ranking_before_verification(dom_text):
    dom = DOM(dom_text)
    summary, ranking = _index(dom, "section", id="summary"), _index(dom, "section", id="ranking")
    verification = _index(dom, "details", **{"class": "source-detail"})
    assert summary < ranking < verification
    answers = dom.find("article", "answer")
    assert [a["attrs"]["data-scenario"] for a in answers] == list(SCENARIOS)
    text = " ".join(a["text"] for a in answers)
    # Institutions and task names, as people say them; no "(no task name)" placeholder.
    for word in ("radboud", "charite", "Abdominal CT slice classification", "Chest and hand radiograph triage",
                 "CC-BY-NC-4.0", "HorizontalFlip (p = 0.5)", "mailto:data-office@example.org"):
        assert word in text, word
    assert "no task name" not in dom_text
    title = dom.find("h1")[0]["text"]
    assert "Liver lesion CT triage" in title and "/" not in title


def test_no_64_hex_string_outside_details(dom_text):
    outside = TextOutsideDetails(dom_text).text
    assert not HEX64.findall(outside), HEX64.findall(outside)[:3]
    # The ids are on the page, one click away (so this test can fail): spec id, key ids, weight digest.
    assert len(set(HEX64.findall(dom_text))) >= 3


@pytest.mark.parametrize("width", [1280, 390])
def test_no_horizontal_scroll_and_screenshots_are_kept(walkthrough, tmp_path, shots, width):
    out, _ = walkthrough
    shot = shots / f"walkthrough-report-{width}px.png"
    layout = measure_layout(out / "newcomer" / "report.html", tmp_path / "profile", width=width, shot=shot,
                            height=2400)
    print(f"\nscreenshot of the walkthrough's report at {width} px: {shot}")
    assert layout["inner"] == width
    assert layout["scroll"] <= layout["client"], f"horizontal scroll at {width} px: {layout}"
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size[0] == width and im.size[1] > 800


def _plan(walkthrough, *extra: str) -> subprocess.CompletedProcess[str]:
    out, env = walkthrough
    here = REPO / "examples"
    env = dict(env, SECFP_HOME=str(out / "newcomer" / "home"))
    return subprocess.run(
        ["secfp", "plan", str(out / "newcomer" / "my-task.fp.json"), "--pool", str(out / "newcomer" / "pool"),
         "--key", str(out / "newcomer" / "newcomer.key"), "--policy", str(here / "policies" / "newcomer-import.toml"),
         "--card", str(here / "cards" / "newcomer-ct.toml"), *extra], env=env, capture_output=True, text=True,
        timeout=300)


def test_plan_json_carries_summaries_institutions_and_score_components(walkthrough):
    result = _plan(walkthrough, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc["summary"]) == set(SCENARIOS)
    assert all(isinstance(doc["summary"][s], str) and doc["summary"][s] for s in SCENARIOS)
    matched = len(doc["pool"]["matches"])
    ranks = {m["source"]: m["rank"] for m in doc["pool"]["matches"]}
    for scenario in SCENARIOS:
        for s in doc["scenarios"][scenario]:
            assert s["institution"] in ("radboud", "charite", "kyoto") and s["task"]
            # The learned planner's score is the sum of readable groups of its features (TreeSHAP).
            names = [c["name"] for c in s["score"]["components"]]
            assert {"similarity", "size", "classes", "keywords"} <= set(names)
            assert sum(c["contribution"] for c in s["score"]["components"]) == pytest.approx(s["score"]["total"])
            assert all({"value", "weight", "contribution", "note"} <= set(c) for c in s["score"]["components"])
            # Honest closeness: the rank among all matched sources, as in the ranking.
            assert (s["closeness_rank"], s["matched_sources"]) == (ranks[s["source_id"]], matched)
    top = doc["scenarios"]["architecture"][0]
    assert top["institution"] in doc["summary"]["architecture"] and top["task"] in doc["summary"]["architecture"]


def test_plan_in_markdown_and_in_the_terminal_answers_first(walkthrough):
    markdown = _plan(walkthrough, "--format", "markdown")
    assert markdown.returncode == 0, markdown.stderr
    md = markdown.stdout
    assert md.index("## Recommendation") < md.index("## How close each source is") < md.index(
        "## Verification and provenance")
    text = _plan(walkthrough).stdout
    assert text.index("Recommendation") < text.index("How close each source is") < text.index("The plan in detail")
    assert not re.search(r"[0-9a-f]{32}", text)  # no bundle ids in the terminal plan
    assert "no task name" not in text
