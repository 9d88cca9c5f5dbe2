"""Training under tf.distribute (METHOD.md §9): strategies, Adam, loss scaling, the step; CPU threads.

`Learner` holds the model and optimizer created under a strategy and runs one
optimizer step on a global batch; checkpoints of any strategy restore in any
other. `configure` sets the thread layout of a machine without a GPU and returns
the number of decoder shards that the model is then built with.

Thread layout for training on a machine without a GPU:
The decoder is a loop of ~250 steps of small ops (a [100, 1024] layer norm, a
[100, 384] x [384, 1024] matmul). Split over two threads, such an op spends
about as long handing work over as computing: measured on 2 cores, an
element-wise op of 100k floats takes 45 us on two threads and 23 us on one.
So on CPU the decoder batch is cut into `shards` parts that run side by side,
each op on `cores // shards` threads. Rows of a batch never interact in the
decoder, so the arithmetic is unchanged. The encoder keeps its own parallelism
(forward and backward RNNs, the graphs of the GCN run as independent ops).

Only small decoders are sharded. Measured on 2 cores (benchmarks/bench_train.py,
sheep, batch 100): the small preset (decoder 128 units, with its earlier
128-unit encoder) trains 22% faster; the paper
preset (512 units) gains nothing measurable and holds 1.3 GB more memory,
because both shards' saved activations are alive at once.
"""
from __future__ import annotations

import json
import os

import keras
import tensorflow as tf

from checkpoints import TrainingError
from model import SketchGloc, batch_spec

STRATEGIES = ("default", "mirrored", "multi_worker")
MIN_SHARD = 50  # sketches per shard; below this the matmuls lose efficiency
MAX_SHARDED_UNITS = 256  # wider decoders have ops large enough for several threads


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
        problem = tf_config_problem(os.environ.get("TF_CONFIG"))
        if problem:  # TensorFlow would fail deep inside with a JSONDecodeError or a KeyError
            raise TrainingError(f"--strategy=multi_worker: environment variable TF_CONFIG {problem}")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise TrainingError(f"unknown strategy {name!r}; expected one of {STRATEGIES}")


def tf_config_problem(text: str | None) -> str | None:
    """What is wrong with a TF_CONFIG value (None when unset or well formed): the cluster and this task."""
    if text is None or not text.strip():
        return None  # unset: TensorFlow runs a one-worker cluster
    try:
        config = json.loads(text)
    except ValueError as err:
        return f"is not valid JSON ({getattr(err, 'msg', err)})"
    cluster = config.get("cluster") if isinstance(config, dict) else None
    if not (isinstance(cluster, dict) and cluster and all(
            isinstance(hosts, list) and hosts and all(isinstance(h, str) for h in hosts)
            for hosts in cluster.values())):
        return 'needs "cluster": {"worker": ["host:port", ...], ...}'
    task = config.get("task")
    if not (isinstance(task, dict) and task.get("type") in cluster):
        return f'needs "task": {{"type": one of {sorted(cluster)}, "index": N}}'
    index = task.get("index", 0)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[task["type"]]):
        return f'"task" index {index!r}: expected 0..{len(cluster[task["type"]]) - 1}'
    return None


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
    The model decodes its batch as `decoder_shards` parts (what `configure` returned).
    """

    def __init__(self, hps, strategy: tf.distribute.Strategy | None = None, decoder_shards: int = 1):
        self.hps = hps
        self.strategy = strategy or tf.distribute.get_strategy()
        with self.strategy.scope():
            self.distributed = tf.distribute.has_strategy()
            self.model = SketchGloc(hps, decoder_shards=decoder_shards)
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
        # autograph=False (here and at every tf.function of the model): the model's loops are
        # tf.while_loop already, so autograph would only re-parse its source, several seconds
        # at every start of a process.
        if not self.distributed:
            return tf.function(self._replica_step, input_signature=[batch_spec()],
                               jit_compile=self.hps.jit_compile or None, autograph=False)

        def step(batch):
            loss = self.strategy.run(self._replica_step, args=(batch,))
            return self.strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)
        spec = None if self._element_spec is None else [self._element_spec]
        return tf.function(step, input_signature=spec, reduce_retracing=spec is None, autograph=False)

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


# ---- CPU thread layout ------------------------------------------------------

def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def plan(batch_size: int, dec_rnn_size: int, cores: int) -> tuple[int, int]:
    """(shards, threads per op) for a per-device batch on `cores` cores."""
    if dec_rnn_size > MAX_SHARDED_UNITS:
        return 1, cores
    shards = max(1, min(cores, batch_size // MIN_SHARD))
    return shards, max(1, cores // shards)


def configure(batch_size: int, dec_rnn_size: int, cores: int | None = None,
              strategy: str = "default") -> int:
    """Apply the layout when no GPU is visible; returns the decoder shards for Learner (1: left as is).

    Only for one device (`strategy` "default"): a distributed batch is split already.
    Must run before TensorFlow executes its first op (thread pools are fixed then).
    """
    if strategy != "default" or tf.config.list_physical_devices("GPU"):
        return 1
    shards, threads = plan(batch_size, dec_rnn_size, cores or available_cores())
    if shards == 1:
        return 1
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(shards)
    except RuntimeError:  # TensorFlow already started: keep its default layout
        return 1
    return shards
