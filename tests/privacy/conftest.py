"""Fixtures of the privacy tests."""

from __future__ import annotations

import pytest
from dp_helpers import make_spec

from secfp.fingerprint.spec import FingerprintSpec


@pytest.fixture
def small_spec() -> FingerprintSpec:
    return make_spec(features=16, bins=20)
