"""SketchGloc: grid-graph encoder + sketch-rnn style GMM decoder (METHOD.md §6-7)."""
from __future__ import annotations

import math

import tensorflow as tf

import hyper_backward
import rnn
from grid_encoder import GridEncoder
from layers import Dense, cast_variables, compute_dtype

PEN_STATES = 3
EPSILON = 1e-6


def split_params(out: tf.Tensor, num_mixture: int) -> dict:
    """Decoder output [..., 3 + 6M] -> named GMM/pen parameters (log-space where useful)."""
    # One split (not a slice, then a split): its gradient is a concat, not a padded copy.
    pen_logits, pi, mu_x, mu_y, log_sx, log_sy, rho = tf.split(
        out, [PEN_STATES] + [num_mixture] * 6, axis=-1)
    return {
        "pen_logits": tf.cast(pen_logits, tf.float32),
        "log_pi": tf.nn.log_softmax(tf.cast(pi, tf.float32), axis=-1),
        "mu_x": tf.cast(mu_x, tf.float32), "mu_y": tf.cast(mu_y, tf.float32),
        "log_sx": tf.cast(log_sx, tf.float32), "log_sy": tf.cast(log_sy, tf.float32),
        "rho": tf.tanh(tf.cast(rho, tf.float32)),
    }


def gmm_log_density(params: dict, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Per-component log N(x, y | m) [..., M] of the bivariate normals."""
    sx, sy, rho = tf.exp(params["log_sx"]), tf.exp(params["log_sy"]), params["rho"]
    nx = (x[..., None] - params["mu_x"]) / sx
    ny = (y[..., None] - params["mu_y"]) / sy
    one_m_rho2 = 1.0 - tf.square(rho)
    z = tf.square(nx) + tf.square(ny) - 2.0 * rho * nx * ny
    return (-z / (2.0 * one_m_rho2) - math.log(2.0 * math.pi)
            - params["log_sx"] - params["log_sy"] - 0.5 * tf.math.log(one_m_rho2))


def reconstruction_losses(params: dict, targets: tf.Tensor, training: bool) -> tf.Tensor:
    """METHOD.md §7 per sketch [B]: the summed offset (+1e-6) and pen losses over time."""
    x, y, pen = targets[..., 0], targets[..., 1], targets[..., 2:5]
    # The all-zero rows of shape padding (graph_builder shape_buckets) count in no term:
    # p1 + p2 (= 1 - p3 on one-hot rows) is 0 there, and so is `row`, which also stops the
    # pen term's gradient (TF's is softmax - labels, not 0, for all-zero labels).
    mask = pen[..., 0] + pen[..., 1]
    row = mask + pen[..., 2]
    log_mix = tf.reduce_logsumexp(params["log_pi"] + gmm_log_density(params, x, y), axis=-1)
    # -log(sum pi N + 1e-6), computed in log space so tiny densities stay finite.
    offset = -tf.math.reduce_logsumexp(
        tf.stack([log_mix, tf.fill(tf.shape(log_mix), math.log(EPSILON))]), axis=0) * mask
    pen_loss = tf.nn.softmax_cross_entropy_with_logits(labels=pen, logits=params["pen_logits"])
    pen_loss *= row if training else mask
    return tf.reduce_sum(offset + pen_loss, axis=1)


def reconstruction_loss(params: dict, targets: tf.Tensor, training: bool) -> tf.Tensor:
    """METHOD.md §7: mean over the batch of the summed offset (+1e-6) and pen losses."""
    return tf.reduce_mean(reconstruction_losses(params, targets, training))


def shard(x: tf.Tensor, parts: int) -> list:
    """x split along axis 0 into `parts` nearly equal pieces (sizes differ by at most 1)."""
    if parts == 1:
        return [x]
    sizes = (tf.shape(x)[0] + parts - 1 - tf.range(parts)) // parts
    return tf.split(x, sizes, num=parts, axis=0)


def batch_spec() -> dict:
    """tf.TensorSpec of a batch dict with dynamic batch, node, point and time sizes."""
    f, i = tf.float32, tf.int32
    return {
        "points": tf.TensorSpec([None, None, None, 2], f),
        "piece_lengths": tf.TensorSpec([None, None], i),
        "relations": tf.TensorSpec([None, None, None, 9], f),
        "targets": tf.TensorSpec([None, None, 5], f),
        "labels": tf.TensorSpec([None], i),
    }


class SketchGloc(tf.Module):
    """The whole model; every variable is tracked for tf.train.Checkpoint.

    `hps.precision` (float32, mixed_bfloat16, mixed_float16) sets `compute_dtype`,
    the dtype of the training/evaluation forward pass (`loss`): variables stay
    float32, the RNNs, GCN and dense layers compute in the low precision, while
    batch norm, the code y, the GMM parameters and the loss are float32. The
    sampling API (`decode_step`, `initial_state` on float32 codes) stays float32.
    """

    def __init__(self, hps, name: str | None = None, decoder_shards: int = 1,
                 fast_decoder: bool = True):
        super().__init__(name=name)
        self.hps = hps
        # The decoder's loop with a hand-written gradient (hyper_backward.py); False: autodiff.
        self.fast_decoder = fast_decoder
        # Teacher-forced decoding runs the batch as this many independent parts (distribute.py).
        self.decoder_shards = decoder_shards
        self.compute_dtype = compute_dtype(hps.precision)
        self.encoder = GridEncoder(hps, name="encoder", dtype=self.compute_dtype)
        self.cell = rnn.make_cell(
            hps.dec_model, hps.dec_rnn_size, 5 + hps.z_size,
            use_recurrent_dropout=hps.use_recurrent_dropout,
            dropout_keep_prob=hps.recurrent_dropout_prob,
            hyper_num_units=hps.hyper_num_units,
            hyper_embedding_size=hps.hyper_embedding_size)
        self.init_state = Dense(hps.z_size, self.cell.state_size, name="init_state")
        self.output_layer = Dense(hps.dec_rnn_size, PEN_STATES + 6 * hps.dec_num_mixture,
                                  name="output")

    def encode(self, batch: dict, training: bool = False):
        """(mu, s, y) of a batch dict; y = mu unless training."""
        return self.encoder(batch, training)

    def initial_state(self, y: tf.Tensor) -> tf.Tensor:
        """Decoder state tanh(Dense(y))."""
        return tf.tanh(self.init_state(y))

    def decode(self, inputs: tf.Tensor, y: tf.Tensor, training: bool = False) -> dict:
        """Teacher-forced GMM parameters (float32) for inputs [B, T, 5] and codes y [B, Z]."""
        dtype = self.compute_dtype
        inputs, y = tf.cast(inputs, dtype), tf.cast(y, dtype)
        steps = tf.shape(inputs)[1]
        tiled = tf.tile(y[:, None, :], tf.stack([1, steps, 1]))
        cell_inputs = self._dropout(tf.concat([inputs, tiled], -1), "input", training)
        parts = zip(shard(cell_inputs, self.decoder_shards),
                    shard(self.initial_state(y), self.decoder_shards))
        with cast_variables(self.cell, dtype):
            outputs = [self._run_decoder(x, s, training) for x, s in parts]
        outputs = self._dropout(tf.concat(outputs, axis=0), "output", training)
        return split_params(self.output_layer(outputs), self.hps.dec_num_mixture)

    def _run_decoder(self, inputs: tf.Tensor, state: tf.Tensor, training: bool) -> tf.Tensor:
        """Decoder outputs [B, T, n]: the hand-differentiated loop where it applies, else run_rnn."""
        if self.fast_decoder and hyper_backward.applies(self.cell, inputs):
            return hyper_backward.run(self.cell, inputs, state, training)[0]
        return rnn.run_rnn(self.cell, inputs, None, initial_state=state, training=training)[0]

    def _dropout(self, x: tf.Tensor, where: str, training: bool) -> tf.Tensor:
        """sketch-rnn's optional dropout on the decoder cell's input or output (training only).

        A fresh mask for every element and step, as TF1's DropoutWrapper draws it, so it
        can be applied to all steps at once outside the recurrent loop.
        """
        if not (training and getattr(self.hps, f"use_{where}_dropout")):
            return x
        return tf.nn.dropout(x, rate=1.0 - getattr(self.hps, f"{where}_dropout_prob"))

    def decode_step(self, x: tf.Tensor, y: tf.Tensor, state: tf.Tensor, training: bool = False):
        """One decoder step: x [B, 5] -> (params, new_state)."""
        h, state = self.cell(tf.concat([x, y], -1), state, training=training)
        return split_params(self.output_layer(h), self.hps.dec_num_mixture), state

    def sketch_losses(self, batch: dict, training: bool = False) -> tf.Tensor:
        """Per-sketch reconstruction losses [B] of METHOD.md §7 (no KL term)."""
        _, _, y = self.encode(batch, training)
        targets = batch["targets"]
        params = self.decode(targets[:, :-1], y, training)
        return reconstruction_losses(params, targets[:, 1:], training)

    def loss(self, batch: dict, training: bool = False) -> tf.Tensor:
        """Reconstruction loss of METHOD.md §7: mean of `sketch_losses` over the batch."""
        return tf.reduce_mean(self.sketch_losses(batch, training))
