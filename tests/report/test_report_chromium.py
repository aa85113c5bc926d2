"""The report as a browser shows it: headless Chromium renders the file, we read back its DOM and a screenshot.

CI installs Debian's ``chromium`` (see ``.ci/run``); a missing browser fails the test
rather than skipping it, so the check can never silently stop running.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from report_helpers import DOM, SCRIPT_NAME

from secfp.planning.planner import SCENARIOS
from secfp.report import save_html

TIMEOUT_S = 60
WINDOW = (1280, 2400)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("headless Chromium is not installed (no 'chromium' on PATH). The HTML report test needs it: "
                "run .ci/run, or install it with 'apt-get install -y chromium chromium-driver' (Debian).")


def _run(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    args = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--hide-scrollbars", f"--user-data-dir={profile}", *extra, page.as_uri()]
    try:
        done = subprocess.run(args, capture_output=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish within {TIMEOUT_S} s: {' '.join(args)}")
    assert done.returncode == 0, f"chromium exited {done.returncode}: {done.stderr.decode(errors='replace')[-2000:]}"
    return done


@pytest.fixture(scope="module")
def page(report, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    save_html(report, path)
    return path


def test_chromium_shows_every_ranked_source_and_scenario(page, tmp_path, scenario):
    dom = DOM(_run(page, tmp_path / "profile", "--dump-dom").stdout.decode("utf-8"))
    rows = dom.find("tr", "source-row")
    assert [r["attrs"]["data-source"] for r in rows] == [m.source for m in scenario.ranking]
    for row, match in zip(rows, scenario.ranking):
        assert f"{match.distance:.4f}" in row["text"]
        statement = scenario.statements[match.source]
        assert (statement.issuer_name if statement else "unsigned") in row["text"]
    assert [s["attrs"]["data-scenario"] for s in dom.find("section", "scenario")] == list(SCENARIOS)
    expected = sum(len(scenario.plan.suggestions[s]) for s in SCENARIOS)
    assert len(dom.find("tr", "suggestion-row")) == expected
    assert len(dom.find("tr", "exclusion-row")) == len(scenario.plan.excluded)
    assert len(dom.find("g", "bar")) == len(scenario.ranking)
    # The hostile card name arrived as text: the browser built no script element from it.
    assert not dom.find("script")
    assert any(SCRIPT_NAME in r["text"] for r in rows)


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
    _run(page, tmp_path / "profile", f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--screenshot={shot}")
    data = shot.read_bytes()
    assert _png_size(data) == WINDOW
    assert len(data) > 50_000
    with Image.open(shot) as im:
        rgb = im.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20)
        # The chart's green bars (#2a7f62) were painted; the page is not blank.
        assert any(max(abs(a - b) for a, b in zip(c, (42, 127, 98))) <= 4 and n > 1000 for n, c in colours)
        non_white = sum(n for n, c in colours if c != (255, 255, 255))
    assert len(colours) > 50 and non_white > 0.05 * WINDOW[0] * WINDOW[1]
