"""The pool tests' fixtures, defined in :mod:`pool_helpers` (a module name no other test folder uses)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pool_helpers import real_fps, world  # noqa: E402,F401  (fixtures)
