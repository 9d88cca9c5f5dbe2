"""Recurrent cells of sketch-rnn (LSTM, layer-norm LSTM, HyperLSTM) and loops over time.

Every cell keeps ONE flat state tensor `[B, state_size]` so that the decoder's
initial state is a single `tanh(Dense(y))` and `tf.while_loop` carries a
single tensor. Gates are split in sketch-rnn's order `i, j, f, o`.

Cells expose two equivalent APIs:
  * `cell(x_t, state, training)` -- one step, the simple API;
  * `cell.project_inputs(inputs)` once for all steps, then
    `cell.step_projected(px_t, state, training)` per step -- the fast path
    used by `run_rnn`, which hoists the input matmuls out of the time loop.

`training` is a Python bool: recurrent dropout only acts when it is True.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import tensorflow as tf

LN_EPSILON = 1e-3
HYPER_INIT_SCALE = 0.1  # recurrent batch-norm trick (Cooijmans et al., 2016)


def glorot_uniform(shape: Tuple[int, int], fan_in: Optional[int] = None) -> tf.Tensor:
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


def layer_norm(x: tf.Tensor, gamma: tf.Tensor, beta: Optional[tf.Tensor],
               epsilon: float = LN_EPSILON) -> tf.Tensor:
    """gamma * (x - mean) / sqrt(var + epsilon) + beta over the last axis."""
    mean = tf.reduce_mean(x, axis=-1, keepdims=True)
    centred = x - mean
    var = tf.reduce_mean(tf.square(centred), axis=-1, keepdims=True)
    out = gamma * centred * tf.math.rsqrt(var + epsilon)
    return out if beta is None else out + beta


def _project(inputs: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    """inputs [..., D] @ w [D, P] -> [..., P], as one 2-D matmul."""
    flat = tf.reshape(inputs, [-1, tf.shape(inputs)[-1]])
    out_shape = tf.concat([tf.shape(inputs)[:-1], tf.shape(w)[1:]], axis=0)
    return tf.reshape(tf.matmul(flat, w), out_shape)


def _blockwise(zs: Sequence[tf.Tensor], ws: Sequence[tf.Tensor]) -> tf.Tensor:
    """stack_k(zs[k] @ ws[k]): per-block embedding -> per-unit signal, [B, K, n]."""
    # K small matmuls beat tf.einsum("bke,ken->bkn") about 2x forward+backward on CPU.
    return tf.stack([tf.matmul(z, w) for z, w in zip(zs, ws)], axis=1)


class LSTMCell(tf.Module):
    """sketch-rnn vanilla LSTM, recurrent dropout without memory loss.

    pre = x W_xh + h W_hh + b, split into i, j, f, o;
    g = tanh(j) (dropout on g only, keep `dropout_keep_prob`, training only);
    c' = c * sigmoid(f + forget_bias) + sigmoid(i) * g;  h' = tanh(c') * sigmoid(o).
    Init: W_xh Glorot uniform, each [n, n] block of W_hh orthogonal, b = 0.
    State: concat(c, h), size 2n.
    """

    def __init__(self, num_units: int, input_size: int, forget_bias: float = 1.0,
                 use_recurrent_dropout: bool = False, dropout_keep_prob: float = 0.9,
                 name: Optional[str] = None):
        super().__init__(name=name)
        self.num_units = num_units
        self.input_size = input_size
        self.forget_bias = forget_bias
        self.use_recurrent_dropout = use_recurrent_dropout
        self.dropout_keep_prob = dropout_keep_prob
        with self.name_scope:
            self.w_xh = tf.Variable(glorot_uniform((input_size, 4 * num_units)), name="W_xh")
            self.w_hh = tf.Variable(lstm_ortho(num_units), name="W_hh")
            self._build_extra()

    def _build_extra(self) -> None:
        """Variables beyond W_xh/W_hh: the vanilla cell's gate bias."""
        self.bias = tf.Variable(tf.zeros([4 * self.num_units]), name="bias")

    @property
    def state_size(self) -> int:
        """Size of the flat state concat(c, h)."""
        return 2 * self.num_units

    @property
    def output_size(self) -> int:
        """Size of the output h."""
        return self.num_units

    def zero_state(self, batch_size: Union[int, tf.Tensor], dtype: tf.DType = tf.float32) -> tf.Tensor:
        """All-zero flat state [batch_size, state_size]."""
        return tf.zeros([batch_size, self.state_size], dtype=dtype)

    def output_from_state(self, state: tf.Tensor) -> tf.Tensor:
        """The output h held in a flat state."""
        return state[:, self.num_units:2 * self.num_units]

    def project_inputs(self, inputs: tf.Tensor) -> tf.Tensor:
        """State-independent part of the gates, x W_xh + b, for inputs [..., D]."""
        return _project(inputs, self.w_xh) + self.bias

    def step_projected(self, px_t: tf.Tensor, state: tf.Tensor,
                       training: bool = False) -> Tuple[tf.Tensor, tf.Tensor]:
        """One step from projected inputs px_t [B, 4n]; returns (h, new_state)."""
        c, h = tf.split(state, 2, axis=1)
        pre = px_t + tf.matmul(h, self.w_hh)
        new_c, new_h = self._gates_to_cell(self._norm_gates(pre), c, training)
        return new_h, tf.concat([new_c, new_h], axis=1)

    def __call__(self, x: tf.Tensor, state: tf.Tensor,
                 training: bool = False) -> Tuple[tf.Tensor, tf.Tensor]:
        """One step from raw inputs x [B, D]; returns (h, new_state)."""
        return self.step_projected(self.project_inputs(x), state, training)

    def _norm_gates(self, pre: tf.Tensor) -> tf.Tensor:
        """Pre-activations [B, 4n] -> gates [B, 4, n]; identity for the vanilla cell."""
        return tf.reshape(pre, [-1, 4, self.num_units])

    def _norm_cell(self, c: tf.Tensor) -> tf.Tensor:
        """What the output tanh sees; the raw cell for the vanilla LSTM."""
        return c

    def _gates_to_cell(self, gates: tf.Tensor, c: tf.Tensor,
                       training: bool) -> Tuple[tf.Tensor, tf.Tensor]:
        """Gates [B, 4, n] (i, j, f, o) and cell c -> (new_c, new_h)."""
        i, j, f, o = tf.unstack(gates, axis=1)
        g = tf.tanh(j)
        if self.use_recurrent_dropout and training:
            g = tf.nn.dropout(g, rate=1.0 - self.dropout_keep_prob)
        new_c = c * tf.sigmoid(f + self.forget_bias) + tf.sigmoid(i) * g
        new_h = tf.tanh(self._norm_cell(new_c)) * tf.sigmoid(o)
        return new_c, new_h


class LayerNormLSTMCell(LSTMCell):
    """sketch-rnn layer-norm LSTM: as LSTMCell without bias, with layer norms.

    pre = x W_xh + h W_hh (no bias); each gate block k in (i, j, f, o) becomes
    LN_k(pre_k) = gamma_k * (pre_k - mean) / sqrt(var + 1e-3) + beta_k;
    h' = tanh(LN_c(c')) * sigmoid(o). All gammas start at 1, betas at 0.
    State: concat(c, h), size 2n.
    """

    def _build_extra(self) -> None:
        """Learnable gains and biases of the gate and cell layer norms."""
        n = self.num_units
        self.ln_gamma = tf.Variable(tf.ones([4, n]), name="ln_gamma")
        self.ln_beta = tf.Variable(tf.zeros([4, n]), name="ln_beta")
        self.ln_c_gamma = tf.Variable(tf.ones([n]), name="ln_c_gamma")
        self.ln_c_beta = tf.Variable(tf.zeros([n]), name="ln_c_beta")

    def project_inputs(self, inputs: tf.Tensor) -> tf.Tensor:
        """State-independent part of the gates, x W_xh (no bias), for inputs [..., D]."""
        return _project(inputs, self.w_xh)

    def _norm_gates(self, pre: tf.Tensor) -> tf.Tensor:
        """Layer norm of each of the 4 gate blocks separately."""
        return layer_norm(tf.reshape(pre, [-1, 4, self.num_units]), self.ln_gamma, self.ln_beta)

    def _norm_cell(self, c: tf.Tensor) -> tf.Tensor:
        """Layer norm of the new cell before the output tanh."""
        return layer_norm(c, self.ln_c_gamma, self.ln_c_beta)


class HyperLSTMCell(LSTMCell):
    """HyperLSTM (Ha et al., 2016) as in sketch-rnn, with layer norm and recurrent dropout.

    Each step, with n = num_units, N = hyper_num_units, E = hyper_embedding_size:
      1. the hyper cell (LayerNormLSTMCell of N units, forget bias 1, no dropout;
         LSTMCell if use_layer_norm=False) steps on input [x, h] -> h_hyper;
      2. for each of the 8 blocks k (ix, jx, fx, ox of x W_xh; ih, jh, fh, oh of h W_hh):
           z_k     = h_hyper W_z_k + b_z_k             (W_z_k [N, E], b_z_k [E])
           scale_k = z_k W_alpha_k                      (W_alpha_k [E, n])
         and for the 4 h-blocks only an additive term
           zb_k    = h_hyper W_zb_k                     (W_zb_k [N, E], no bias)
           add_k   = zb_k W_beta_k                      (W_beta_k [E, n]);
      3. gate k = scale_xk * (x W_xh)_k + scale_hk * (h W_hh)_k + add_k + b_k;
      4. gates are layer-normed per block (if use_layer_norm), then as LSTMCell,
         with h' = tanh(LN_c(c')) * sigmoid(o) (sketch-rnn always norms the cell).

    Initial values: W_z = 0, b_z = 1, W_alpha = 0.1 / E, W_zb ~ N(0, 0.01^2),
    W_beta = 0, b = 0, LN gains 1 and biases 0. Hence at initialisation
    z_k = 1 (a vector of E ones), scale_k = E * 0.1 / E = 0.1 exactly and
    add_k = 0, so every gate pre-activation is 0.1 * (x W_xh + h W_hh)_k,
    whatever the hyper state. W_xh is Glorot uniform over [D, 4n], W_hh
    blocks orthogonal; the hyper cell's input weights are Glorot uniform with
    fan_in D + n (its input is [x, h]), held as W_xh [D, 4N] inside the hyper
    cell and W_hyper_h [n, 4N] here so the x part can be hoisted out of loops.
    Storage: the 8 per-block sets are concatenated, blocks in the order
    ix, jx, fx, ox, ih, jh, fh, oh: W_z [N, 8E] (block k = columns kE:(k+1)E),
    b_z [8E], W_alpha [8, E, n], W_zb [N, 4E], W_beta [4, E, n].
    State: concat(c, h, hyper_c, hyper_h), size 2n + 2N.
    """

    def __init__(self, num_units: int, input_size: int, hyper_num_units: int = 256,
                 hyper_embedding_size: int = 32, forget_bias: float = 1.0,
                 use_recurrent_dropout: bool = False, dropout_keep_prob: float = 0.9,
                 use_layer_norm: bool = True, name: Optional[str] = None):
        self.hyper_num_units = hyper_num_units
        self.hyper_embedding_size = hyper_embedding_size
        self.use_layer_norm = use_layer_norm
        super().__init__(num_units, input_size, forget_bias, use_recurrent_dropout,
                         dropout_keep_prob, name=name)

    def _build_extra(self) -> None:
        """Hyper cell, hyper projections and the main cell's bias and layer norms."""
        n, big_n, e, d = (self.num_units, self.hyper_num_units,
                          self.hyper_embedding_size, self.input_size)
        hyper_cls = LayerNormLSTMCell if self.use_layer_norm else LSTMCell
        self.hyper_cell = hyper_cls(big_n, d, name="hyper_cell")
        # The original hyper W_xh is one [D + n, 4N] Glorot matrix over [x, h].
        self.hyper_cell.w_xh.assign(glorot_uniform((d, 4 * big_n), fan_in=d + n))
        self.w_hyper_h = tf.Variable(glorot_uniform((n, 4 * big_n), fan_in=d + n),
                                     name="W_hyper_h")
        self.bias = tf.Variable(tf.zeros([4 * n]), name="bias")
        self.w_z = tf.Variable(tf.zeros([big_n, 8 * e]), name="W_z")
        self.b_z = tf.Variable(tf.ones([8 * e]), name="b_z")
        self.w_alpha = tf.Variable(tf.fill([8, e, n], HYPER_INIT_SCALE / e), name="W_alpha")
        self.w_zb = tf.Variable(tf.random.normal([big_n, 4 * e], stddev=0.01), name="W_zb")
        self.w_beta = tf.Variable(tf.zeros([4, e, n]), name="W_beta")
        if self.use_layer_norm:
            self.ln_gamma = tf.Variable(tf.ones([4, n]), name="ln_gamma")
            self.ln_beta = tf.Variable(tf.zeros([4, n]), name="ln_beta")
        self.ln_c_gamma = tf.Variable(tf.ones([n]), name="ln_c_gamma")
        self.ln_c_beta = tf.Variable(tf.zeros([n]), name="ln_c_beta")

    @property
    def state_size(self) -> int:
        """Size of the flat state concat(c, h, hyper_c, hyper_h)."""
        return 2 * self.num_units + 2 * self.hyper_num_units

    def project_inputs(self, inputs: tf.Tensor) -> tf.Tensor:
        """concat(x W_xh, x W_xh_hyper) [..., 4n + 4N]: the x-only matmuls of a step."""
        w = tf.concat([self.w_xh, self.hyper_cell.w_xh], axis=1)
        return _project(inputs, w)

    def step_projected(self, px_t: tf.Tensor, state: tf.Tensor,
                       training: bool = False) -> Tuple[tf.Tensor, tf.Tensor]:
        """One step from projected inputs px_t [B, 4n + 4N]; returns (h, new_state)."""
        n, big_n = self.num_units, self.hyper_num_units
        c, h, hyper_state = tf.split(state, [n, n, 2 * big_n], axis=1)
        xh, hyper_px = tf.split(px_t, [4 * n, 4 * big_n], axis=1)
        hyper_h, new_hyper_state = self.hyper_cell.step_projected(
            hyper_px + tf.matmul(h, self.w_hyper_h), hyper_state, training)
        z = tf.split(tf.matmul(hyper_h, self.w_z) + self.b_z, 8, axis=1)
        w_alpha = tf.unstack(self.w_alpha)
        scale_x = _blockwise(z[:4], w_alpha[:4])
        scale_h = _blockwise(z[4:], w_alpha[4:])
        add = _blockwise(tf.split(tf.matmul(hyper_h, self.w_zb), 4, axis=1),
                         tf.unstack(self.w_beta))
        pre = (scale_x * tf.reshape(xh, [-1, 4, n])
               + scale_h * tf.reshape(tf.matmul(h, self.w_hh), [-1, 4, n])
               + add + tf.reshape(self.bias, [4, n]))
        if self.use_layer_norm:
            pre = layer_norm(pre, self.ln_gamma, self.ln_beta)
        new_c, new_h = self._gates_to_cell(pre, c, training)
        return new_h, tf.concat([new_c, new_h, new_hyper_state], axis=1)

    def _norm_cell(self, c: tf.Tensor) -> tf.Tensor:
        """Layer norm of the new cell before the output tanh."""
        return layer_norm(c, self.ln_c_gamma, self.ln_c_beta)


CELL_KINDS = ("lstm", "layer_norm", "hyper")


def make_cell(kind: str, num_units: int, input_size: int, forget_bias: float = 1.0,
              use_recurrent_dropout: bool = False, dropout_keep_prob: float = 0.9,
              hyper_num_units: int = 256, hyper_embedding_size: int = 32,
              name: Optional[str] = None) -> LSTMCell:
    """Cell of `kind` in CELL_KINDS; the hyper_* arguments only matter for 'hyper'."""
    common = dict(forget_bias=forget_bias, use_recurrent_dropout=use_recurrent_dropout,
                  dropout_keep_prob=dropout_keep_prob, name=name)
    if kind == "lstm":
        return LSTMCell(num_units, input_size, **common)
    if kind == "layer_norm":
        return LayerNormLSTMCell(num_units, input_size, **common)
    if kind == "hyper":
        return HyperLSTMCell(num_units, input_size, hyper_num_units=hyper_num_units,
                             hyper_embedding_size=hyper_embedding_size, **common)
    raise ValueError(f"unknown cell kind {kind!r}; expected one of {CELL_KINDS}")


def run_rnn(cell: LSTMCell, inputs: tf.Tensor, lengths: Optional[tf.Tensor] = None,
            initial_state: Optional[tf.Tensor] = None,
            training: bool = False) -> Tuple[tf.Tensor, tf.Tensor]:
    """Run `cell` over inputs [B, T, D] in a tf.while_loop -> (outputs [B, T, H], final_state).

    Past a sequence's length its state is carried unchanged and its outputs
    are zero, so final_state is the state after its last valid step
    (the initial state when the length is 0). T may be dynamic.
    """
    inputs = tf.convert_to_tensor(inputs)
    batch, steps = tf.shape(inputs)[0], tf.shape(inputs)[1]
    state = cell.zero_state(batch) if initial_state is None else initial_state
    # Hoisted: one big matmul for every step's input projection.
    projected = tf.transpose(cell.project_inputs(inputs), [1, 0, 2])
    proj_ta = tf.TensorArray(projected.dtype, size=steps, element_shape=projected.shape[1:])
    proj_ta = proj_ta.unstack(projected)
    out_ta = tf.TensorArray(inputs.dtype, size=steps,
                            element_shape=tf.TensorShape([inputs.shape[0], cell.output_size]))
    lengths = None if lengths is None else tf.cast(lengths, tf.int32)[:, tf.newaxis]

    def body(t, state, out_ta):
        h, new_state = cell.step_projected(proj_ta.read(t), state, training)
        if lengths is not None:
            valid = t < lengths  # [B, 1]
            new_state = tf.where(valid, new_state, state)
            h = tf.where(valid, h, tf.zeros_like(h))
        return t + 1, new_state, out_ta.write(t, h)

    _, final_state, out_ta = tf.while_loop(
        lambda t, *_: t < steps, body, (tf.constant(0), state, out_ta),
        maximum_iterations=steps)
    outputs = tf.transpose(out_ta.stack(), [1, 0, 2])
    return outputs, final_state


def bidirectional_last(fw_cell: LSTMCell, bw_cell: LSTMCell, inputs: tf.Tensor,
                       lengths: tf.Tensor, training: bool = False) -> tf.Tensor:
    """[h_fw at the last valid step, h_bw after the reversed valid part] -> [B, 2H].

    Length-0 sequences give zeros (both final states stay the zero state).
    """
    lengths = tf.cast(lengths, tf.int32)
    _, fw_state = run_rnn(fw_cell, inputs, lengths, training=training)
    reversed_inputs = tf.reverse_sequence(inputs, lengths, seq_axis=1, batch_axis=0)
    _, bw_state = run_rnn(bw_cell, reversed_inputs, lengths, training=training)
    return tf.concat([fw_cell.output_from_state(fw_state),
                      bw_cell.output_from_state(bw_state)], axis=1)
