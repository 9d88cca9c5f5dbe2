"""Rec: accuracy of the Sketch-a-Net classifier on generated sketches.

    python -m sketch_a_net.evaluate --classifier DIR SAMPLE_DIR

SAMPLE_DIR holds the sampler's ``s_<c>_<i>.npy`` (absolute 5-D sequences
``[T, 5]``) and ``sample_meta.json`` (``{"categories": [...]}``; ``c`` indexes
that list). Each sequence is rendered with the classifier's own rasteriser
settings and classified; prints ``Rec: x`` and writes SAMPLE_DIR/rec.json
(recorded in the folder's manifest; a rec.json sketchgloc did not write is
never replaced). The sample folder and its output are checked before the
classifier is built.
"""
import dataclasses
import json
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np
import tensorflow as tf

import errors
import fileio
from sample_files import META_NAME, REC_NAME, seq_files
import utils
from sketch_a_net.model import SketchANet
from sketch_a_net.raster import rasterize_many
from sketch_a_net.train import CONFIG_NAME, predict


class RecError(errors.UserError, ValueError):
    """A bad classifier or sample folder; the message is one line naming it."""


@dataclasses.dataclass
class Classifier:
    """A trained Sketch-a-Net with the settings it was trained under."""

    model: SketchANet
    config: Dict

    @property
    def categories(self) -> List[str]:
        """Category names in label order."""
        return list(self.config["categories"])

    def render(self, points: Sequence[np.ndarray]) -> np.ndarray:
        """Rasterise absolute [N, 3] sketches exactly as the training images were."""
        c = self.config
        return rasterize_many(points, c["image_size"], c["margin"], c["line_width"])

    def classify(self, points: Sequence[np.ndarray]) -> np.ndarray:
        """Return the predicted label of every absolute [N, 3] sketch."""
        return predict(self.model, self.render(points))


def check_classifier(classifier_dir: str) -> Dict:
    """The config of a classifier folder whose weights exist; RecError otherwise (nothing is built)."""
    path = os.path.join(classifier_dir, CONFIG_NAME)
    if not os.path.isfile(path):
        raise RecError(f"{classifier_dir}: no {CONFIG_NAME} (train one with "
                       f"python -m sketch_a_net.train)")
    try:
        with open(path) as f:
            config = json.load(f)
        ckpt_path = os.path.join(classifier_dir, config["checkpoint"])
        list(config["categories"]), float(config["width_multiplier"]), int(config["image_size"])
    except (ValueError, KeyError, TypeError) as e:
        raise RecError(f"{path}: unreadable classifier config ({e!r})") from None
    if not tf.io.gfile.exists(ckpt_path + ".index"):
        raise RecError(f"{classifier_dir}: checkpoint {config['checkpoint']} is missing")
    return config


def load_classifier(classifier_dir: str) -> Classifier:
    """Rebuild the classifier saved by sketch_a_net.train in classifier_dir."""
    config = check_classifier(classifier_dir)
    try:
        model = SketchANet(len(config["categories"]), config["width_multiplier"],
                           config["image_size"])
    except (ValueError, TypeError) as e:
        raise RecError(f"{os.path.join(classifier_dir, CONFIG_NAME)}: unreadable classifier "
                       f"config ({e!r})") from None
    tf.train.Checkpoint(model=model).read(os.path.join(classifier_dir, config["checkpoint"])).expect_partial()
    return Classifier(model, config)


def read_samples(sample_dir: str) -> Tuple[List[str], List[Tuple[int, int, np.ndarray]]]:
    """Return the sample categories and (c, i, seq [T, 5]) for every s_<c>_<i>.npy, sorted."""
    found = [(c, i, path) for (c, i), path in seq_files(sample_dir).items()]
    if not found:
        raise RecError(f"{sample_dir}: no generated sketches s_<c>_<i>.npy")
    meta_path = os.path.join(sample_dir, META_NAME)
    try:
        with open(meta_path) as f:
            categories = list(json.load(f)["categories"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RecError(f"{meta_path}: cannot read the sample categories ({e!r})") from None
    samples = []
    for c, i, path in sorted(found):
        if c >= len(categories):
            raise RecError(f"{path}: category index {c} but {META_NAME} lists "
                           f"{len(categories)} categories")
        try:
            seq = utils.load_five(path)
        except utils.DataError as err:
            raise RecError(str(err)) from None
        samples.append((c, i, seq))
    return categories, samples


def check_output(sample_dir: str) -> None:
    """RecError unless rec.json can be written: a writable folder, no rec.json of the user's."""
    problem = fileio.own_file_problem(sample_dir, REC_NAME)
    if problem:
        raise RecError(problem)


def evaluate_rec(classifier_dir: str, sample_dir: str, write: bool = True) -> Dict:
    """Classify the generated sketches of sample_dir; return (and write) the Rec summary."""
    known = list(check_classifier(classifier_dir)["categories"])
    categories, samples = read_samples(sample_dir)
    if sorted(categories) != sorted(known):
        raise RecError(f"classifier {classifier_dir} was trained on {known} but the samples "
                       f"in {sample_dir} are of {categories}")
    if write:
        check_output(sample_dir)
    classifier = load_classifier(classifier_dir)  # the first TensorFlow work: inputs are known good
    # Labels go through the names so that a different order still matches.
    truth = np.array([known.index(categories[c]) for c, _, _ in samples])
    pred = classifier.classify([utils.five_to_points(seq) for _, _, seq in samples])
    hit = pred == truth
    per_category, per_category_n = {}, {}
    for k, name in enumerate(known):
        mask = truth == k
        if mask.any():
            per_category[name] = float(hit[mask].mean())
            per_category_n[name] = int(mask.sum())
    result = {"rec": float(hit.mean()), "n": int(len(hit)), "per_category": per_category,
              "per_category_n": per_category_n, "chance": 1.0 / len(known),
              "categories": known, "classifier": os.path.abspath(classifier_dir)}
    if write:
        fileio.write_own_json(sample_dir, REC_NAME, result)
    return result


def define_flags(fv=None) -> None:
    """Register the CLI flags in `fv` (absl's FLAGS by default; only when run as a script)."""
    from absl import flags

    fv = flags.FLAGS if fv is None else fv
    flags.DEFINE_string("classifier", None, "folder written by sketch_a_net.train", flag_values=fv)
    flags.mark_flag_as_required("classifier", flag_values=fv)


@errors.guarded
def main(argv: List[str]) -> None:
    """CLI: print Rec for one sample folder; `error: ...` and exit 1 (2: bad command line) on a user error."""
    from absl import flags

    if len(argv) != 2:
        raise errors.UsageError("usage: python -m sketch_a_net.evaluate --classifier DIR SAMPLE_DIR")
    result = evaluate_rec(flags.FLAGS.classifier, argv[1])
    print(f"Rec: {result['rec']:.4f}")
    print(f"n: {result['n']}  chance: {result['chance']:.4f}  " + "  ".join(
        f"{name}: {acc:.4f}" for name, acc in result["per_category"].items()))


if __name__ == "__main__":
    import cli

    define_flags()
    cli.run_absl(main)
