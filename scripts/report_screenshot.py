"""Render the README's screenshot of the HTML report with headless Chromium.

The report is the one ``make demo`` writes (``examples/walkthrough.sh``); the picture is
the top of the page at a desktop width, so it shows what a reader sees first: the
recommendation per scenario, then how close each source is.

Run:  make demo && python scripts/report_screenshot.py
      python scripts/report_screenshot.py --report PATH.html --out docs/report.png --width 1280 --height 1500

Needs Debian's ``chromium`` (or ``chromium-browser``) on PATH and Pillow (a test dependency).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REPORT = REPO / "demo-out" / "walkthrough" / "newcomer" / "report.html"
DEFAULT_OUT = REPO / "docs" / "report.png"


def screenshot(report: Path, out: Path, *, width: int, height: int) -> None:
    """Chromium renders ``report`` in a ``width`` x ``height`` window; the PNG is written to ``out``."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("report_screenshot: no 'chromium' on PATH (Debian: apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "shot.png"
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-extensions",
                        f"--user-data-dir={tmp}/profile", f"--window-size={width},{height}",
                        f"--screenshot={raw}", report.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
        from PIL import Image

        with Image.open(raw) as im:
            # A palette PNG is a fraction of the size and looks the same for a page of flat colours.
            im.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT, help="the HTML report (default: make demo's)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the PNG to write (default: docs/report.png)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1500)
    args = parser.parse_args()
    if not args.report.is_file():
        sys.exit(f"report_screenshot: {args.report} does not exist; run 'make demo' first")
    screenshot(args.report, args.out, width=args.width, height=args.height)
    print(f"wrote {args.out} ({args.width} x {args.height}) from {args.report}")


if __name__ == "__main__":
    main()
