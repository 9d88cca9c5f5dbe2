"""Train SketchGloc (METHOD.md §9): the loop, its input pipeline and the command line.

`python train.py --log_root=DIR --data_dir=DIR --hparams="categories=[bee,bus]"`.
TensorFlow is imported late, once the flags, the hparams and the data passed
their checks (numpy only), so that a mistake in them is reported at once.
"""
from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from typing import TYPE_CHECKING

import numpy as np
from absl import flags, logging

import cli
import errors
import fileio
import graph_builder
import hparams as hparams_lib
import utils
from checkpoints import (CONFIG_NAME, LOSSES_NAME, RESUME_DIR, CheckpointError, TrainingError, append_losses,
                         check_config, check_state_files, config_extras, foreign_log_root_problem,
                         read_losses, remove_stale_temp_checkpoints, restore_newest_intact,
                         resume_candidates, resume_point_note)

if TYPE_CHECKING:
    import tensorflow as tf

# Before TensorFlow is imported (late: see above).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FLAGS = flags.FLAGS
flags.DEFINE_string("log_root", "checkpoints",
                    "Folder for checkpoints, model_config.json, TensorBoard logs, samples.")
flags.DEFINE_string("data_dir", "datasets", "Folder holding <category>.npz files.")
flags.DEFINE_boolean("resume_training", False, "Continue the checkpoints in --log_root.")
flags.DEFINE_string("hparams", "",
                    "Comma-separated key=value overrides, e.g. 'categories=[bee,bus],z_size=64'.")
flags.DEFINE_boolean("demo", False, "Train the `small` preset on the built-in demo dataset.")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"],
                  "default: one device; mirrored: all GPUs of this machine (MirroredStrategy); "
                  "multi_worker: MultiWorkerMirroredStrategy over the cluster in TF_CONFIG. "
                  "hparams batch_size is the global batch, split over the replicas.")
flags.DEFINE_boolean("cpu_layout", True, "Without a GPU (and with --strategy=default), run the decoder "
                     "batch as parallel shards, one thread per op: faster on few cores, same arithmetic "
                     "(see distribute.py).")
flags.DEFINE_float("checkpoint_minutes", 10.0, "Also save the resume checkpoint whenever this many minutes "
                   "of wall time passed since the last save (mid-epoch), so a kill loses at most that much.")

# The demo: small model, short run, so that it finishes in minutes on 2 CPU cores. It keeps the
# 128-unit encoder the `small` preset had before the claims study: the demo shows the pipeline,
# and 256 units made its training take 8.6 min instead of 5.5 (measured 2026-12-07).
DEMO_HPARAMS = "preset=small,enc_rnn_size=128,num_steps=600,save_every=4,decay_rate=0.9999"


def resolve(hparams_text: str, data_dir: str, demo: bool):
    """(hps, data_dir) from the flags; the demo dataset is generated on first use."""
    if not demo:
        return hparams_lib.validate(hparams_lib.parse(hparams_text)), data_dir
    import demo_data
    demo_dir, categories = demo_data.ensure_demo_dataset()
    hps = hparams_lib.parse(DEMO_HPARAMS).replace(categories=categories)
    return hparams_lib.validate(hparams_lib.parse(hparams_text, base=hps)), demo_dir


def check_flags(checkpoint_minutes: float, log_root: str) -> None:
    """HParamsError naming a train.py flag whose value is not allowed (one line per flag)."""
    lines = []
    if not (math.isfinite(checkpoint_minutes) and checkpoint_minutes > 0):
        lines.append(f"flag --checkpoint_minutes = {checkpoint_minutes!r}: expected a finite number > 0")
    if not log_root:
        lines.append("flag --log_root is empty: expected a folder")
    elif os.path.exists(log_root) and not os.path.isdir(log_root):
        lines.append(f"flag --log_root = {log_root!r}: exists and is not a folder")
    elif problem := cli.folder_problem(log_root):  # e.g. under /proc, or under a file
        lines.append(f"flag --log_root = {log_root!r}: {problem}")
    elif problem := foreign_log_root_problem(log_root):  # the user's own files would be replaced
        lines.append(problem)
    if lines:
        raise hparams_lib.HParamsError("\n".join(lines))


def run(hparams_text: str, data_dir: str, log_root: str, resume: bool, demo: bool, verbose: int = 1,
        strategy: str = "default", cpu_layout: bool = False, checkpoint_minutes: float = 10.0) -> dict:
    """Load the data, train under the named tf.distribute strategy, and return the run's history."""
    check_flags(checkpoint_minutes, log_root)
    hps, data_dir = resolve(hparams_text, data_dir, demo)
    check_state_files(log_root)
    # numpy only: bad data is reported before TensorFlow starts (and prints its banners).
    data = utils.load_dataset(data_dir, hps.categories, hps.num_per_category, hps.max_seq_len,
                              hps.max_strokes_num, hps.max_stroke_len)
    # The caps the data fixed, checked again: the memory they need is known only now.
    hps = hparams_lib.validate(hparams_lib.fit_to(hps, data))
    for line in hparams_lib.no_effect_notices(hps):
        print(line, flush=True)
    if hps.jit_compile and not hps.shape_buckets:
        print("note: jit_compile=True without shape_buckets compiles a new XLA program for almost every "
              "batch (each has its own padded shape); shape_buckets=4 bounds them", flush=True)
    from distribute import configure, make_strategy
    # Before TensorFlow executes any op: its thread pools are fixed then.
    shards = configure(hps.batch_size, hps.dec_rnn_size, strategy=strategy) if cpu_layout else 1
    # Created before any other TensorFlow work: multi-worker setup must come first.
    dist = make_strategy(strategy)
    trainer = Trainer(hps, data, log_root, verbose=verbose, strategy=dist,
                      checkpoint_seconds=60.0 * checkpoint_minutes, decoder_shards=shards)
    trainer.prepare(resume)
    history = trainer.fit()
    # The run's validation history next to the checkpoints (atomically).
    fileio.write_json(os.path.join(trainer.write_root, "history.json"), history, indent=2)
    if trainer.chief:
        print(f"done: step {history['step']}, best validation loss {history['best_valid']:.2f}; "
              f"checkpoints in {log_root}")
    return history


# ---- input pipeline (METHOD.md §1, §3) ---------------------------------------------

def epoch_order(lengths: list, batch_size: int, window: int, rng: np.random.Generator) -> np.ndarray:
    """A shuffled epoch order; with window > 0, each run of `window` batches is sorted by length.

    Bucketing keeps every sketch once per epoch and the batch order random, but puts
    sketches of similar length together, so a batch padded to its longest sketch
    wastes fewer decoder steps.
    """
    order = rng.permutation(len(lengths))
    if window <= 0:
        return order
    lengths = np.asarray(lengths)
    chunk = window * batch_size
    for lo in range(0, len(order), chunk):
        part = order[lo:lo + chunk]
        order[lo:lo + chunk] = part[np.argsort(lengths[part], kind="stable")]
    full = len(order) // batch_size * batch_size
    batches = order[:full].reshape(-1, batch_size)[rng.permutation(full // batch_size)]
    return np.concatenate([batches.ravel(), order[full:]])


# Batches built (and kept ready) at once without the autotuner: one per core, at least 2, at most 8.
PREPARE_PARALLEL = max(2, min(8, os.cpu_count() or 2))


class BatchSource:
    """Batch b of one epoch of a split, built on its own, so that batches can be prepared in parallel.

    The order is a permutation from `seed` (identity when not shuffling); batch b draws its
    augmentation and disruption from the generator seeded by (seed, b), so the batches do
    not depend on the order or the thread that prepares them.
    """

    def __init__(self, split: utils.Split, hps, data: utils.Dataset, training: bool, seed: int):
        from model import batch_spec
        self.split, self.hps, self.data, self.training, self.seed = split, hps, data, training, seed
        self.spec = batch_spec()  # a batch's arrays, in this order
        n = len(split.strokes)
        rng = np.random.default_rng(seed)
        self.order = np.arange(n)
        if training:
            self.order = epoch_order([len(s) for s in split.strokes], hps.batch_size,
                                     hps.bucket_batches, rng)
        self.labels = np.asarray(split.labels)
        # Training drops the last incomplete batch (as the original); evaluation uses every sketch.
        self.num_batches = n // hps.batch_size if training else -(-n // hps.batch_size)

    def __call__(self, b) -> list:
        """The arrays of batch b, in `spec` order."""
        size, data = self.hps.batch_size, self.data
        idx = self.order[int(b) * size:(int(b) + 1) * size]
        sub = utils.Split(self.split.name, [self.split.strokes[i] for i in idx], self.labels[idx])
        hps = self.hps if len(idx) == size else self.hps.replace(batch_size=len(idx))  # partial last batch
        # Only training batches are disrupted: validation and test losses are computed on
        # undisturbed sketches, as the original's evaluation batches are (METHOD.md §3, §9).
        batch = next(graph_builder.iterate_batches(
            sub, hps, np.random.default_rng([self.seed, int(b)]), training=self.training,
            re_scale=self.hps.re_scale if self.training else 0.0, shuffle=False,
            max_seq_len=data.max_seq_len, max_nodes=data.max_strokes_num, scale_factor=data.scale_factor))
        return [batch[k] for k in self.spec]

    def dataset(self, start: int = 0, autotune: bool = False) -> tf.data.Dataset:
        """Batches start.. of the epoch as a tf.data pipeline: parallel, deterministic order, prefetching.

        tf.data's autotuner stays off unless asked for: with it, freeing an epoch's iterator
        waited 22-43 s on 2 busy cores in 2 of 7 epochs timed (docs/PERFORMANCE.md,
        benchmarks/bench_epoch_end.py). A batch takes ~15 ms to build, a step ~1 s on a CPU.
        """
        import tensorflow as tf
        spec = self.spec
        size = self.hps.batch_size if self.training else None  # evaluation: a smaller last batch

        def load(b):
            arrays = tf.numpy_function(self, [b], [spec[k].dtype for k in spec])
            out = {}
            for key, value in zip(spec, arrays):
                value.set_shape([size] + spec[key].shape.as_list()[1:])
                out[key] = value
            return out
        parallel = tf.data.AUTOTUNE if autotune else PREPARE_PARALLEL
        options = tf.data.Options()
        options.autotune.enabled = autotune
        return (tf.data.Dataset.range(start, self.num_batches)
                .map(load, num_parallel_calls=parallel, deterministic=True)
                .prefetch(parallel).with_options(options))


# ---- the loop ---------------------------------------------------------------------

class Trainer:
    """Owns the model, optimizer, checkpoints, summaries and the loop."""

    def __init__(self, hps, data: utils.Dataset, log_root: str, verbose: int = 1,
                 strategy: tf.distribute.Strategy | None = None, checkpoint_seconds: float = 600.0,
                 decoder_shards: int = 1):
        import tensorflow as tf
        from distribute import Learner, is_chief
        from model import batch_spec
        from inference import Sampler
        self.hps, self.data, self.log_root = hps, data, log_root
        self.checkpoint_seconds = checkpoint_seconds
        tf.random.set_seed(hps.seed)
        self.learner = Learner(hps, strategy, decoder_shards=decoder_shards)
        self.model, self.optimizer = self.learner.model, self.learner.optimizer
        self.chief = is_chief(self.learner.strategy)
        self.verbose = verbose if self.chief else 0
        # Non-chief workers take part in every save (it may involve collectives) but
        # write to a scratch folder, as the tf.distribute documentation recommends.
        self.write_root = log_root if self.chief else tempfile.mkdtemp(prefix="sketchgloc_worker_")
        with self.learner.strategy.scope():
            self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
            self.best_valid = tf.Variable(np.inf, dtype=tf.float32, trainable=False, name="best_valid")
            self.bad_validations = tf.Variable(0, dtype=tf.int64, trainable=False, name="bad_validations")
            # Batches of the current epoch already trained: a mid-epoch resume skips them.
            self.epoch_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch_step")
        self.ckpt = tf.train.Checkpoint(epoch=self.epoch, best_valid=self.best_valid,
                                        bad_validations=self.bad_validations, epoch_step=self.epoch_step,
                                        **self.learner.checkpoint_objects())
        # Checkpoints written before epoch_step existed restore through this one (epoch_step stays 0,
        # right for them: they were only saved at epoch boundaries).
        self.ckpt_without_epoch_step = tf.train.Checkpoint(
            epoch=self.epoch, best_valid=self.best_valid, bad_validations=self.bad_validations,
            **self.learner.checkpoint_objects())
        self.best_manager = tf.train.CheckpointManager(self.ckpt, self.write_root, max_to_keep=5)
        self.resume_manager = tf.train.CheckpointManager(
            self.ckpt, os.path.join(self.write_root, RESUME_DIR), max_to_keep=2)
        self.writer = tf.summary.create_file_writer(os.path.join(self.write_root, "tensorboard"))
        self.sampler = Sampler(self.model)
        # Per-sketch losses: evaluation averages over sketches, whatever the batch sizes.
        self.eval_step = tf.function(lambda b: self.model.sketch_losses(b, training=False),
                                     input_signature=[batch_spec()], autograph=False)
        self.last_save = time.monotonic()

    @property
    def step(self) -> int:
        """Optimizer steps taken so far."""
        return int(self.optimizer.iterations.numpy())

    def train_step(self, batch) -> tf.Tensor:
        """One optimizer step on a batch of `train_batches`; returns the global mean loss."""
        return self.learner.train_step(batch)

    # ---- setup -------------------------------------------------------------
    def prepare(self, resume: bool) -> None:
        """Write model_config.json, or restore and check it when resuming."""
        os.makedirs(self.log_root, exist_ok=True)
        config = os.path.join(self.log_root, CONFIG_NAME)
        extras = config_extras(self.data)
        candidates = resume_candidates(self.log_root)
        # A torn file is reported now, not after an epoch.
        read_losses(os.path.join(self.log_root, LOSSES_NAME))
        if resume and os.path.exists(config) and candidates:
            check_config(self.log_root, self.hps, extras)
            self.restore(candidates)
        elif candidates and resume:
            raise TrainingError(f"{self.log_root} holds checkpoints but no {CONFIG_NAME}; "
                                "cannot resume them: choose another --log_root")
        elif candidates:
            raise TrainingError(f"{self.log_root} already holds checkpoints; pass --resume_training=True "
                                "to continue them or choose another --log_root")
        elif resume:
            self.warn(f"nothing to resume in {self.log_root}: starting a new run")
        if self.chief:
            remove_stale_temp_checkpoints(self.log_root, self.warn)
            hparams_lib.save(self.hps, config, **extras)

    def restore(self, candidates: list) -> str:
        """Restore the newest intact checkpoint of `candidates`; TrainingError when none is."""
        import tensorflow as tf
        def restore(prefix: str) -> None:
            names = {name for name, _ in tf.train.list_variables(prefix)}  # reads the .index only
            has_epoch_step = "epoch_step/.ATTRIBUTES/VARIABLE_VALUE" in names
            ckpt = self.ckpt if has_epoch_step else self.ckpt_without_epoch_step
            ckpt.restore(prefix).assert_existing_objects_matched()
        try:
            prefix = restore_newest_intact(restore, candidates, self.log_root, warn=self.warn)
        except CheckpointError as err:
            raise TrainingError(f"{err}; nothing to resume from (start in another --log_root)") from None
        # Epochs and batches are counted from 1, as run_epoch prints them.
        done = int(self.epoch_step.numpy())
        self.log(f"resumed from {prefix} at step {self.step}, epoch {int(self.epoch.numpy()) + 1}"
                 f"{f' ({done} of its batches done)' if done else ''}, "
                 f"best validation loss {float(self.best_valid.numpy()):.2f}")
        return prefix

    def log(self, text: str) -> None:
        """Print a line unless quiet."""
        if self.verbose:
            print(text, flush=True)

    def warn(self, text: str) -> None:
        """Print a line on stderr (chief only), even when quiet: the user must see it."""
        if self.chief:
            print(text, file=sys.stderr, flush=True)

    # ---- data --------------------------------------------------------------
    def batches(self, split, training: bool, seed: int, start: int = 0) -> tf.data.Dataset:
        """A split's global batches (from batch `start`) as a parallel, prefetching tf.data pipeline."""
        return BatchSource(split, self.hps, self.data, training, seed).dataset(start)

    def train_batches(self, seed: int, count: int | None = None, repeat: bool = False, start: int = 0):
        """The training input path: shuffled batches (from batch `start`), distributed over the replicas."""
        data = self.batches(self.data.train, True, seed, start)
        data = data.repeat() if repeat else data
        return self.learner.distribute(data.take(count) if count is not None else data)

    def evaluate(self, split) -> float:
        """Mean loss per sketch (y = mu, undisturbed sketches) over every sketch of a split."""
        total, count = 0.0, 0
        for b in self.batches(split, False, seed=1234):
            losses = self.eval_step(b).numpy().astype(np.float64)
            total, count = total + float(losses.sum()), count + len(losses)
        if not count:  # load_dataset refuses empty splits; this guards other callers
            raise TrainingError(f"split '{split.name}' holds no sketch to evaluate")
        return total / count

    # ---- loop --------------------------------------------------------------
    def fit(self) -> dict:
        """Train until num_steps or early stop; returns a summary dict."""
        hps = self.hps
        steps_per_epoch = len(self.data.train.strokes) // hps.batch_size
        if steps_per_epoch == 0:
            raise TrainingError(f"training split has {len(self.data.train.strokes)} sketches, "
                                f"fewer than one batch of {hps.batch_size}")
        history = {"valid": []}
        stop = self.step >= hps.num_steps or self.bad_validations.numpy() >= hps.early_stop_patience
        self.last_save = time.monotonic()
        while not stop:
            self.run_epoch(steps_per_epoch)
            if int(self.epoch_step.numpy()) >= steps_per_epoch:  # num_steps may end a run mid-epoch
                self.epoch.assign_add(1)
                self.epoch_step.assign(0)
            if int(self.epoch.numpy()) % hps.save_every == 0 or self.step >= hps.num_steps:
                history["valid"].append((self.step, self.validate()))
            stop = self.step >= hps.num_steps or self.bad_validations.numpy() >= hps.early_stop_patience
        self.save_resume()
        history.update(step=self.step, best_valid=float(self.best_valid.numpy()))
        return history

    def run_epoch(self, steps_per_epoch: int) -> None:
        """One pass over the shuffled training batches, with a progress bar."""
        import keras
        import tensorflow as tf
        hps = self.hps
        epoch = int(self.epoch.numpy())
        # After a mid-epoch resume: the batch order is fixed by (seed + epoch), so skipping the
        # batches already trained continues the epoch exactly where the checkpoint left it.
        done = min(int(self.epoch_step.numpy()), steps_per_epoch)
        left = min(steps_per_epoch - done, hps.num_steps - self.step)
        bar = keras.utils.Progbar(left, stateful_metrics=["loss", "sketches/s", "lr"],
                                  verbose=self.verbose)
        self.log(f"epoch {epoch + 1} (step {self.step}/{hps.num_steps})"
                 + (f", continuing at batch {done + 1}/{steps_per_epoch}" if done else ""))
        data = self.train_batches(hps.seed + epoch, count=left, start=done)
        start, self.epoch_losses = time.perf_counter(), []
        for i, batch in enumerate(data):
            loss = float(self.train_step(batch))
            self.epoch_losses.append(loss)
            if not math.isfinite(loss):
                raise TrainingError(f"loss became {loss} at step {self.step}; training stopped"
                                    + resume_point_note(self.log_root))
            self.epoch_step.assign(done + i + 1)
            self.save_by_time()
            rate = (i + 1) * hps.batch_size / (time.perf_counter() - start)
            lr = float(self.optimizer.learning_rate)
            bar.update(i + 1, [("loss", loss), ("sketches/s", rate), ("lr", lr)])
            with self.writer.as_default(step=self.step):
                tf.summary.scalar("train/loss", loss)
                tf.summary.scalar("train/learning_rate", lr)
                tf.summary.scalar("train/sketches_per_sec", rate)

    def validate(self) -> float:
        """Validation; a new best saves a checkpoint, reports the test loss and draws samples."""
        import tensorflow as tf
        valid = self.evaluate(self.data.valid)
        # Recorded before any checkpoint of this step exists: a run killed after the best save
        # resumes past this validation, so its record must already be on disk.
        self.record_losses(valid)
        with self.writer.as_default(step=self.step):
            tf.summary.scalar("valid/loss", valid)
        line = f"step {self.step}: validation loss {valid:.2f}"
        if valid < float(self.best_valid.numpy()):
            self.best_valid.assign(valid)
            self.bad_validations.assign(0)
            self.best_manager.save(checkpoint_number=self.step)
            test = self.evaluate(self.data.test)
            with self.writer.as_default(step=self.step):
                tf.summary.scalar("test/loss", test)
            self.draw_samples()
            line += f" (new best; test loss {test:.2f})"
        else:
            self.bad_validations.assign_add(1)
            best, bad = float(self.best_valid.numpy()), int(self.bad_validations.numpy())
            line += f" (best {best:.2f}, {bad} without improvement)"
        self.save_resume()
        self.log(line)
        return valid

    def save_resume(self) -> None:
        """Save the resume checkpoint (every worker takes part) and restart the save clock."""
        self.resume_manager.save(checkpoint_number=self.step)
        self.last_save = time.monotonic()

    def save_by_time(self) -> None:
        """Save the resume checkpoint when checkpoint_seconds passed since the last save."""
        import tensorflow as tf
        # Multi-worker runs skip it: the workers' clocks could disagree on whether to save,
        # and a save that only some workers join would hang the collective.
        if isinstance(self.learner.strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return
        if time.monotonic() - self.last_save >= self.checkpoint_seconds:
            self.save_resume()

    def record_losses(self, valid: float) -> None:
        """Append to losses.json and redraw loss_curve.png (both survive a resume)."""
        import plots
        train = float(np.mean(self.epoch_losses)) if getattr(self, "epoch_losses", None) else None
        records = append_losses(self.write_root, {"step": self.step, "train": train, "valid": valid})
        plots.loss_curve(records, os.path.join(self.write_root, "loss_curve.png"))

    def draw_samples(self, count: int = 6) -> str:
        """PNG grid of reconstructions of the first validation sketches."""
        import plots
        split, data = self.data.valid, self.data
        batch = next(graph_builder.iterate_batches(
            split, self.hps.replace(batch_size=min(count, len(split.strokes))), np.random.default_rng(7),
            training=False, re_scale=self.hps.re_scale, shuffle=False, max_seq_len=data.max_seq_len,
            max_nodes=data.max_strokes_num, scale_factor=data.scale_factor))
        seq, _ = self.sampler.generate(self.sampler.encode(batch), data.max_seq_len)
        os.makedirs(os.path.join(self.log_root, "samples"), exist_ok=True)
        path = os.path.join(self.log_root, "samples", f"step_{self.step:07d}.png")
        plots.reconstructions(batch, seq, self.hps.re_scale > 0, path)
        return path


@errors.guarded
def main(argv: list) -> None:
    """The command line: train with the flags (a UserError is reported as `error:` lines)."""
    logging.set_verbosity(logging.WARNING)  # hide TensorFlow's per-save INFO lines
    if len(argv) > 1:
        raise errors.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    run(FLAGS.hparams, FLAGS.data_dir, FLAGS.log_root, FLAGS.resume_training, FLAGS.demo,
        strategy=FLAGS.strategy, cpu_layout=FLAGS.cpu_layout, checkpoint_minutes=FLAGS.checkpoint_minutes)


if __name__ == "__main__":
    cli.run_absl(main)
