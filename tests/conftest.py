"""Shared test setup: repository on sys.path, quiet TensorFlow, the real-data folder."""
import os
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tools"))  # convert_quickdraw, export, reproduce, ...
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


# The tiny model of the training tests: trains in seconds on the demo data.
TINY = ("enc_rnn_size=8,dec_rnn_size=16,z_size=8,hyper_num_units=16,hyper_embedding_size=4,"
        "num_per_category=60,batch_size=20,save_every=1")
# Two demo categories: 120 training sketches = 6 steps per epoch of 20.
TWO = f"{TINY},categories=[face,house]"


def run_tiny(log_root, extra="", resume=False, data_dir=None, minutes=10.0):
    """train.run of TINY (on the demo data, or TWO on `data_dir`) with `extra` hparams."""
    import train

    text = f"{TINY if data_dir is None else TWO},{extra}".strip(",")
    return train.run(text, data_dir, str(log_root), resume, data_dir is None, verbose=0,
                     checkpoint_minutes=minutes)


@pytest.fixture(scope="session")
def tiny_trained(tmp_path_factory):
    """(log_root, history) of one 15-step TINY run (one epoch, one validation), shared by the session."""
    root = tmp_path_factory.mktemp("tiny_trained") / "run"
    return root, run_tiny(root, "num_steps=15")


@pytest.fixture
def tiny_trained_copy(tiny_trained, tmp_path):
    """(copy of the tiny run's folder, its history): each test may change its own copy."""
    import shutil

    root, history = tiny_trained
    copy = tmp_path / "run"
    shutil.copytree(root, copy)
    return copy, history


def strokes_of(lengths, seed=0):
    """A float32 stroke-3 sketch with strokes of the given lengths (normalised units)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = np.zeros((sum(lengths), 3), np.float32)
    out[:, :2] = rng.normal(0, 0.3, (len(out), 2))
    out[np.cumsum(lengths) - 1, 2] = 1
    return out
