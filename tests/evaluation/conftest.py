from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from transfer_helpers import make_study  # noqa: E402

from secfp.evaluation.study import TransferStudy, load_transfer_study  # noqa: E402


@pytest.fixture
def tiny_path(tmp_path: Path) -> Path:
    return make_study(tmp_path / "study")


@pytest.fixture
def tiny_study(tiny_path: Path) -> TransferStudy:
    return load_transfer_study(tiny_path)
