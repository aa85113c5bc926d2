from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from transfer_helpers import make_study, real_study_path  # noqa: E402

from secfp.knowledge.transfer_data import TransferStudy, load_transfer_study  # noqa: E402


@pytest.fixture(scope="session")
def real_study() -> TransferStudy:
    """The study's published development split, loaded once.

    It lives in the project's shared data (``../shared/data/paper-transfer-dev``, placed
    beside every checkout and CI clone); a missing folder is a failure, never a skip.
    """
    path = real_study_path()
    if not (path / "tasks.csv").is_file():
        pytest.fail(f"transfer study data not found at {path}: put the project's shared/ folder beside the "
                    "checkout or set SECFP_TRANSFER_DATA")
    return load_transfer_study(path)


@pytest.fixture
def tiny_path(tmp_path: Path) -> Path:
    return make_study(tmp_path / "study")


@pytest.fixture
def tiny_study(tiny_path: Path) -> TransferStudy:
    return load_transfer_study(tiny_path)
