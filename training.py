"""The training loop of METHOD.md §9: Adam, decaying rate, validation, best checkpoints, resume."""
from __future__ import annotations

import math
import os
import re
import shutil
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

import cpu_layout
from errors import UserError
import fileio
import hparams as hparams_lib
import plots
import graph_builder
import utils
from checkpoints import CONFIG_NAME, RESUME_DIR, CheckpointError, resume_candidates, restore_newest_intact
from model import SketchGloc, batch_spec
from inference import Sampler

LOSSES_NAME = "losses.json"
# Keys that may change between a run and its resumption.
RESUMABLE_KEYS = ("num_steps", "save_every", "early_stop_patience", "jit_compile",
                  "learning_rate", "min_learning_rate", "decay_rate")
STRATEGIES = ("default", "mirrored", "multi_worker")
BATCH_KEYS = tuple(batch_spec())
# The folder tf.train.Checkpoint writes a checkpoint into before renaming it (`<prefix>_temp`);
# a kill -9 mid-save leaves it behind.
TEMP_CHECKPOINT = re.compile(r"ckpt-\d+_temp")


class TrainingError(UserError, RuntimeError):
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


def make_strategy(name: str) -> tf.distribute.Strategy:
    """`default` (one device), `mirrored` (the GPUs of this machine) or `multi_worker` (TF_CONFIG)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise TrainingError(f"unknown strategy {name!r}; expected one of {STRATEGIES}")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True unless this process is a multi-worker non-chief (which must not write to log_root)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


class DynamicLossScale(tf.Module):
    """float16 loss scaling: halve on non-finite gradients, double after 2000 finite steps."""

    def __init__(self, initial: float = 2.0 ** 15, period: int = 2000):
        super().__init__(name="loss_scale")
        self.period = period
        agg = dict(trainable=False, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.scale = tf.Variable(initial, dtype=tf.float32, name="scale", **agg)
        self.good_steps = tf.Variable(0, dtype=tf.int64, name="good_steps", **agg)

    def update(self, finite: tf.Tensor) -> None:
        """Adjust the scale after a step whose gradients were (not) all finite."""
        grow = tf.logical_and(finite, self.good_steps + 1 >= self.period)
        self.scale.assign(tf.where(grow, self.scale * 2.0,
                                   tf.where(finite, self.scale, tf.maximum(self.scale / 2.0, 1.0))))
        self.good_steps.assign(tf.where(finite & ~grow, self.good_steps + 1, tf.zeros_like(self.good_steps)))


class ReducedAdam(keras.optimizers.Adam):
    """Adam for gradients that the caller has already all-reduced (and clipped).

    Keras 3 sums the gradients over the replicas inside `apply`, after its own
    `clipnorm`, i.e. it would clip each replica's part instead of the global
    gradient. The training step all-reduces and clips itself, so this optimizer
    skips Keras' second all-reduce; its variables (and checkpoint keys) are Adam's.
    """

    def _all_reduce_sum_gradients(self, grads_and_vars):
        return list(grads_and_vars)


class Learner:
    """Model and optimizer created under a tf.distribute strategy, and the training step.

    The loss of a step is averaged over the GLOBAL batch (each replica sums its
    per-sketch losses and divides by hps.batch_size; the replicas' values are summed),
    so learning does not depend on the number of replicas. Gradients are all-reduced
    (summed) first and only then clipped per tensor to norm grad_clip, exactly as on
    one device; Keras' own `clipnorm` would clip each replica's part before the sum,
    so the optimizer gets no clipnorm and does not all-reduce again (ReducedAdam).
    """

    def __init__(self, hps, strategy: tf.distribute.Strategy | None = None):
        self.hps = hps
        self.strategy = strategy or tf.distribute.get_strategy()
        with self.strategy.scope():
            self.distributed = tf.distribute.has_strategy()
            self.model = SketchGloc(hps, decoder_shards=cpu_layout.decoder_shards())
            self.optimizer = ReducedAdam(
                learning_rate=DecayingRate(hps.learning_rate, hps.min_learning_rate, hps.decay_rate),
                epsilon=1e-8)  # TF1's Adam default (Keras uses 1e-7)
            self.optimizer.build(self.model.trainable_variables)
            self.loss_scale = DynamicLossScale() if hps.precision == "mixed_float16" else None
        replicas = self.strategy.num_replicas_in_sync
        if hps.batch_size % replicas:
            raise TrainingError(f"batch_size {hps.batch_size} is not a multiple of the "
                                f"{replicas} replicas of the strategy")
        if self.distributed and (hps.jit_compile or self.loss_scale is not None):
            raise TrainingError("jit_compile=True and precision=mixed_float16 are only supported with "
                                "--strategy=default (use mixed_bfloat16 with several replicas)")
        self._step_fn = None
        self._element_spec = None

    def checkpoint_objects(self) -> dict:
        """What a checkpoint holds besides the training counters (keys stable across strategies)."""
        objects = dict(model=self.model, optimizer=self.optimizer)
        if self.loss_scale is not None:
            objects["loss_scale"] = self.loss_scale
        return objects

    def distribute(self, dataset: tf.data.Dataset):
        """Global batches -> what `train_step` takes (per-replica slices when distributed)."""
        if not self.distributed:
            return dataset
        options = tf.data.Options()
        # Every worker reads every global batch and keeps its own replicas' slices of it.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        dist = self.strategy.experimental_distribute_dataset(dataset.with_options(options))
        self._element_spec = dist.element_spec
        return dist

    def train_step(self, batch) -> tf.Tensor:
        """One optimizer step on a global batch (from `distribute`); returns the global mean loss."""
        if self._step_fn is None:
            self._step_fn = self._build_step()
        return self._step_fn(batch)

    def _build_step(self):
        if not self.distributed:
            return tf.function(self._replica_step, input_signature=[batch_spec()],
                               jit_compile=self.hps.jit_compile or None)

        def step(batch):
            loss = self.strategy.run(self._replica_step, args=(batch,))
            return self.strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)
        spec = None if self._element_spec is None else [self._element_spec]
        return tf.function(step, input_signature=spec, reduce_retracing=spec is None)

    def _replica_step(self, batch: dict) -> tf.Tensor:
        """Loss, gradients, all-reduce, per-tensor clip and update, on one replica's slice."""
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(self.model.sketch_losses(batch, training=True)) / self.hps.batch_size
            scaled = loss * self.loss_scale.scale if self.loss_scale is not None else loss
        # Variables without a gradient (sigma's head when the noise is off) are left alone.
        pairs = [(g, v) for g, v in zip(tape.gradient(scaled, variables), variables) if g is not None]
        grads, variables = [g for g, _ in pairs], [v for _, v in pairs]
        ctx = tf.distribute.get_replica_context()
        if self.distributed:
            grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        if self.loss_scale is not None:
            grads = [g / self.loss_scale.scale for g in grads]
        grads = [tf.clip_by_norm(g, self.hps.grad_clip) for g in grads]
        if self.loss_scale is None:
            self.optimizer.apply_gradients(zip(grads, variables))
        else:
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
            tf.cond(finite, lambda: self.optimizer.apply_gradients(zip(grads, variables)),
                    lambda: self.optimizer.iterations)
            self.loss_scale.update(finite)
        return loss


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


class BatchSource:
    """Batch b of one epoch of a split, built on its own, so that batches can be prepared in parallel.

    The order is a permutation from `seed` (identity when not shuffling); batch b draws its
    augmentation and disruption from the generator seeded by (seed, b), so the batches do
    not depend on the order or the thread that prepares them.
    """

    def __init__(self, split: utils.Split, hps, data: utils.Dataset, training: bool, seed: int):
        self.split, self.hps, self.data, self.training, self.seed = split, hps, data, training, seed
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
        """The arrays of batch b, in BATCH_KEYS order."""
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
        return [batch[k] for k in BATCH_KEYS]

    def dataset(self, start: int = 0) -> tf.data.Dataset:
        """Batches start.. of the epoch as a tf.data pipeline: parallel, deterministic order, prefetching."""
        spec = batch_spec()
        size = self.hps.batch_size if self.training else None  # evaluation: a smaller last batch

        def load(b):
            arrays = tf.numpy_function(self, [b], [spec[k].dtype for k in BATCH_KEYS])
            out = {}
            for key, value in zip(BATCH_KEYS, arrays):
                value.set_shape([size] + spec[key].shape.as_list()[1:])
                out[key] = value
            return out
        return (tf.data.Dataset.range(start, self.num_batches)
                .map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
                .prefetch(tf.data.AUTOTUNE))


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

    def __init__(self, hps, data: utils.Dataset, log_root: str, verbose: int = 1,
                 strategy: tf.distribute.Strategy | None = None, checkpoint_seconds: float = 600.0):
        self.hps, self.data, self.log_root = hps, data, log_root
        self.checkpoint_seconds = checkpoint_seconds
        tf.random.set_seed(hps.seed)
        self.learner = Learner(hps, strategy)
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
                                     input_signature=[batch_spec()])
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
        def restore(prefix: str) -> None:
            names = {name for name, _ in tf.train.list_variables(prefix)}  # reads the .index only
            has_epoch_step = "epoch_step/.ATTRIBUTES/VARIABLE_VALUE" in names
            ckpt = self.ckpt if has_epoch_step else self.ckpt_without_epoch_step
            ckpt.restore(prefix).assert_existing_objects_matched()
        try:
            prefix = restore_newest_intact(restore, candidates, self.log_root, warn=self.warn)
        except CheckpointError as err:
            raise TrainingError(f"{err}; nothing to resume from (start in another --log_root)") from None
        self.log(f"resumed from {prefix} at step {self.step}, epoch {int(self.epoch.numpy())}"
                 f"{f' (batch {int(self.epoch_step.numpy())})' if int(self.epoch_step.numpy()) else ''}, "
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
                raise TrainingError(self.non_finite_message(loss))
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
        # Multi-worker runs skip it: the workers' clocks could disagree on whether to save,
        # and a save that only some workers join would hang the collective.
        if isinstance(self.learner.strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return
        if time.monotonic() - self.last_save >= self.checkpoint_seconds:
            self.save_resume()

    def non_finite_message(self, loss: float) -> str:
        """Why training stopped, naming the checkpoint a resume would start from (if any)."""
        text = f"loss became {loss} at step {self.step}; training stopped"
        candidates = resume_candidates(self.log_root)
        if not candidates:
            return text + f", no checkpoint was written to {self.log_root}"
        return text + f"; the newest checkpoint on disk, {candidates[0]}, is from before it"

    def record_losses(self, valid: float) -> None:
        """Append to losses.json and redraw loss_curve.png (both survive a resume)."""
        path = os.path.join(self.write_root, LOSSES_NAME)
        records = read_losses(path)
        records = [r for r in records if r["step"] < self.step]  # a resumed run rewrites its future
        train = float(np.mean(self.epoch_losses)) if getattr(self, "epoch_losses", None) else None
        records.append({"step": self.step, "train": train, "valid": valid})
        fileio.write_json(path, records, indent=1)  # atomic: a kill -9 never leaves a torn file
        plots.loss_curve(records, os.path.join(self.write_root, "loss_curve.png"))

    def draw_samples(self, count: int = 6) -> str:
        """PNG grid of reconstructions of the first validation sketches."""
        split, data = self.data.valid, self.data
        batch = next(graph_builder.iterate_batches(
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
    """Save the run's validation history as JSON next to the checkpoints (atomically)."""
    fileio.write_json(os.path.join(log_root, "history.json"), history, indent=2)


def read_losses(path: str) -> list:
    """The records of losses.json ([] when absent); TrainingError naming a torn or foreign file."""
    if not os.path.exists(path):
        return []
    try:
        records = fileio.read_json(path)
    except ValueError as err:
        raise TrainingError(f"{err}; the file is damaged: restore it, or delete it to start its "
                            "records afresh") from None
    if not (isinstance(records, list) and all(isinstance(r, dict) and "step" in r for r in records)):
        raise TrainingError(f"{path}: expected a list of {{step, train, valid}} records")
    return records


def remove_stale_temp_checkpoints(log_root: str, warn) -> list:
    """Delete `ckpt-<N>_temp/` folders that a kill mid-save left in log_root and its resume/ folder."""
    removed = []
    for folder in (log_root, os.path.join(log_root, RESUME_DIR)):
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            # Only TensorFlow's own temp naming, only real folders (never a link or a file).
            if TEMP_CHECKPOINT.fullmatch(name) and os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
                removed.append(path)
    if removed:
        warn(f"removed {len(removed)} stale temporary checkpoint folder(s) of an interrupted save: "
             f"{', '.join(removed)}")
    return removed
