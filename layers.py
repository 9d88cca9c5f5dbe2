"""Layers shared by encoder and decoder (METHOD.md §6-8): dense, batch norm, initialisers, mixed precision."""
from __future__ import annotations

import contextlib
import math
from typing import Iterator

import tensorflow as tf

# hparams `precision` -> the dtype of activations; variables always stay float32.
COMPUTE_DTYPES = {"float32": tf.float32, "mixed_bfloat16": tf.bfloat16, "mixed_float16": tf.float16}


def compute_dtype(precision: str) -> tf.DType:
    """Activation dtype of a `precision` hparam value."""
    if precision not in COMPUTE_DTYPES:
        raise ValueError(f"precision must be one of {sorted(COMPUTE_DTYPES)}, got {precision!r}")
    return COMPUTE_DTYPES[precision]


@contextlib.contextmanager
def cast_variables(module: tf.Module, dtype: tf.DType) -> Iterator[None]:
    """Within the block, the float32 variables of `module` (and its submodules) read as `dtype`.

    Lets modules that use their variables directly (the cells of rnn.py) compute in
    low precision without changing their code: each variable attribute is replaced by
    a cast of it (gradients flow back to the float32 variable) and restored on exit.
    object.__setattr__ bypasses tf.Module's tracking, so checkpoint keys do not change.
    """
    if dtype == tf.float32:
        yield
        return
    saved = []
    for m in (module,) + tuple(module.submodules):
        for name, value in list(vars(m).items()):
            if isinstance(value, tf.Variable) and value.dtype == tf.float32:
                saved.append((m, name, value))
                object.__setattr__(m, name, tf.cast(value, dtype))
    try:
        yield
    finally:
        for m, name, value in saved:
            object.__setattr__(m, name, value)


def he_normal(shape: list) -> tf.Tensor:
    """N(0, 2 / fan_in) initial values, fan_in = shape[-2] (the original's dense and GCN init)."""
    return tf.random.normal(shape, stddev=(2.0 / shape[-2]) ** 0.5)


def glorot_uniform(shape: tuple[int, int], fan_in: int | None = None) -> tf.Tensor:
    """Glorot/Xavier uniform draw, limit sqrt(6 / (fan_in + fan_out))."""
    fan_in = shape[0] if fan_in is None else fan_in
    limit = math.sqrt(6.0 / (fan_in + shape[1]))
    return tf.random.uniform(shape, -limit, limit, dtype=tf.float32)


def orthogonal(n: int) -> tf.Tensor:
    """Random orthogonal [n, n] matrix (Haar: QR of a Gaussian, sign-fixed)."""
    q, r = tf.linalg.qr(tf.random.normal([n, n], dtype=tf.float32))
    return q * tf.sign(tf.linalg.diag_part(r))[tf.newaxis, :]


def lstm_ortho(n: int, blocks: int = 4) -> tf.Tensor:
    """[n, blocks*n] matrix whose every [n, n] gate block is orthogonal."""
    return tf.concat([orthogonal(n) for _ in range(blocks)], axis=1)


class Dense(tf.Module):
    """`x W + b` with He-normal weights and zero bias; computes in the dtype of x."""

    def __init__(self, in_size: int, out_size: int, use_bias: bool = True, name: str | None = None):
        super().__init__(name=name)
        self.w = tf.Variable(he_normal([in_size, out_size]), name="w")
        self.b = tf.Variable(tf.zeros([out_size]), name="b") if use_bias else None

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        y = tf.matmul(x, tf.cast(self.w, x.dtype))
        return y + tf.cast(self.b, x.dtype) if self.b is not None else y


def _replica_sum(values: list) -> list:
    """Sum of each tensor over the replicas in sync (identity on one device).

    ReplicaContext.all_reduce is differentiable (its gradient is again a SUM all-reduce),
    so the batch-norm gradient also flows across replicas, exactly as on one device.
    """
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return values
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, values)


class BatchNorm(tf.Module):
    """Batch norm over axis 0: batch statistics in training, moving averages otherwise.

    Synchronised across replicas: under a tf.distribute strategy with several replicas
    the training statistics are those of the GLOBAL batch (all-reduced sum of x and
    count, then of (x - mean)^2), so they equal the single-device statistics of the same
    global batch; the moving averages then agree on every replica (ONLY_FIRST_REPLICA
    aggregation lets the replica context assign them). Always computed in float32.
    """

    def __init__(self, size: int, momentum: float = 0.9, epsilon: float = 1e-5, name: str | None = None):
        super().__init__(name=name)
        self.momentum, self.epsilon = momentum, epsilon
        self.gamma = tf.Variable(tf.ones([size]), name="gamma")
        self.beta = tf.Variable(tf.zeros([size]), name="beta")
        stat = dict(trainable=False, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.moving_mean = tf.Variable(tf.zeros([size]), name="moving_mean", **stat)
        self.moving_var = tf.Variable(tf.ones([size]), name="moving_var", **stat)

    def batch_moments(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Mean, (biased) variance and row count of the global batch; two passes for stability."""
        count = tf.cast(tf.shape(x)[0], x.dtype)
        total, count = _replica_sum([tf.reduce_sum(x, axis=0), count])
        mean = total / count
        (squares,) = _replica_sum([tf.reduce_sum(tf.square(x - mean), axis=0)])
        return mean, squares / count, count

    def __call__(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        x = tf.cast(x, tf.float32)
        if training:
            mean, var, count = self.batch_moments(x)
            m = self.momentum
            # As TF1's fused kernel: normalise with the biased variance, but average the
            # unbiased one, n / (n - 1), into the moving variance.
            unbiased = var * count / tf.maximum(count - 1.0, 1.0)
            self.moving_mean.assign(m * self.moving_mean + (1.0 - m) * mean)
            self.moving_var.assign(m * self.moving_var + (1.0 - m) * unbiased)
        else:
            mean, var = self.moving_mean, self.moving_var
        return tf.nn.batch_normalization(x, mean, var, self.beta, self.gamma, self.epsilon)
