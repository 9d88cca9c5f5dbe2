"""pretrained/quickdraw4: the shipped model loads and draws without any training."""
import os

import numpy as np

import safe_npz
import sample_abs
import utils
from conftest import REPO

PRETRAINED = os.path.join(REPO, "pretrained", "quickdraw4")


def canvas(data_dir: str, categories: list) -> np.ndarray:
    """Width and height (QuickDraw units) of the box that holds every test sketch of the categories."""
    extents = [np.ptp(np.cumsum(np.asarray(s[:, :2], np.float64), axis=0), axis=0)
               for c in categories for s in safe_npz.read_npz(os.path.join(data_dir, c + ".npz"))["test"]]
    return np.max(extents, axis=0)


def test_shipped_model_draws_finite_finished_sketches_that_fit_the_canvas(real_data):
    """One test sketch per category, encoded and redrawn (temperature 0.24, seeded)."""
    generator = sample_abs.SketchGenerator(PRETRAINED)
    hps = generator.hps
    assert hps.categories == ["pig", "face", "radio", "alarm clock"]
    sketches = sample_abs.load_test_sketches(real_data, hps.categories, 1, hps, generator.scale_factor)
    seqs, lengths = generator.generate(generator.encode([s[0] for s in sketches]), greedy=False,
                                       temperature=0.24, seed=0)
    assert len(seqs) == 4
    box = canvas(real_data, hps.categories)
    for seq, length in zip(seqs, lengths):
        assert length < hps.max_seq_len  # the sketch ended
        points = utils.five_to_points(seq)
        assert len(points) == length > 1 and np.all(np.isfinite(points))
        extent = np.ptp(points[:, :2], axis=0) * generator.scale_factor
        assert np.all(extent <= box), (extent, box)


def test_shipped_folder_holds_inference_files_only_under_30_mb():
    # Issue 13 asked for under 10 MB (the 128-unit model: 9.4 MB). Issue 18 moved the `small` preset to a
    # 256-unit encoder and had the model repacked at that size: 24.4 MB, weights only; 30 MB leaves room.
    names = []
    for folder, _, files in os.walk(PRETRAINED):
        names += [os.path.join(folder, f) for f in files]
    assert sum(os.path.getsize(n) for n in names) < 30 * 2 ** 20
    assert os.path.isfile(os.path.join(PRETRAINED, "classifier", "classifier.json"))
    assert not [n for n in names if "resume" in n or "tensorboard" in n]
