"""Inference on a trained SketchGloc (METHOD.md §10): restore it, encode sketches, generate.

`load_model` rebuilds the model from a training folder (checkpoints.py finds
and checks the files without TensorFlow). Each model gets ONE compiled encoder
(`make_encoder`); the `Sampler` owns it and every other user of codes (a
`SketchEncoder`, sample_abs.SketchGenerator, retrieval, training's samples)
shares it instead of tracing another. Generation is batched and compiled: one
tf.while_loop for a whole batch.
"""
from __future__ import annotations

import gc
import logging
import os
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

import checkpoints
from errors import first_line
import graph_builder
from model import SketchGloc

END_ROW = (0.0, 0.0, 0.0, 0.0, 1.0)
ENCODER_KEYS = ("points", "piece_lengths", "relations")

Encoder = Callable[[dict], np.ndarray]


# ------------------------------------------------------------------ restore

def load_model(checkpoint_path: str, ckpt_id: int = 0) -> tuple:
    """(model, hps, extras, prefix): SketchGloc rebuilt from model_config.json and restored."""
    hps, extras, prefix = checkpoints.check_folder(checkpoint_path, ckpt_id)
    model = SketchGloc(hps)
    # Generation is not XLA-compiled: the data-sized encoder path is the faster one, whatever the
    # run trained with (both give the same codes: tests/test_grid_encoder.py).
    model.encoder.static_shapes = False
    prefixes = [prefix]
    if not ckpt_id and os.path.isdir(checkpoint_path):
        # The newest best checkpoint was chosen for the user: older ones may stand in for a damaged one.
        prefixes += [p for p in checkpoints.list_checkpoints(checkpoint_path) if p != prefix]

    def restore(candidate: str) -> None:
        problem = None
        try:
            # expect_partial: the optimizer's slots in the file are not needed for inference.
            tf.train.Checkpoint(model=model).restore(candidate).expect_partial().assert_existing_objects_matched()
        except (AssertionError, ValueError) as err:  # missing variables / other shapes
            problem = first_line(err)
        finally:
            # A failed restore logs every unused value of the file when its status is collected.
            gc.collect()
        if problem is not None:
            raise checkpoints.CheckpointError(
                f"{candidate}: does not match {checkpoints.CONFIG_NAME} ({problem})")

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        prefix = checkpoints.restore_newest_intact(restore, prefixes, checkpoint_path)
    finally:
        logger.setLevel(level)
    return model, hps, extras, prefix


# ------------------------------------------------------------------- encode

def make_encoder(model) -> Encoder:
    """Compiled `batch dict -> mu` traced once for every batch, node and point count."""
    signature = [tf.TensorSpec([None, None, None, 2], tf.float32), tf.TensorSpec([None, None], tf.int32),
                 tf.TensorSpec([None, None, None, 9], tf.float32)]

    @tf.function(input_signature=signature, autograph=False)
    def mu(points, piece_lengths, relations):
        batch = {"points": points, "piece_lengths": piece_lengths, "relations": relations}
        return model.encode(batch, training=False)[0]

    return lambda batch: mu(*(tf.convert_to_tensor(batch[k]) for k in ENCODER_KEYS)).numpy()


def encode_strokes(encoder: Encoder, strokes: Sequence[np.ndarray], hps,
                   batch_size: int = 256) -> np.ndarray:
    """Codes [n, z_size] of normalised stroke-3 sketches (no disruption)."""
    codes = []
    for lo in range(0, len(strokes), batch_size):
        chunk = list(strokes[lo:lo + batch_size])
        batch = graph_builder.build_batch(
            chunk, np.zeros(len(chunk), np.int32), max_points=hps.max_stroke_len + 1,
            max_nodes=hps.max_strokes_num, max_seq_len=hps.max_seq_len, re_scale=0.0)
        codes.append(encoder(batch))
    return np.concatenate(codes) if codes else np.zeros((0, hps.z_size), np.float32)


class SketchEncoder:
    """A restored model's compiled encoder: normalised stroke-3 sketches -> codes.

    Pass the `encoder` of the model's Sampler to share its trace; without one a new one is made.
    """

    def __init__(self, model, checkpoint: str = "", encoder: Encoder | None = None):
        self.model, self.hps, self.checkpoint = model, model.hps, checkpoint
        self._encoder = encoder if encoder is not None else make_encoder(model)

    def encode(self, strokes: Sequence[np.ndarray], batch_size: int = 256) -> np.ndarray:
        """Codes y = mu [n, z_size] (no disruption)."""
        return encode_strokes(self._encoder, strokes, self.hps, batch_size)


# ----------------------------------------------------------------- generate

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
    """Compiled greedy and temperature generation for a trained SketchGloc, and its model's encoder.

    `encode` (batch dict -> codes) is the model's one compiled encoder: a
    SketchEncoder made with `sketch_encoder` shares it.
    """

    def __init__(self, model):
        super().__init__()
        self.model = model
        z = model.hps.z_size
        sig = [tf.TensorSpec([None, z], tf.float32), tf.TensorSpec([], tf.int32),
               tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.int32)]
        self.greedy_fn = tf.function(lambda y, n, tau, s: decode_loop(model, y, n, True, tau, s),
                                     input_signature=sig, autograph=False)
        self.sample_fn = tf.function(lambda y, n, tau, s: decode_loop(model, y, n, False, tau, s),
                                     input_signature=sig, autograph=False)
        self.encode = make_encoder(model)

    def sketch_encoder(self, checkpoint: str = "") -> SketchEncoder:
        """A SketchEncoder on this sampler's compiled encoder (no second trace)."""
        return SketchEncoder(self.model, checkpoint, self.encode)

    def generate(self, y, max_len: int, greedy: bool = True, temperature: float = 0.24,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Absolute 5-D sequences [B, max_len, 5] and their lengths (points before the end)."""
        fn = self.greedy_fn if greedy else self.sample_fn
        seq, lengths = fn(tf.convert_to_tensor(y, tf.float32), tf.constant(max_len, tf.int32),
                          tf.constant(temperature, tf.float32), tf.constant(seed, tf.int32))
        return seq.numpy(), lengths.numpy()
