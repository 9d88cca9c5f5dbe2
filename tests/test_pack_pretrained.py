"""tools/pack_pretrained.py: a training folder reduced to what inference needs, loadable like the original."""
import os

import numpy as np
import pytest
import tensorflow as tf

import inference
import pack_pretrained
import train
import utils
from sketch_a_net.evaluate import load_classifier
from sketch_a_net.raster import rasterize_many
from sketch_a_net.train import train_classifier


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory) -> str:
    """A Sketch-a-Net trained for one epoch on 40 demo sketches (its accuracy does not matter)."""
    _, demo_dir = train.resolve("", None, True)
    data = utils.load_dataset(demo_dir, ["face", "house"], num_per_category=20)
    out = str(tmp_path_factory.mktemp("classifier"))
    train_classifier([utils.to_absolute(s) for s in data.train.strokes], data.train.labels,
                     [utils.to_absolute(s) for s in data.valid.strokes], data.valid.labels,
                     ["face", "house"], out, epochs=1, batch_size=20, verbose=0)
    return out


def variables(prefix: str) -> dict:
    """Every saved value of a checkpoint, by name."""
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name, _ in tf.train.list_variables(prefix)}


def test_pack_keeps_the_model_weights_and_drops_the_optimizer(tiny_trained, classifier_dir, tmp_path):
    run = str(tiny_trained[0])
    out = str(tmp_path / "packed")
    assert pack_pretrained.pack(run, out, classifier_dir) == out
    best = inference.load_model(run)[3]
    packed = tf.train.latest_checkpoint(out)
    assert os.path.basename(packed) == os.path.basename(best)
    kept = variables(packed)
    assert not [n for n in kept if n.startswith("optimizer") or ".OPTIMIZER_SLOT" in n]
    # (The training checkpoint files some weights under the optimizer's path, so compare restored values.)
    models = [inference.load_model(folder)[0] for folder in (run, out)]
    saved = [n for n in kept if n.startswith("model/")]
    assert len(models[1].variables) == len(models[0].variables) == len(saved)
    for original, packed_variable in zip(models[0].variables, models[1].variables):
        np.testing.assert_array_equal(original.numpy(), packed_variable.numpy())
    data = ".data-00000-of-00001"
    assert os.path.getsize(packed + data) < os.path.getsize(best + data) / 2  # Adam's moments are gone
    # Loaded like a training folder, the packed model gives the same codes.
    sketch = [np.array([[0.5, 0.1, 0], [0.2, 0.4, 1], [-0.3, 0.2, 1]], np.float32)]
    codes = [inference.SketchEncoder(model).encode(sketch) for model in models]
    np.testing.assert_array_equal(codes[0], codes[1])


def test_packed_classifier_predicts_like_the_trained_one(tiny_trained, classifier_dir, tmp_path):
    out = tmp_path / "packed"
    pack_pretrained.pack(str(tiny_trained[0]), str(out), classifier_dir)
    rng = np.random.default_rng(0)
    images = rasterize_many([np.cumsum(rng.normal(0, 5, (12, 3)) * [1, 1, 0], 0) for _ in range(6)], 48)
    logits = [load_classifier(d).model(images, training=False).numpy()
              for d in (classifier_dir, str(out / pack_pretrained.CLASSIFIER_DIR))]
    np.testing.assert_array_equal(logits[0], logits[1])


def test_pack_refuses_a_folder_it_did_not_write_and_replaces_its_own(tiny_trained, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(pack_pretrained.PackError, match="not written by this tool"):
        pack_pretrained.pack(str(tiny_trained[0]), str(mine))
    assert (mine / "notes.txt").read_text() == "keep me"
    out = str(tmp_path / "packed")
    pack_pretrained.pack(str(tiny_trained[0]), out)
    pack_pretrained.pack(str(tiny_trained[0]), out)  # a second pack into its own folder
    assert len([n for n in os.listdir(out) if n.endswith(".index")]) == 1
