"""Headless Chromium for report tests: dump the DOM, take a screenshot, measure the layout at a window width.

CI installs Debian's ``chromium`` (see ``.ci/run``); a missing browser fails the test
rather than skipping it, so the check can never silently stop running.

The report forbids scripts (``default-src 'none'``), so :func:`measure_layout` renders
a *copy* of the page whose policy also allows one inline script, appended at the end of
``<body>``, that writes the page's measured widths into a ``<pre id="layout-probe">``;
``--dump-dom`` then returns them. The copy differs from the report only in that meta
tag and that script, so the layout measured is the report's.
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

TIMEOUT_S = 90

_PROBE = """<script>(function () {
  var d = document.documentElement, wide = [];
  document.querySelectorAll('body *').forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (r.right > innerWidth + 1 && wide.length < 8) { wide.push(el.tagName + '.' + el.className + ' ' + Math.round(r.right)); }
  });
  var host = parent.document, pre = host.createElement('pre');
  host.getElementById('frame').style.height = d.scrollHeight + 'px';
  pre.id = 'layout-probe';
  pre.textContent = JSON.stringify({inner: innerWidth, scroll: d.scrollWidth, client: d.clientWidth,
                                    height: d.scrollHeight, wide: wide});
  host.body.appendChild(pre);
})();</script>"""

#: Chromium does not make a window narrower than this; narrower pages are laid out in an iframe.
MIN_WINDOW = 500


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("headless Chromium is not installed (no 'chromium' on PATH). The HTML report test needs it: "
                "run .ci/run, or install it with 'apt-get install -y chromium chromium-driver' (Debian).")


def run(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    args = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--hide-scrollbars", f"--user-data-dir={profile}", *extra, page.as_uri()]
    try:
        done = subprocess.run(args, capture_output=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish within {TIMEOUT_S} s: {' '.join(args)}")
    assert done.returncode == 0, f"chromium exited {done.returncode}: {done.stderr.decode(errors='replace')[-2000:]}"
    return done


def dump_dom(page: Path, profile: Path, *, width: int = 1280) -> str:
    return run(page, profile, f"--window-size={width},900", "--dump-dom").stdout.decode("utf-8")


def screenshot(page: Path, profile: Path, out: Path, *, width: int, height: int) -> Path:
    run(page, profile, f"--window-size={width},{height}", f"--screenshot={out}")
    return out


def measure_layout(page: Path, profile: Path, *, width: int, shot: Path | None = None,
                   height: int = 2400) -> dict[str, Any]:
    """The page's widths when its viewport is ``width`` px: ``inner``, ``scroll``, ``client``, ``height`` and
    the elements that stick out on the right; with ``shot``, also a PNG of the top ``height`` px.

    The report is shown in an ``<iframe srcdoc>`` exactly ``width`` px wide (its viewport, so
    its media queries see that width: Chromium's own window cannot be narrower than 500 px);
    a copy of the report whose policy allows one inline script measures itself from inside.
    """
    text = page.read_text(encoding="utf-8")
    start = text.index('<meta http-equiv="Content-Security-Policy"')
    end = text.index(">", start) + 1
    relaxed = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; " \
              "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
    probed = text[:start] + relaxed + text[end:].replace("</body>", _PROBE + "</body>")
    wrapper = page.with_name(page.stem + f".at-{width}px.html")
    wrapper.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><style>body { margin: 0; background: #fff; } '
        "iframe { border: 0; display: block; }</style></head><body>"
        f'<iframe id="frame" width="{width}" height="{height}" srcdoc="{html.escape(probed, quote=True)}"></iframe>'
        "</body></html>", encoding="utf-8")
    window = f"--window-size={max(width, MIN_WINDOW)},{height}"
    dom = run(wrapper, profile, window, "--dump-dom").stdout.decode("utf-8")
    marker = '<pre id="layout-probe">'
    if marker not in dom:
        pytest.fail(f"the layout probe did not run at {width} px")
    start = dom.index(marker) + len(marker)
    layout = json.loads(html.unescape(dom[start:dom.index("</pre>", start)]))
    if shot is not None:
        from PIL import Image

        raw = shot.with_name(shot.stem + ".window.png")
        run(wrapper, profile, window, f"--screenshot={raw}")
        with Image.open(raw) as im:
            im.crop((0, 0, width, min(height, im.size[1]))).save(shot)
        raw.unlink()
    return layout


class TextOutsideDetails(HTMLParser):
    """Visible text and non-``data-*`` attribute values outside every ``<details>`` element."""

    VOID = {"meta", "br", "link", "img", "input", "hr", "source", "wbr"}

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.skip = 0
        self.parts: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "details":
            self.depth += 1
        if tag in ("style", "script", "title"):
            self.skip += 1
        if self.depth == 0 and tag not in ("meta",):
            self.parts += [v or "" for k, v in attrs if not k.startswith("data-") and k not in ("id", "class")]

    def handle_endtag(self, tag: str) -> None:
        if tag == "details":
            self.depth -= 1
        if tag in ("style", "script", "title"):
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if self.depth == 0 and self.skip == 0:
            self.parts.append(data)

    @property
    def text(self) -> str:
        return "\n".join(self.parts)
