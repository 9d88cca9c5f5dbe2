"""Small tf.Module layers shared by the encoder and the decoder."""
from __future__ import annotations

import tensorflow as tf


def glorot(shape: list, seed_name: str = "") -> tf.Tensor:
    """Glorot-uniform initial values (the TF1 `get_variable` default of the original)."""
    fan_in, fan_out = shape[-2], shape[-1]
    limit = (6.0 / (fan_in + fan_out)) ** 0.5
    return tf.random.uniform(shape, -limit, limit)


class Dense(tf.Module):
    """`x W + b` with glorot weights and zero bias."""

    def __init__(self, in_size: int, out_size: int, use_bias: bool = True, name: str | None = None):
        super().__init__(name=name)
        self.w = tf.Variable(glorot([in_size, out_size]), name="w")
        self.b = tf.Variable(tf.zeros([out_size]), name="b") if use_bias else None

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        y = tf.matmul(x, tf.cast(self.w, x.dtype))
        return y + tf.cast(self.b, x.dtype) if self.b is not None else y


class BatchNorm(tf.Module):
    """Batch norm over axis 0: batch statistics in training, moving averages otherwise."""

    def __init__(self, size: int, momentum: float = 0.9, epsilon: float = 1e-5, name: str | None = None):
        super().__init__(name=name)
        self.momentum, self.epsilon = momentum, epsilon
        self.gamma = tf.Variable(tf.ones([size]), name="gamma")
        self.beta = tf.Variable(tf.zeros([size]), name="beta")
        self.moving_mean = tf.Variable(tf.zeros([size]), trainable=False, name="moving_mean")
        self.moving_var = tf.Variable(tf.ones([size]), trainable=False, name="moving_var")

    def __call__(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        x = tf.cast(x, tf.float32)
        if training:
            mean, var = tf.nn.moments(x, axes=[0])
            m = self.momentum
            self.moving_mean.assign(m * self.moving_mean + (1.0 - m) * mean)
            self.moving_var.assign(m * self.moving_var + (1.0 - m) * var)
        else:
            mean, var = self.moving_mean, self.moving_var
        return tf.nn.batch_normalization(x, mean, var, self.beta, self.gamma, self.epsilon)
