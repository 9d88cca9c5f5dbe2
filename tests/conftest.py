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
    """Register the `slow` marker (tests of half a minute or more; they still run in `make test`)."""
    config.addinivalue_line("markers",
                            "slow: a test of half a minute or more (run first; still part of make test)")


def pytest_collection_modifyitems(session, config, items):
    """Slow tests first: the two workers of `make test` then overlap them with the many short ones
    instead of finishing on one long test while the other worker idles."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: order kept otherwise


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


def folder_digest(folder) -> dict:
    """{relative path: sha256} of every file under folder (to show that nothing was touched)."""
    import hashlib

    out = {}
    for base, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(base, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return out


@pytest.fixture(scope="session")
def tiny_trained(tmp_path_factory):
    """(log_root, history) of one 15-step TINY run (one epoch, one validation), shared by the session.

    The session's only tiny model for tests that read one; a test that changes the folder
    takes tiny_trained_copy. At the end of the session the folder must be as trained.
    """
    root = tmp_path_factory.mktemp("tiny_trained") / "run"
    history = run_tiny(root, "num_steps=15")
    before = folder_digest(root)
    yield root, history
    assert folder_digest(root) == before, f"a test changed the shared tiny run {root}"


@pytest.fixture(scope="session")
def tiny_run(tiny_trained) -> str:
    """Log root of the session's tiny run, as a string: read it, never change it (use tiny_trained_copy)."""
    return str(tiny_trained[0])


@pytest.fixture(scope="session")
def tiny_best(tiny_trained) -> str:
    """Name (`ckpt-<step>`) of the tiny run's best checkpoint, from its history, not its folder."""
    step, _ = min(tiny_trained[1]["valid"], key=lambda record: record[1])
    return f"ckpt-{step}"


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


def readme_block() -> str:
    """The --hparams block of the README (the line after its marker comment)."""
    readme = open(os.path.join(REPO, "README.md")).read()
    return readme.split("<!-- hparams-block -->")[1].split("```")[1].strip().split('"')[1]


# ---- sketch-rnn style data files (test_utils, test_safe_npz, test_plots) -----------------------

def obj_array(sketches):
    """1-D object array of sketches, as the sketch-rnn files store them."""
    import numpy as np

    arr = np.empty(len(sketches), dtype=object)
    for i, s in enumerate(sketches):
        arr[i] = np.asarray(s)
    return arr


def sketch(n, seed=0, scale=10):
    """A random int16 stroke-3 sketch of n points, pen lifted every 4th point and at the end."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = np.zeros((n, 3), np.int16)
    out[:, :2] = rng.integers(-scale, scale + 1, (n, 2))
    out[3::4, 2] = 1
    out[-1, 2] = 1
    return out


def write_npz(path, train=None, valid=None, test=None, **extra):
    """Write a sketch-rnn style .npz; splits default to a few random sketches."""
    import numpy as np

    splits = {
        "train": train if train is not None else obj_array([sketch(8 + i, i) for i in range(6)]),
        "valid": valid if valid is not None else obj_array([sketch(5, 10), sketch(9, 11)]),
        "test": test if test is not None else obj_array([sketch(7, 20)]),
    }
    splits = {k: v for k, v in splits.items() if not (isinstance(v, str) and v == "omit")}
    np.savez(path, **splits, **extra)
    return str(path)


# ---- model batches (test_model, test_distribute) ----------------------------------------------

def random_sketch(rng, n_points: int):
    """Stroke-3 float32 sketch with a few pen lifts."""
    import numpy as np

    s = np.zeros((n_points, 3), np.float32)
    s[:, :2] = rng.normal(size=(n_points, 2))
    s[rng.choice(n_points, 2, replace=False), 2] = 1
    s[-1, 2] = 1
    return s


def make_batch(hps, seed=0, lengths=(9, 14, 7, 20)):
    """A graph_builder batch of random sketches as tensors (max 25 points, 10 nodes)."""
    import numpy as np
    import tensorflow as tf

    import graph_builder

    rng = np.random.default_rng(seed)
    strokes = [random_sketch(rng, n) for n in lengths]
    batch = graph_builder.build_batch(strokes, np.arange(len(lengths)) % 2, max_points=25,
                                      max_nodes=10, max_seq_len=25, re_scale=0.0, rng=rng)
    return {k: tf.convert_to_tensor(v) for k, v in batch.items()}


# ---- small recurrent cells (test_rnn, test_hyper_backward) ------------------------------------

SMALL_HYPER = dict(hyper_num_units=5, hyper_embedding_size=2)


def small_cell(kind, num_units=4, input_size=3, **kwargs):
    """A hand-sized cell (hyper: 5 hyper units, embedding 2)."""
    import rnn

    params = dict(SMALL_HYPER)
    params.update(kwargs)
    return rnn.make_cell(kind, num_units, input_size, **params)


def rand_state(cell, batch, seed):
    """A uniform(-1, 1) float32 state of the cell for `batch` rows."""
    import numpy as np

    return np.random.RandomState(seed).uniform(-1, 1, (batch, cell.state_size)).astype(np.float32)


def rand_x(batch, dim, seed, steps=None):
    """Normal float32 inputs [batch, dim] (or [batch, steps, dim])."""
    import numpy as np

    shape = (batch, dim) if steps is None else (batch, steps, dim)
    return np.random.RandomState(seed).normal(size=shape).astype(np.float32)


def perturb(cell, seed=0):
    """Give every variable random values so that no term hides behind an init of 0 or 1."""
    import numpy as np

    rs = np.random.RandomState(seed)
    for v in cell.trainable_variables:
        v.assign(rs.normal(0.0, 0.5, v.shape).astype(np.float32))
