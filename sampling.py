"""Batched, compiled generation (METHOD.md §10): one tf.while_loop for a whole batch."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from encoding import make_encoder

END_ROW = (0.0, 0.0, 0.0, 0.0, 1.0)


def choose_point(params: dict, greedy: bool, temperature: tf.Tensor, seed: tf.Tensor, step: tf.Tensor):
    """Next absolute point and pen index [B] from one step's GMM/pen parameters.

    Greedy: the most probable component's mean and the most probable pen state.
    Otherwise (temperature tau): component and pen state drawn from softmax(log p / tau),
    then a point from the chosen Gaussian with both standard deviations multiplied by
    tau and the correlation unchanged (METHOD.md §10; the original's sqrt(tau) argument
    is squared inside its sampler).
    """
    log_pi, pen_logits = params["log_pi"], params["pen_logits"]
    if greedy:
        comp = tf.argmax(log_pi, axis=-1, output_type=tf.int32)
        pen = tf.argmax(pen_logits, axis=-1, output_type=tf.int32)
    else:
        seeds = tf.random.experimental.stateless_split(tf.stack([seed, step]), 3)
        comp = tf.random.stateless_categorical(log_pi / temperature, 1, seeds[0], dtype=tf.int32)[:, 0]
        pen = tf.random.stateless_categorical(pen_logits / temperature, 1, seeds[1], dtype=tf.int32)[:, 0]

    def pick(name: str) -> tf.Tensor:
        return tf.gather(params[name], comp, axis=1, batch_dims=1)

    mx, my = pick("mu_x"), pick("mu_y")
    if not greedy:
        sx = tf.exp(pick("log_sx")) * temperature
        sy = tf.exp(pick("log_sy")) * temperature
        rho = pick("rho")
        e = tf.random.stateless_normal(tf.stack([tf.shape(mx)[0], 2]), seeds[2])
        mx = mx + sx * e[:, 0]
        my = my + sy * (rho * e[:, 0] + tf.sqrt(1.0 - tf.square(rho)) * e[:, 1])
    return tf.stack([mx, my], -1), pen


def decode_loop(model, y: tf.Tensor, max_len: tf.Tensor, greedy: bool,
                temperature: tf.Tensor, seed: tf.Tensor):
    """Feed back each output until every sketch ended: ([B, max_len, 5], lengths [B])."""
    batch = tf.shape(y)[0]
    x = tf.tile(tf.constant([[0.0, 0.0, 1.0, 0.0, 0.0]]), [batch, 1])
    rows = tf.TensorArray(tf.float32, size=max_len)
    done = tf.zeros([batch], tf.bool)
    lengths = tf.fill([batch], max_len)

    def cond(t, *_):
        return tf.logical_and(t < max_len, tf.logical_not(tf.reduce_all(done)))

    def body(t, x, state, done, lengths, rows):
        params, state = model.decode_step(x, y, state)
        xy, pen = choose_point(params, greedy, temperature, seed, t)
        new = tf.concat([xy, tf.one_hot(pen, 3)], -1)
        new = tf.where(done[:, None], tf.constant([END_ROW]), new)
        ended = tf.logical_and(tf.logical_not(done), tf.equal(pen, 2))
        lengths = tf.where(ended, t, lengths)
        return t + 1, new, state, tf.logical_or(done, ended), lengths, rows.write(t, new)

    t, _, _, _, lengths, rows = tf.while_loop(
        cond, body, (tf.constant(0), x, model.initial_state(y), done, lengths, rows))
    seq = tf.transpose(rows.stack(), [1, 0, 2])
    pad = tf.tile(tf.constant([[END_ROW]]), tf.stack([batch, max_len - t, 1]))
    return tf.concat([seq, pad], axis=1), lengths


class Sampler(tf.Module):
    """Compiled greedy and temperature generation for a trained SketchGloc."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        z = model.hps.z_size
        sig = [tf.TensorSpec([None, z], tf.float32), tf.TensorSpec([], tf.int32),
               tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.int32)]
        self.greedy_fn = tf.function(lambda y, n, tau, s: decode_loop(model, y, n, True, tau, s),
                                     input_signature=sig)
        self.sample_fn = tf.function(lambda y, n, tau, s: decode_loop(model, y, n, False, tau, s),
                                     input_signature=sig)
        self.encode = make_encoder(model)

    def generate(self, y, max_len: int, greedy: bool = True, temperature: float = 0.24,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Absolute 5-D sequences [B, max_len, 5] and their lengths (points before the end)."""
        fn = self.greedy_fn if greedy else self.sample_fn
        seq, lengths = fn(tf.convert_to_tensor(y, tf.float32), tf.constant(max_len, tf.int32),
                          tf.constant(temperature, tf.float32), tf.constant(seed, tf.int32))
        return seq.numpy(), lengths.numpy()
