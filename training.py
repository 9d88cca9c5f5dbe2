"""The training loop of SPEC section 9: Adam, decaying rate, validation, best checkpoints, resume."""
from __future__ import annotations

import json
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

import hparams as hparams_lib
import plots
import utils
from model import SketchGloc, batch_spec
from sampling import Sampler

CONFIG_NAME = "model_config.json"
RESUME_DIR = "resume"
# Keys that may change between a run and its resumption.
RESUMABLE_KEYS = ("num_steps", "save_every", "early_stop_patience", "jit_compile",
                  "learning_rate", "min_learning_rate", "decay_rate")


class TrainingError(RuntimeError):
    """A user-facing training failure (config mismatch, non-finite loss, ...)."""


class DecayingRate(keras.optimizers.schedules.LearningRateSchedule):
    """`(lr - min_lr) * decay_rate**step + min_lr`."""

    def __init__(self, lr: float, min_lr: float, decay_rate: float):
        self.lr, self.min_lr, self.decay_rate = lr, min_lr, decay_rate

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        return (self.lr - self.min_lr) * tf.pow(self.decay_rate, step) + self.min_lr

    def get_config(self) -> dict:
        return {"lr": self.lr, "min_lr": self.min_lr, "decay_rate": self.decay_rate}


def config_extras(data: utils.Dataset) -> dict:
    """What sampling and evaluation need besides the hparams."""
    return {"scale_factor": float(data.scale_factor)}


def check_config(log_root: str, hps, extras: dict) -> None:
    """Refuse to resume when model_config.json disagrees with the requested run."""
    saved, saved_extra = hparams_lib.load(os.path.join(log_root, CONFIG_NAME))
    differ = hparams_lib.diff(saved, hps, ignore=RESUMABLE_KEYS)
    for key, value in extras.items():
        old = saved_extra.get(key)
        if old is None or not math.isclose(old, value, rel_tol=1e-6):
            differ[key] = (old, value)
    if differ:
        lines = ", ".join(f"{k}: saved {a!r} vs requested {b!r}" for k, (a, b) in sorted(differ.items()))
        raise TrainingError(f"{log_root}/{CONFIG_NAME} disagrees with the requested run ({lines}); "
                            "use the same --hparams/--data_dir or another --log_root")


class Trainer:
    """Owns the model, optimizer, checkpoints, summaries and the loop."""

    def __init__(self, hps, data: utils.Dataset, log_root: str, verbose: int = 1):
        self.hps, self.data, self.log_root, self.verbose = hps, data, log_root, verbose
        tf.random.set_seed(hps.seed)
        self.model = SketchGloc(hps)
        self.optimizer = keras.optimizers.Adam(
            learning_rate=DecayingRate(hps.learning_rate, hps.min_learning_rate, hps.decay_rate),
            clipnorm=hps.grad_clip)  # clipnorm clips every gradient tensor on its own, as the original
        self.optimizer.build(self.model.trainable_variables)
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.best_valid = tf.Variable(np.inf, dtype=tf.float32, trainable=False, name="best_valid")
        self.bad_validations = tf.Variable(0, dtype=tf.int64, trainable=False, name="bad_validations")
        self.ckpt = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer, epoch=self.epoch,
                                        best_valid=self.best_valid, bad_validations=self.bad_validations)
        self.best_manager = tf.train.CheckpointManager(self.ckpt, log_root, max_to_keep=5)
        self.resume_manager = tf.train.CheckpointManager(
            self.ckpt, os.path.join(log_root, RESUME_DIR), max_to_keep=2)
        self.writer = tf.summary.create_file_writer(os.path.join(log_root, "tensorboard"))
        self.sampler = Sampler(self.model)
        spec = batch_spec(hps.piece_len)
        self.train_step = tf.function(self._train_step, input_signature=[spec],
                                      jit_compile=hps.jit_compile or None)
        self.eval_step = tf.function(lambda b: self.model.loss(b, training=False),
                                     input_signature=[spec])

    @property
    def step(self) -> int:
        """Optimizer steps taken so far."""
        return int(self.optimizer.iterations.numpy())

    def _train_step(self, batch: dict) -> tf.Tensor:
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            loss = self.model.loss(batch, training=True)
        grads = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        return loss

    # ---- setup -------------------------------------------------------------
    def prepare(self, resume: bool) -> None:
        """Write model_config.json, or restore and check it when resuming."""
        os.makedirs(self.log_root, exist_ok=True)
        config = os.path.join(self.log_root, CONFIG_NAME)
        extras = config_extras(self.data)
        latest = self.resume_manager.latest_checkpoint or self.best_manager.latest_checkpoint
        if resume and os.path.exists(config):
            check_config(self.log_root, self.hps, extras)
            if latest:
                self.ckpt.restore(latest).assert_existing_objects_matched()
                self.log(f"resumed from {latest} at step {self.step}, epoch {int(self.epoch.numpy())}, "
                         f"best validation loss {float(self.best_valid.numpy()):.2f}")
        elif latest:
            raise TrainingError(f"{self.log_root} already holds checkpoints; pass --resume_training=True "
                                "to continue them or choose another --log_root")
        hparams_lib.save(self.hps, config, **extras)

    def log(self, text: str) -> None:
        """Print a line unless quiet."""
        if self.verbose:
            print(text, flush=True)

    # ---- data --------------------------------------------------------------
    def batches(self, split, training: bool, seed: int) -> tf.data.Dataset:
        """A split's full batches as a prefetching tf.data pipeline."""
        hps, data = self.hps, self.data
        gen = lambda: utils.iterate_batches(
            split, hps, np.random.default_rng(seed), training=training, re_scale=hps.re_scale,
            shuffle=training, max_seq_len=data.max_seq_len, max_nodes=data.max_strokes_num,
            scale_factor=data.scale_factor)
        return tf.data.Dataset.from_generator(gen, output_signature=batch_spec(hps.piece_len)).prefetch(2)

    def evaluate(self, split) -> float:
        """Mean loss (y = mu, seeded disruption) over a split's full batches."""
        losses = [float(self.eval_step(b)) for b in self.batches(split, False, seed=1234)]
        return float(np.mean(losses)) if losses else float("nan")

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
        while not stop:
            self.run_epoch(steps_per_epoch)
            self.epoch.assign_add(1)
            if int(self.epoch.numpy()) % hps.save_every == 0 or self.step >= hps.num_steps:
                history["valid"].append((self.step, self.validate()))
            stop = self.step >= hps.num_steps or self.bad_validations.numpy() >= hps.early_stop_patience
        self.resume_manager.save(checkpoint_number=self.step)
        history.update(step=self.step, best_valid=float(self.best_valid.numpy()))
        return history

    def run_epoch(self, steps_per_epoch: int) -> None:
        """One pass over the shuffled training batches, with a progress bar."""
        hps = self.hps
        epoch = int(self.epoch.numpy())
        left = min(steps_per_epoch, hps.num_steps - self.step)
        bar = keras.utils.Progbar(left, stateful_metrics=["loss", "sketches/s", "lr"],
                                  verbose=self.verbose)
        self.log(f"epoch {epoch + 1} (step {self.step}/{hps.num_steps})")
        data = self.batches(self.data.train, True, seed=hps.seed + epoch).take(left)
        start = time.perf_counter()
        for i, batch in enumerate(data):
            loss = float(self.train_step(batch))
            if not math.isfinite(loss):
                raise TrainingError(f"loss became {loss} at step {self.step}; training stopped, "
                                    f"the last good checkpoint in {self.log_root} is intact")
            rate = (i + 1) * hps.batch_size / (time.perf_counter() - start)
            lr = float(self.optimizer.learning_rate)
            bar.update(i + 1, [("loss", loss), ("sketches/s", rate), ("lr", lr)])
            with self.writer.as_default(step=self.step):
                tf.summary.scalar("train/loss", loss)
                tf.summary.scalar("train/learning_rate", lr)
                tf.summary.scalar("train/sketches_per_sec", rate)

    def validate(self) -> float:
        """Validation; a new best saves a checkpoint, reports the test loss and draws samples."""
        valid = self.evaluate(self.data.valid)
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
            line += f" (best {float(self.best_valid.numpy()):.2f}, {int(self.bad_validations.numpy())} without improvement)"
        self.resume_manager.save(checkpoint_number=self.step)
        self.log(line)
        return valid

    def draw_samples(self, count: int = 6) -> str:
        """PNG grid of reconstructions of the first validation sketches."""
        split, data = self.data.valid, self.data
        batch = next(utils.iterate_batches(
            split, self.hps.replace(batch_size=min(count, len(split.strokes))), np.random.default_rng(7),
            training=False, re_scale=self.hps.re_scale, shuffle=False, max_seq_len=data.max_seq_len,
            max_nodes=data.max_strokes_num, scale_factor=data.scale_factor))
        seq, _ = self.sampler.generate(self.sampler.encode(batch), data.max_seq_len)
        rows, titles = [], ["input"] + (["disrupted"] if self.hps.re_scale > 0 else []) + ["output"]
        for b in range(len(seq)):
            row = [utils.five_to_points(batch["targets"][b, 1:])]
            if self.hps.re_scale > 0:
                row.append(pieces_as_points(batch["points"][b], batch["piece_lengths"][b]))
            rows.append(row + [utils.five_to_points(seq[b])])
        os.makedirs(os.path.join(self.log_root, "samples"), exist_ok=True)
        path = os.path.join(self.log_root, "samples", f"step_{self.step:07d}.png")
        plots.sketch_grid(rows, titles, path)
        return path


def pieces_as_points(points: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The encoder's pieces [S, P, 2] as one absolute point list, a pen lift after each piece."""
    parts = []
    for piece, n in zip(points, lengths):
        if n > 0:
            pen = np.zeros((n, 1), np.float32)
            pen[-1] = 1.0
            parts.append(np.concatenate([piece[:n], pen], axis=1))
    return np.concatenate(parts) if parts else np.zeros((0, 3), np.float32)


def write_summary(log_root: str, history: dict) -> None:
    """Save the run's validation history as JSON next to the checkpoints."""
    with open(os.path.join(log_root, "history.json"), "w") as f:
        json.dump(history, f, indent=2)
