"""Shared test setup: repository on sys.path, quiet TensorFlow, the real-data folder."""
import os
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
SHARED_DATA = os.path.join(REPO, "..", "shared", "data")


@pytest.fixture
def shared_data() -> str:
    """Path of ../shared/data; skips the test when it is absent."""
    if not os.path.exists(os.path.join(SHARED_DATA, "aaron_sheep.npz")):
        pytest.skip("../shared/data is not beside the repository")
    return SHARED_DATA


def pytest_configure(config):
    """Register the `slow` marker (tests of a minute or more; they still run in `make test`)."""
    config.addinivalue_line("markers", "slow: a test of about a minute or more (still part of make test)")
