"""Shared test setup: repository on sys.path, quiet TensorFlow, the real-data folder."""
import os
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
# The real sketch files bundled with the repository (data/README.md).
REAL_DATA = os.path.join(REPO, "data")
SHARED_DATA = REAL_DATA  # old name, kept for tests written before data/ existed


@pytest.fixture
def real_data() -> str:
    """Path of the repository's data/ folder (always present: it is committed)."""
    return REAL_DATA


@pytest.fixture
def shared_data(real_data: str) -> str:
    """Alias of `real_data` for tests that still use the old name."""
    return real_data


def pytest_configure(config):
    """Register the `slow` marker (tests of a minute or more; they still run in `make test`)."""
    config.addinivalue_line("markers", "slow: a test of about a minute or more (still part of make test)")
