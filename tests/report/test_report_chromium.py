"""The report as a browser shows it: headless Chromium renders the file, we read back its DOM and a screenshot."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from browser import dump_dom, measure_layout, run
from report_helpers import DOM, SCRIPT_NAME

from secfp.planning.planner import SCENARIOS
from secfp.report import save_html

WINDOW = (1280, 2400)


@pytest.fixture(scope="module")
def page(report, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    save_html(report, path)
    return path


def test_chromium_shows_every_ranked_source_and_scenario(page, tmp_path, scenario):
    dom = DOM(dump_dom(page, tmp_path / "profile"))
    rows = dom.find("tr", "source-row")
    assert [r["attrs"]["data-source"] for r in rows] == [m.source for m in scenario.ranking]
    for row, match in zip(rows, scenario.ranking):
        assert f"{match.distance:.4f}" in row["text"]
        statement = scenario.statements[match.source]
        assert (statement.issuer_name if statement else "unsigned") in row["text"]
    assert [s["attrs"]["data-scenario"] for s in dom.find("article", "answer")] == list(SCENARIOS)
    assert [s["attrs"]["data-scenario"] for s in dom.find("section", "scenario")] == list(SCENARIOS)
    expected = sum(len(scenario.plan.suggestions[s]) for s in SCENARIOS)
    assert len(dom.find("tr", "suggestion-row")) == expected
    assert len(dom.find("li", "exclusion-row")) == len(scenario.plan.excluded)
    assert len(dom.find("div", "bar-row")) == len(scenario.ranking)
    # The hostile card name arrived as text: the browser built no script element from it.
    assert not dom.find("script")
    assert any(SCRIPT_NAME in r["text"] for r in rows)


@pytest.mark.parametrize("width", [1280, 390])
def test_page_does_not_scroll_sideways(page, tmp_path, width):
    layout = measure_layout(page, tmp_path / "profile", width=width)
    assert layout["inner"] == width
    assert layout["scroll"] <= layout["client"], f"horizontal scroll at {width} px: {layout}"


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    assert zlib.crc32(data[12:29]) == struct.unpack(">I", data[29:33])[0], "IHDR checksum wrong"
    return width, height


def test_chromium_screenshot_is_a_real_picture_of_the_page(page, tmp_path):
    from PIL import Image

    shot = tmp_path / "report.png"
    run(page, tmp_path / "profile", f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--screenshot={shot}")
    data = shot.read_bytes()
    assert _png_size(data) == WINDOW
    assert len(data) > 50_000
    with Image.open(shot) as im:
        rgb = im.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20)
        # The distance bars (#2a7f62) were painted; the page is not blank.
        assert any(max(abs(a - b) for a, b in zip(c, (42, 127, 98))) <= 4 and n > 1000 for n, c in colours)
        non_white = sum(n for n, c in colours if c != (255, 255, 255))
    assert len(colours) > 50 and non_white > 0.05 * WINDOW[0] * WINDOW[1]


def test_page_prints_on_a4(page, tmp_path):
    import re

    pdf = tmp_path / "report.pdf"
    run(page, tmp_path / "profile", "--no-pdf-header-footer", f"--print-to-pdf={pdf}")
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf.read_bytes())
    assert boxes, "no page in the PDF"
    # A4 is 595.28 x 841.89 points; Chromium rounds to its own units.
    assert all(abs(float(w) - 595.3) < 1.5 and abs(float(h) - 841.9) < 1.5 for w, h in boxes), set(boxes)
