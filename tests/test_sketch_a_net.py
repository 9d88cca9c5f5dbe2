"""Sketch-a-Net: model shapes, learning, the train and evaluate CLIs and their errors."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import utils
from sketch_a_net.evaluate import RecError, evaluate_rec, load_classifier
from sketch_a_net.model import CPU_WIDTH, PAPER_WIDTHS, SketchANet, layer_widths
from sketch_a_net.raster import rasterize_many
from sketch_a_net.train import augment_points, make_train_step, parse_categories, train_classifier

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Names with a space, as QuickDraw's 'alarm clock'; deliberately not alphabetical.
CATEGORIES = ["ring", "cross mark"]


def _ring(rng: np.random.Generator) -> np.ndarray:
    """Absolute points of a jittered closed polygon (one stroke)."""
    n = int(rng.integers(10, 18))
    t = np.linspace(0, 2 * np.pi, n) + rng.uniform(0, 2 * np.pi)
    r = rng.uniform(20, 60)
    xy = np.stack([np.cos(t) * r * rng.uniform(0.8, 1.2), np.sin(t) * r], 1)
    return np.concatenate([xy + rng.normal(0, 1.5, xy.shape), (np.arange(n) == n - 1)[:, None]], 1)


def _cross(rng: np.random.Generator) -> np.ndarray:
    """Absolute points of a jittered X (two strokes of two points)."""
    s = rng.uniform(30, 90)
    xy = np.array([[0, 0], [s, s], [s, 0], [0, s]]) + rng.normal(0, 3, (4, 2))
    return np.concatenate([xy, np.array([[0], [1], [0], [1]])], 1)


def _stroke3(points: np.ndarray) -> np.ndarray:
    """Absolute float points -> int16 stroke-3, as in the sketch-rnn files."""
    pts = np.round(points).astype(np.int64)
    return np.concatenate([np.diff(pts[:, :2], axis=0, prepend=0), pts[:, 2:]], 1).astype(np.int16)


def _write_npz(data_dir: str, rng: np.random.Generator, n_train: int, n_other: int) -> None:
    """Write one sketch-rnn style .npz per synthetic category."""
    for name, draw in zip(CATEGORIES, (_ring, _cross)):
        splits = {}
        for split, n in (("train", n_train), ("valid", n_other), ("test", n_other)):
            arr = np.empty(n, dtype=object)
            arr[:] = [_stroke3(draw(rng)) for _ in range(n)]
            splits[split] = arr
        np.savez(os.path.join(data_dir, name + ".npz"), **splits)


def _run(args, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    return subprocess.run([sys.executable, "-m"] + args, cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, **kw)


def _write_samples(sample_dir: str, data_dir: str, meta_categories) -> int:
    """Write the test sketches as the sampler would: s_<c>_<i>.npy + sample_meta.json."""
    os.makedirs(sample_dir, exist_ok=True)
    data = utils.load_dataset(data_dir, CATEGORIES)
    for k, (strokes, label) in enumerate(zip(data.test.strokes, data.test.labels)):
        c = meta_categories.index(CATEGORIES[label])
        seq = utils.to_five(utils.to_absolute(strokes), data.max_seq_len)[1:]  # drop S0
        np.save(os.path.join(sample_dir, f"s_{c}_{k}.npy"), seq)
    with open(os.path.join(sample_dir, "sample_meta.json"), "w") as f:
        json.dump({"categories": list(meta_categories)}, f)
    return len(data.test.labels)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(data_dir, classifier_dir, train stdout): the train CLI run once on synthetic data."""
    root = tmp_path_factory.mktemp("san")
    data_dir, out = str(root / "data"), str(root / "clf")
    os.makedirs(data_dir)
    _write_npz(data_dir, np.random.default_rng(0), n_train=96, n_other=24)
    proc = _run(["sketch_a_net.train", "--data_dir", data_dir, "--categories", ",".join(CATEGORIES),
                 "--out", out, "--epochs", "3", "--batch_size", "16", "--width_multiplier", "0.125"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    return data_dir, out, proc.stdout


# ------------------------------------------------------------------ model

def test_widths_scale_the_paper_widths():
    assert layer_widths(1.0) == PAPER_WIDTHS
    assert layer_widths(CPU_WIDTH) == (16, 32, 64, 64, 64, 128, 128)
    with pytest.raises(ValueError):
        layer_widths(0.0)


def test_model_maps_48x48_images_to_logits():
    model = SketchANet(5, width_multiplier=0.25)
    assert model(np.zeros((3, 48, 48), np.float32)).shape == (3, 5)
    assert model(np.zeros((2, 48, 48, 1), np.float32)).shape == (2, 5)
    paper = SketchANet(7, width_multiplier=1.0)
    shapes = [tuple(k.shape) for k in paper.kernels]
    assert shapes == [(5, 5, 1, 64), (3, 3, 64, 128), (3, 3, 128, 256), (3, 3, 256, 256),
                      (3, 3, 256, 256), (6, 6, 256, 512), (1, 1, 512, 512), (1, 1, 512, 7)]
    assert paper(np.zeros((1, 48, 48), np.float32)).shape == (1, 7)
    with pytest.raises(ValueError):
        SketchANet(3, image_size=50)


def test_dropout_only_in_training():
    model = SketchANet(4, width_multiplier=0.125, seed=1)
    x = np.random.default_rng(0).random((4, 48, 48)).astype(np.float32)
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())
    tf.random.set_seed(0)
    assert not np.allclose(model(x, training=True).numpy(), model(x, training=True).numpy())


def test_few_training_steps_decrease_the_loss():
    rng = np.random.default_rng(0)
    pts, labels = [], []
    for i in range(256):  # class 0: ring, class 1: cross
        pts.append(_ring(rng) if i % 2 == 0 else _cross(rng))
        labels.append(i % 2)
    images, labels = rasterize_many(pts), np.array(labels, np.int32)
    tf.random.set_seed(0)
    model = SketchANet(2, width_multiplier=0.125, seed=0)
    step = make_train_step(model, tf.keras.optimizers.Adam(1e-3))
    losses = [float(step(images[i:i + 32], labels[i:i + 32])[0])
              for _ in range(3) for i in range(0, 256, 32)]
    assert np.mean(losses[-4:]) < 0.6 * np.mean(losses[:4]), losses


# -------------------------------------------------------------- training

def test_parse_categories_keeps_spaces():
    assert parse_categories("pig, alarm clock ,The Great Wall") == ["pig", "alarm clock",
                                                                    "The Great Wall"]
    for bad in ("", "pig,,bee", " , "):
        with pytest.raises(ValueError):
            parse_categories(bad)


def test_augment_points_keeps_pen_and_changes_geometry():
    rng = np.random.default_rng(0)
    pts = _cross(rng)
    out = augment_points(pts, rng)
    np.testing.assert_array_equal(out[:, 2], pts[:, 2])
    assert not np.allclose(out[:, :2], pts[:, :2])
    # A linear map: the origin's image is the origin, midpoints stay midpoints.
    mid = augment_points(np.concatenate([pts, [[0, 0, 0]], [(pts[0] + pts[1]) / 2]]),
                         np.random.default_rng(5))
    np.testing.assert_allclose(mid[-2, :2], 0, atol=1e-5)
    np.testing.assert_allclose(mid[-1, :2], (mid[0, :2] + mid[1, :2]) / 2, atol=1e-3)


def test_train_cli_writes_checkpoint_config_and_logs(trained):
    _, out, stdout = trained
    with open(os.path.join(out, "classifier.json")) as f:
        config = json.load(f)
    assert config["categories"] == CATEGORIES
    assert config["image_size"] == 48 and config["width_multiplier"] == 0.125
    assert config["num_train"] == 192 and config["num_valid"] == 48
    assert 1 <= config["best_epoch"] <= 3
    assert os.path.exists(os.path.join(out, config["checkpoint"] + ".index"))
    assert os.listdir(os.path.join(out, "logs"))
    assert len(re.findall(r"- val_acc: [01]\.\d{4}", stdout)) == 3  # one per epoch
    # The recorded accuracy is that of the saved weights on the validation split.
    data = utils.load_dataset(os.path.dirname(out) + "/data", CATEGORIES)
    clf = load_classifier(out)
    pred = clf.classify([utils.to_absolute(s) for s in data.valid.strokes])
    assert np.mean(pred == data.valid.labels) == pytest.approx(config["val_accuracy"])
    assert config["val_accuracy"] >= 0.8  # ring vs cross is easy


# -------------------------------------------------------------- evaluate

def test_evaluate_cli_round_trip(trained, tmp_path):
    data_dir, out, _ = trained
    # Reversed order in the sampler's list: labels must go through the names.
    n = _write_samples(str(tmp_path), data_dir, CATEGORIES[::-1])
    proc = _run(["sketch_a_net.evaluate", "--classifier", out, str(tmp_path)])
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = re.search(r"^Rec: (\d\.\d{4})$", proc.stdout, re.M)
    assert m, proc.stdout
    with open(tmp_path / "rec.json") as f:
        rec = json.load(f)
    assert rec["n"] == n == 48 and rec["chance"] == 0.5
    assert float(m.group(1)) == pytest.approx(rec["rec"], abs=5e-5)
    assert rec["rec"] >= 0.8
    assert set(rec["per_category"]) == set(CATEGORIES)
    mean = np.mean([rec["per_category"][c] for c in CATEGORIES])  # 24 of each
    assert mean == pytest.approx(rec["rec"])


def test_evaluate_rec_matches_direct_classification(trained, tmp_path):
    data_dir, out, _ = trained
    _write_samples(str(tmp_path), data_dir, CATEGORIES)
    result = evaluate_rec(out, str(tmp_path), write=False)
    assert not (tmp_path / "rec.json").exists()
    data = utils.load_dataset(data_dir, CATEGORIES)
    pred = load_classifier(out).classify([utils.to_absolute(s) for s in data.test.strokes])
    assert result["rec"] == pytest.approx(np.mean(pred == data.test.labels))


def test_evaluate_errors(trained, tmp_path):
    data_dir, out, _ = trained
    with pytest.raises(RecError, match="no classifier.json"):
        load_classifier(str(tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "sample_meta.json").write_text(json.dumps({"categories": CATEGORIES}))
    with pytest.raises(RecError, match=r"no generated sketches s_<c>_<i>\.npy"):
        evaluate_rec(out, str(empty))
    other = tmp_path / "other"
    _write_samples(str(other), data_dir, CATEGORIES)
    (other / "sample_meta.json").write_text(json.dumps({"categories": ["pig", "ring"]}))
    with pytest.raises(RecError) as err:
        evaluate_rec(out, str(other))
    msg = str(err.value)
    assert "['ring', 'cross mark']" in msg and "['pig', 'ring']" in msg and "\n" not in msg
    os.remove(other / "sample_meta.json")
    with pytest.raises(RecError, match="sample_meta.json"):
        evaluate_rec(out, str(other))


def test_evaluate_cli_error_is_one_line(tmp_path):
    proc = _run(["sketch_a_net.evaluate", "--classifier", str(tmp_path), str(tmp_path)])
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {tmp_path}: no classifier.json (train one with "
                      f"python -m sketch_a_net.train)"]


def test_train_classifier_rejects_empty_validation(tmp_path):
    with pytest.raises(ValueError, match="validation"):
        train_classifier([_ring(np.random.default_rng(0))], [0], [], [], ["ring"], str(tmp_path))
