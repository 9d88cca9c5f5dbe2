"""Train the Sketch-a-Net classifier behind the Rec metric on real sketches.

    python -m sketch_a_net.train --data_dir D --categories 'pig,alarm clock' --out DIR

The training split trains, the validation split is scored after every epoch.
The weights of the best validation epoch (the latest of equals) are kept (tf.train.CheckpointManager
in DIR), TensorBoard logs go to DIR/logs, and DIR/classifier.json records what
evaluation needs to rebuild the classifier and render exactly as in training.
"""
import math
import os
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

import errors
import fileio
from sketch_a_net.model import CPU_WIDTH, SketchANet, layer_widths
from sketch_a_net.raster import rasterize_many

CONFIG_NAME = "classifier.json"
CHECKPOINT_NAME = "classifier"
IMAGE_SIZE = 48
MARGIN = 1.5
LINE_WIDTH = 1.0
# Stroke-level augmentation: independent x/y stretch and a small rotation
# before the fit, plus a horizontal flip (as the Sketch-a-Net paper flips).
STRETCH = 0.15
ROTATE_DEG = 10.0
# Widths beyond 4x the paper's are no classifier one trains for Rec (and would not fit in memory).
MAX_WIDTH = 4.0


class ClassifierError(errors.UserError, ValueError):
    """Bad categories, data or --out for training the classifier; the message is one line."""


def parse_categories(text: str) -> List[str]:
    """Split a comma list of category names; names may contain spaces."""
    names = [c.strip() for c in text.split(",")]
    if not text.strip() or any(not c for c in names):
        raise ClassifierError(f"bad category list {text!r}: expected names separated by commas")
    return names


def augment_points(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Randomly flip, stretch and rotate an absolute [N, 3] sketch."""
    angle = np.deg2rad(rng.uniform(-ROTATE_DEG, ROTATE_DEG))
    cos, sin = np.cos(angle), np.sin(angle)
    stretch = 1.0 + rng.uniform(-STRETCH, STRETCH, size=2)
    flip = np.array([-1.0 if rng.random() < 0.5 else 1.0, 1.0])
    matrix = np.array([[cos, -sin], [sin, cos]]) * (stretch * flip)[None, :]
    out = np.array(points, dtype=np.float32)
    out[:, :2] = points[:, :2] @ matrix.T
    return out


def render(points: Sequence[np.ndarray], rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """Rasterise absolute sketches as the classifier sees them; augment when rng is given."""
    if rng is not None:
        points = [augment_points(p, rng) for p in points]
    return rasterize_many(points, IMAGE_SIZE, MARGIN, LINE_WIDTH)


def predict(model: SketchANet, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Return the predicted class of every image (int64 [n])."""
    out = [np.argmax(_logits(model, images[i:i + batch_size]).numpy(), axis=1)
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out) if out else np.zeros([0], np.int64)


# autograph=False: no data-dependent Python control flow here (see distribute.Learner._build_step).
@tf.function(reduce_retracing=True, autograph=False)
def _logits(model: SketchANet, images: tf.Tensor) -> tf.Tensor:
    """Inference-mode logits (traced once per model and batch size)."""
    return model(images, training=False)


def make_train_step(model: SketchANet, optimizer: tf.keras.optimizers.Optimizer):
    """Return a tf.function doing one Adam step; it returns (loss, accuracy)."""

    @tf.function(autograph=False)
    def step(images: tf.Tensor, labels: tf.Tensor):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        correct = tf.equal(tf.argmax(logits, 1, output_type=tf.int32), labels)
        return loss, tf.reduce_mean(tf.cast(correct, tf.float32))

    return step


def _epoch(step, images: np.ndarray, labels: np.ndarray, batch_size: int,
           rng: np.random.Generator, bar: tf.keras.utils.Progbar) -> Dict[str, float]:
    """Run one shuffled pass over the training images; return mean loss and accuracy."""
    order = rng.permutation(len(images))
    totals = np.zeros(2)
    for i, lo in enumerate(range(0, len(order), batch_size)):
        idx = order[lo:lo + batch_size]
        loss, acc = step(tf.constant(images[idx]), tf.constant(labels[idx], tf.int32))
        totals += len(idx) * np.array([float(loss), float(acc)])
        mean = totals / (lo + len(idx))
        bar.update(i + 1, [("loss", mean[0]), ("acc", mean[1])], finalize=False)
    return {"loss": float(mean[0]), "accuracy": float(mean[1])}


def train_classifier(train_points: Sequence[np.ndarray], train_labels: np.ndarray,
                     valid_points: Sequence[np.ndarray], valid_labels: np.ndarray,
                     categories: List[str], out_dir: str, *, epochs: int = 10,
                     batch_size: int = 64, width_multiplier: float = CPU_WIDTH,
                     learning_rate: float = 1e-3, augment: bool = True, seed: int = 0,
                     verbose: int = 1) -> Dict:
    """Train on absolute sketches, keep the best validation epoch in out_dir; return the config."""
    if len(train_points) == 0 or len(valid_points) == 0:
        raise ClassifierError("need at least one training and one validation sketch")
    if epochs < 1 or batch_size < 1:
        raise ClassifierError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(seed)
    tf.random.set_seed(seed)
    train_labels = np.asarray(train_labels, np.int32)
    valid_labels = np.asarray(valid_labels, np.int32)
    valid_images = render(valid_points)
    fixed_train = None if augment else render(train_points)

    model = SketchANet(len(categories), width_multiplier, IMAGE_SIZE, seed=seed)
    optimizer = tf.keras.optimizers.Adam(learning_rate)
    step = make_train_step(model, optimizer)
    epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False)
    ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch_var)
    manager = tf.train.CheckpointManager(ckpt, out_dir, max_to_keep=1,
                                         checkpoint_name=CHECKPOINT_NAME)
    writer = tf.summary.create_file_writer(os.path.join(out_dir, "logs"))
    steps = -(-len(train_points) // batch_size)
    best_acc, best_epoch, best_path = -1.0, 0, None
    for epoch in range(1, epochs + 1):
        if verbose:
            print(f"Epoch {epoch}/{epochs}")
        images = render(train_points, rng) if augment else fixed_train
        # Running means are computed here, so every metric is "stateful" to
        # the bar (it would otherwise show the last batch at the end).
        bar = tf.keras.utils.Progbar(steps, verbose=verbose,
                                     stateful_metrics=["loss", "acc", "val_acc"])
        stats = _epoch(step, images, train_labels, batch_size, rng, bar)
        val_acc = float(np.mean(predict(model, valid_images) == valid_labels))
        bar.update(steps, [("loss", stats["loss"]), ("acc", stats["accuracy"]),
                           ("val_acc", val_acc)], finalize=True)
        with writer.as_default(step=epoch):
            tf.summary.scalar("train/loss", stats["loss"], step=epoch)
            tf.summary.scalar("train/accuracy", stats["accuracy"], step=epoch)
            tf.summary.scalar("valid/accuracy", val_acc, step=epoch)
        # Ties go to the later, better-fitted epoch (validation often saturates).
        if val_acc >= best_acc:
            epoch_var.assign(epoch)
            best_acc, best_epoch, best_path = val_acc, epoch, manager.save(checkpoint_number=epoch)
    writer.flush()
    config = {
        "categories": list(categories), "image_size": IMAGE_SIZE, "margin": MARGIN,
        "line_width": LINE_WIDTH, "width_multiplier": float(width_multiplier),
        "widths": list(layer_widths(width_multiplier)), "val_accuracy": best_acc,
        "best_epoch": best_epoch, "epochs": epochs, "num_train": len(train_points),
        "num_valid": len(valid_points), "checkpoint": os.path.basename(best_path), "seed": seed,
    }
    fileio.write_json(os.path.join(out_dir, CONFIG_NAME), config)
    return config


@errors.guarded
def main(argv: List[str], f=None) -> None:
    """CLI: load the real sketches with utils.load_dataset and train; `error: ...`, exit 1 on a user error."""
    from absl import flags

    import utils  # the project's data module (numpy only)

    if len(argv) > 1:
        raise errors.UsageError(f"unexpected arguments {argv[1:]}")
    f = flags.FLAGS if f is None else f
    categories = parse_categories(f.categories)
    data = utils.load_dataset(f.data_dir, categories, num_per_category=f.num_per_category)
    problem = fileio.writable_dir_problem(f.out)  # an unusable --out is a user error, not a traceback
    if problem:
        raise ClassifierError(problem)
    config = train_classifier(
        [utils.to_absolute(s) for s in data.train.strokes], data.train.labels,
        [utils.to_absolute(s) for s in data.valid.strokes], data.valid.labels,
        categories, f.out, epochs=f.epochs, batch_size=f.batch_size,
        width_multiplier=f.width_multiplier, learning_rate=f.learning_rate,
        augment=f.augment, seed=f.seed)
    print(f"val_accuracy: {config['val_accuracy']:.4f} (epoch {config['best_epoch']}); "
          f"classifier in {f.out}")


def define_flags(fv=None) -> None:
    """Register the CLI flags in `fv` (absl's FLAGS by default; only when run as a script)."""
    from absl import flags

    fv = flags.FLAGS if fv is None else fv
    on = {"flag_values": fv}
    flags.DEFINE_string("data_dir", None, "folder of <category>.npz files", **on)
    flags.DEFINE_string("categories", None, "comma-separated category names", **on)
    flags.DEFINE_string("out", None, "output folder for checkpoints, logs and classifier.json", **on)
    flags.DEFINE_integer("epochs", 10, "training epochs", lower_bound=1, **on)
    flags.DEFINE_integer("batch_size", 64, "batch size", lower_bound=1, **on)
    flags.DEFINE_integer("num_per_category", 70000, "cap on sketches per category and split",
                         lower_bound=1, **on)
    flags.DEFINE_integer("seed", 0, "random seed", lower_bound=0, upper_bound=2 ** 32 - 1, **on)
    flags.DEFINE_float("width_multiplier", CPU_WIDTH,
                       f"scales the paper widths (1.0 = paper, 0.25 = CPU default; at most {MAX_WIDTH})",
                       **on)
    flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate (a finite number > 0)", **on)
    flags.DEFINE_bool("augment", True, "random flip/stretch/rotation of training sketches", **on)
    flags.mark_flags_as_required(["data_dir", "categories", "out"], flag_values=fv)
    # NaN passes absl's bounds (every comparison with it is false): finiteness is checked here.
    flags.register_validator("width_multiplier", lambda v: math.isfinite(v) and 0 < v <= MAX_WIDTH,
                             f"must be a finite number in (0, {MAX_WIDTH}]", flag_values=fv)
    flags.register_validator("learning_rate", lambda v: math.isfinite(v) and v > 0,
                             "must be a finite number > 0", flag_values=fv)


if __name__ == "__main__":
    import cli

    define_flags()
    cli.run_absl(main)
