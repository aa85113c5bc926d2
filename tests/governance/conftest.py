"""Fixtures for tests/governance (helpers live in gov_helpers.py, importable by name)."""

from __future__ import annotations

import pytest
from gov_helpers import EXPORT_TOML, IMPORT_TOML, policy_from

from secfp.governance import Policy


@pytest.fixture
def export_policy() -> Policy:
    return policy_from(EXPORT_TOML)


@pytest.fixture
def import_policy() -> Policy:
    return policy_from(IMPORT_TOML)
