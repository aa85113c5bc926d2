"""Fixtures of the CLI contract tests (helpers live in ``cli_site.py``: conftest modules share one name)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_site import site  # noqa: E402,F401  (the fixture)
