"""Recurrent cells of sketch-rnn (LSTM, layer-norm LSTM, HyperLSTM) and loops over time (METHOD.md §8).

Every cell keeps ONE flat state tensor `[B, state_size]` so that the decoder's
initial state is a single `tanh(Dense(y))`. Gates are split in sketch-rnn's
order `i, j, f, o`. One step is `cell(x_t, state, training)`, or, with the
input matmuls hoisted out of a time loop, `cell.project_inputs(inputs)` once
and `cell.step_projected(px_t, state, training)` per step. `training` is a
Python bool: recurrent dropout only acts when it is True. The decoder's loop
with a hand-written gradient is in `hyper_backward.py`.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import tensorflow as tf

from layers import glorot_uniform, lstm_ortho

LN_EPSILON = 1e-3
HYPER_INIT_SCALE = 0.1  # recurrent batch-norm trick (Cooijmans et al., 2016)


def layer_norm(x: tf.Tensor, gamma: tf.Tensor, beta: Optional[tf.Tensor],
               epsilon: float = LN_EPSILON) -> tf.Tensor:
    """gamma * (x - mean) / sqrt(var + epsilon) + beta over the last axis."""
    mean = tf.reduce_mean(x, axis=-1, keepdims=True)
    centred = x - mean
    var = tf.reduce_mean(tf.square(centred), axis=-1, keepdims=True)
    out = gamma * (centred * tf.math.rsqrt(var + epsilon))
    return out if beta is None else out + beta


def _project(inputs: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    """inputs [..., D] @ w [D, P] -> [..., P], as one 2-D matmul."""
    flat = tf.reshape(inputs, [-1, tf.shape(inputs)[-1]])
    out_shape = tf.concat([tf.shape(inputs)[:-1], tf.shape(w)[1:]], axis=0)
    return tf.reshape(tf.matmul(flat, w), out_shape)


def time_major(x: tf.Tensor) -> tf.Tensor:
    """[B, T, ...] -> [T, B, ...]."""
    perm = [1, 0] + list(range(2, x.shape.rank))
    return tf.transpose(x, perm)


def gate_major(x: tf.Tensor, size: int) -> tf.Tensor:
    """[..., B, k*size] -> [..., k, B, size]: blocks first, so a block is a contiguous slice."""
    lead = x.shape.rank - 2
    split = tf.reshape(x, tf.concat([tf.shape(x)[:-1], [-1, size]], axis=0))
    perm = list(range(lead)) + [lead + 1, lead, lead + 2]
    return tf.transpose(split, perm)


class LSTMCell(tf.Module):
    """sketch-rnn vanilla LSTM, recurrent dropout without memory loss.

    pre = x W_xh + h W_hh + b, split into i, j, f, o;
    g = tanh(j) (dropout on g only, keep `dropout_keep_prob`, training only);
    c' = c * sigmoid(f + forget_bias) + sigmoid(i) * g;  h' = tanh(c') * sigmoid(o).
    Init: W_xh Glorot uniform, each [n, n] block of W_hh orthogonal, b = 0.
    State: concat(c, h), size 2n. Loops carry the state as the tuple of its
    parts (`split_state`) and read the weights once (`loop_params`): on CPU a
    recurrent step costs mostly per-op overhead, forward and backward.
    """

    def __init__(self, num_units: int, input_size: int, forget_bias: float = 1.0,
                 use_recurrent_dropout: bool = False, dropout_keep_prob: float = 0.9,
                 name: Optional[str] = None):
        super().__init__(name=name)
        self.num_units, self.input_size, self.forget_bias = num_units, input_size, forget_bias
        self.use_recurrent_dropout, self.dropout_keep_prob = use_recurrent_dropout, dropout_keep_prob
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
    def state_parts(self) -> Tuple[int, ...]:
        """Sizes of the parts of the flat state, in order."""
        return (self.num_units, self.num_units)

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

    def split_state(self, state: tf.Tensor) -> Tuple[tf.Tensor, ...]:
        """Flat state -> tuple of its parts (c, h[, hyper_c, hyper_h])."""
        return tuple(tf.split(state, list(self.state_parts), axis=1))

    def join_state(self, parts: Sequence[tf.Tensor]) -> tf.Tensor:
        """Inverse of split_state."""
        return tf.concat(list(parts), axis=1)

    def project_inputs(self, inputs: tf.Tensor) -> tf.Tensor:
        """State-independent part of the gates, x W_xh + b, for inputs [..., D]."""
        return _project(inputs, self.w_xh) + self.bias

    def loop_inputs(self, inputs: tf.Tensor) -> Tuple[tf.Tensor, ...]:
        """Time-major projected inputs [T, B, ...] for `loop_step`, from inputs [B, T, D]."""
        return (time_major(self.project_inputs(inputs)),)

    def step_inputs(self, px_t: tf.Tensor) -> Tuple[tf.Tensor, ...]:
        """One step of `loop_inputs` from one step of `project_inputs`."""
        return (px_t,)

    def loop_params(self) -> Tuple[tf.Tensor, ...]:
        """Weights a step needs, read (and fused) once outside the time loop."""
        return (tf.convert_to_tensor(self.w_hh),)

    def loop_step(self, px: Sequence[tf.Tensor], parts: Sequence[tf.Tensor],
                  params: Sequence[tf.Tensor], training: bool) -> Tuple[tf.Tensor, tuple]:
        """One step on state parts -> (h, new parts)."""
        c, h = parts
        new_c, new_h = self._gates_to_cell(
            self._norm_gates(px[0] + tf.matmul(h, params[0]), params[1:]), c, training, params)
        return new_h, (new_c, new_h)

    def step_projected(self, px_t: tf.Tensor, state: tf.Tensor,
                       training: bool = False) -> Tuple[tf.Tensor, tf.Tensor]:
        """One step from projected inputs px_t (one step of project_inputs); returns (h, new_state)."""
        h, parts = self.loop_step(self.step_inputs(px_t), self.split_state(state),
                                  self.loop_params(), training)
        return h, self.join_state(parts)

    def __call__(self, x: tf.Tensor, state: tf.Tensor,
                 training: bool = False) -> Tuple[tf.Tensor, tf.Tensor]:
        """One step from raw inputs x [B, D]; returns (h, new_state)."""
        return self.step_projected(self.project_inputs(x), state, training)

    def _norm_gates(self, pre: tf.Tensor, params: Sequence[tf.Tensor]) -> Sequence[tf.Tensor]:
        """Pre-activations [B, 4n] -> gates i, j, f, o; no norm for the vanilla cell."""
        return tf.split(pre, 4, axis=1)

    def _norm_cell(self, c: tf.Tensor, params: Sequence[tf.Tensor]) -> tf.Tensor:
        """What the output tanh sees; the raw cell for the vanilla LSTM."""
        return c

    def _gates_to_cell(self, gates: Sequence[tf.Tensor], c: tf.Tensor, training: bool,
                       params: Sequence[tf.Tensor]) -> Tuple[tf.Tensor, tf.Tensor]:
        """Gates i, j, f, o and cell c -> (new_c, new_h)."""
        i, j, f, o = gates
        g = tf.tanh(j)
        if self.use_recurrent_dropout and training:
            g = tf.nn.dropout(g, rate=1.0 - self.dropout_keep_prob)
        new_c = c * tf.sigmoid(f + self.forget_bias) + tf.sigmoid(i) * g
        new_h = tf.tanh(self._norm_cell(new_c, params)) * tf.sigmoid(o)
        return new_c, new_h


class LayerNormLSTMCell(LSTMCell):
    """sketch-rnn layer-norm LSTM: LSTMCell without bias, with layer norms; state concat(c, h).

    Each gate block k of pre = x W_xh + h W_hh becomes gamma_k * (pre_k - mean) /
    sqrt(var + 1e-3) + beta_k; h' = tanh(LN_c(c')) * sigmoid(o). Gammas start at 1, betas 0.
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

    def loop_params(self) -> Tuple[tf.Tensor, ...]:
        """W_hh, then the gate and cell layer-norm parameters."""
        return tuple(tf.convert_to_tensor(v) for v in (
            self.w_hh, self.ln_gamma, self.ln_beta, self.ln_c_gamma, self.ln_c_beta))

    def _norm_gates(self, pre: tf.Tensor, params: Sequence[tf.Tensor]) -> Sequence[tf.Tensor]:
        """Layer norm of each of the 4 gate blocks separately."""
        gates = layer_norm(tf.reshape(pre, [-1, 4, self.num_units]), params[0], params[1])
        return tf.unstack(gates, axis=1)

    def _norm_cell(self, c: tf.Tensor, params: Sequence[tf.Tensor]) -> tf.Tensor:
        """Layer norm of the new cell before the output tanh."""
        return layer_norm(c, params[-2], params[-1])


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

    Init: W_z = 0, b_z = 1, W_alpha = 0.1 / E, W_zb ~ N(0, 0.01^2), W_beta = 0,
    b = 0, LN gains 1, biases 0; so at first scale_k = 0.1 exactly and add_k = 0,
    whatever the hyper state. W_xh Glorot uniform over [D, 4n], W_hh blocks
    orthogonal; the hyper cell's input weights are Glorot uniform with fan_in
    D + n (its input is [x, h]), held as W_xh [D, 4N] in the hyper cell and
    W_hyper_h [n, 4N] here, so that the x part can be hoisted out of loops.
    Storage, blocks in the order ix, jx, fx, ox, ih, jh, fh, oh: W_z [N, 8E]
    (block k = columns kE:(k+1)E), b_z [8E], W_alpha [8, E, n], W_zb [N, 4E],
    W_beta [4, E, n]. State: concat(c, h, hyper_c, hyper_h), size 2n + 2N.
    A step is three matmuls: h [W_hh | W_hyper_h], h_hyper [W_z | W_zb] + [b_z | 0],
    and the 12 block products z_k W_k batched; gates stay gate-major [4, B, n].
    """

    def __init__(self, num_units: int, input_size: int, hyper_num_units: int = 256,
                 hyper_embedding_size: int = 32, forget_bias: float = 1.0,
                 use_recurrent_dropout: bool = False, dropout_keep_prob: float = 0.9,
                 use_layer_norm: bool = True, name: Optional[str] = None):
        self.hyper_num_units, self.hyper_embedding_size = hyper_num_units, hyper_embedding_size
        self.use_layer_norm = use_layer_norm
        super().__init__(num_units, input_size, forget_bias, use_recurrent_dropout,
                         dropout_keep_prob, name=name)

    def _build_extra(self) -> None:
        """Hyper cell, hyper projections and the main cell's bias and layer norms."""
        n, big_n, e, d = self.num_units, self.hyper_num_units, self.hyper_embedding_size, self.input_size
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

    @property
    def state_parts(self) -> Tuple[int, ...]:
        """Sizes of c, h, hyper_c, hyper_h."""
        return (self.num_units, self.num_units, self.hyper_num_units, self.hyper_num_units)

    def project_inputs(self, inputs: tf.Tensor) -> tf.Tensor:
        """concat(x W_xh, x W_xh_hyper) [..., 4n + 4N]: the x-only matmuls of a step."""
        w = tf.concat([self.w_xh, self.hyper_cell.w_xh], axis=1)
        return _project(inputs, w)

    def loop_inputs(self, inputs: tf.Tensor) -> Tuple[tf.Tensor, ...]:
        """(x W_xh as [T, 4, B, n], x W_xh_hyper + hyper bias as [T, B, 4N])."""
        main = time_major(_project(inputs, self.w_xh))
        hyper = self.hyper_cell.loop_inputs(inputs)[0]
        return gate_major(main, self.num_units), hyper

    def step_inputs(self, px_t: tf.Tensor) -> Tuple[tf.Tensor, ...]:
        """Split one step of project_inputs into loop_inputs' layout."""
        main, hyper = tf.split(px_t, [4 * self.num_units, 4 * self.hyper_num_units], axis=1)
        if not isinstance(self.hyper_cell, LayerNormLSTMCell):
            hyper = hyper + self.hyper_cell.bias
        return gate_major(main, self.num_units), hyper

    def loop_params(self) -> Tuple[tf.Tensor, ...]:
        """Weights reshaped gate-major once: W_hh [4, n, n], [W_z | W_zb] [12, N, E], ..."""
        n, e = self.num_units, self.hyper_embedding_size
        fused = (gate_major(self.w_hh, n),
                 tf.convert_to_tensor(self.w_hyper_h),
                 gate_major(tf.concat([self.w_z, self.w_zb], axis=1), e),
                 tf.reshape(tf.concat([self.b_z, tf.zeros([4 * e], self.b_z.dtype)], 0),
                            [12, 1, e]),
                 tf.concat([self.w_alpha, self.w_beta], axis=0),
                 tf.reshape(self.bias, [4, 1, n]))
        norms = (tf.reshape(self.ln_gamma, [4, 1, n]), tf.reshape(self.ln_beta, [4, 1, n])
                 ) if self.use_layer_norm else ()
        cell_norm = (tf.convert_to_tensor(self.ln_c_gamma), tf.convert_to_tensor(self.ln_c_beta))
        return fused + norms + cell_norm + (self.hyper_cell.loop_params(),)

    def loop_step(self, px: Sequence[tf.Tensor], parts: Sequence[tf.Tensor],
                  params: Sequence[tf.Tensor], training: bool) -> Tuple[tf.Tensor, tuple]:
        """One HyperLSTM step on (c, h, hyper_c, hyper_h) -> (h, new parts)."""
        w_hh, w_hyper_h, w_zz, b_zz, w_ab, bias = params[:6]
        c, h, hyper_c, hyper_h = parts
        main_px, hyper_px = px
        hyper_out, (new_hyper_c, new_hyper_h) = self.hyper_cell.loop_step(
            (hyper_px + tf.matmul(h, w_hyper_h),), (hyper_c, hyper_h), params[-1], training)
        # Broadcast batched matmuls give gate-major results without per-step transposes.
        z = tf.matmul(hyper_out[tf.newaxis], w_zz) + b_zz  # [12, B, E]
        scale_x, scale_h, add = tf.split(tf.matmul(z, w_ab), 3, axis=0)  # each [4, B, n]
        pre = scale_x * main_px + scale_h * tf.matmul(h[tf.newaxis], w_hh) + add + bias
        if self.use_layer_norm:
            pre = layer_norm(pre, params[6], params[7])
        new_c, new_h = self._gates_to_cell(tf.unstack(pre), c, training, params[-3:-1])
        return new_h, (new_c, new_h, new_hyper_c, new_hyper_h)

    def _norm_cell(self, c: tf.Tensor, params: Sequence[tf.Tensor]) -> tf.Tensor:
        """Layer norm of the new cell before the output tanh."""
        return layer_norm(c, params[0], params[1])


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
    """Run `cell` over inputs [B, T, D] -> (outputs [B, T, H], final_state); T may be dynamic.

    Past a sequence's length its state is carried unchanged and its outputs are
    zero, so final_state is the state after its last valid step (the initial state
    for length 0). Gradients by autodiff (hyper_backward.run is the decoder's
    hand-differentiated twin); a Python unroll of 6-step pieces measured slower.
    """
    inputs = tf.convert_to_tensor(inputs)
    batch, steps = tf.shape(inputs)[0], tf.shape(inputs)[1]
    state = cell.zero_state(batch) if initial_state is None else initial_state
    parts = cell.split_state(state)
    # Hoisted: one big matmul for every step's input projection, weights fused once.
    projected = cell.loop_inputs(inputs)
    params = cell.loop_params()
    lengths = None if lengths is None else tf.cast(lengths, tf.int32)[:, tf.newaxis]

    def step(t, px, parts):
        h, new_parts = cell.loop_step(px, parts, params, training)
        if lengths is None:
            return h, new_parts
        valid = t < lengths  # [B, 1]
        new_parts = tuple(tf.where(valid, new, old) for new, old in zip(new_parts, parts))
        return tf.where(valid, h, tf.zeros_like(h)), new_parts

    proj_tas = [tf.TensorArray(p.dtype, size=steps, element_shape=p.shape[1:]).unstack(p)
                for p in projected]
    out_ta = tf.TensorArray(inputs.dtype, size=steps,
                            element_shape=tf.TensorShape([inputs.shape[0], cell.output_size]))

    def body(t, parts, out_ta):
        h, new_parts = step(t, [ta.read(t) for ta in proj_tas], parts)
        return t + 1, new_parts, out_ta.write(t, h)

    _, parts, out_ta = tf.while_loop(lambda t, *_: t < steps, body, (tf.constant(0), parts, out_ta),
                                     maximum_iterations=steps)
    return time_major(out_ta.stack()), cell.join_state(parts)


def bidirectional_last(fw_cell: LSTMCell, bw_cell: LSTMCell, inputs: tf.Tensor,
                       lengths: tf.Tensor, training: bool = False) -> tf.Tensor:
    """[h_fw at the last valid step, h_bw after the reversed valid part] -> [B, 2H], in inputs' dtype.

    Length-0 sequences give zeros. Same results as two `run_rnn` calls with lengths,
    but each step only computes the sequences still running (see _run_sorted).
    """
    lengths = tf.cast(lengths, tf.int32)
    order = tf.argsort(lengths, direction="DESCENDING", stable=True)
    sorted_lengths = tf.gather(lengths, order)
    forward = tf.gather(inputs, order)
    backward = tf.reverse_sequence(forward, sorted_lengths, seq_axis=1, batch_axis=0)
    fw_state, bw_state = _run_sorted((fw_cell, bw_cell), (forward, backward), sorted_lengths, training)
    out = tf.concat([fw_cell.output_from_state(fw_state), bw_cell.output_from_state(bw_state)], axis=1)
    return tf.gather(out, tf.math.invert_permutation(order))


def _with_rest(head: tf.Tensor, old: tf.Tensor, n: tf.Tensor) -> tf.Tensor:
    """concat(head, old[n:]) with old's static shape (the loop needs shape-invariant state)."""
    out = tf.concat([head, old[n:]], axis=0)
    out.set_shape(old.shape)
    return out


def _run_sorted(cells: Sequence[LSTMCell], inputs: Sequence[tf.Tensor], lengths: tf.Tensor,
                training: bool) -> Tuple[tf.Tensor, ...]:
    """Final states of several cells, each over its own inputs [B, T, D], in one time loop.

    `lengths` sorted in descending order: the sequences still running at step t are
    the first n_t rows, and a step computes only those (with stroke nodes of up to
    ~130 points, most far shorter, the real points instead of the padded ones). The
    independent cells share the loop so that the executor overlaps them.
    """
    batch = tf.shape(lengths)[0]
    steps = tf.reduce_max(tf.concat([lengths, [0]], axis=0))
    running = tf.reduce_sum(tf.cast(lengths[tf.newaxis, :] > tf.range(steps)[:, tf.newaxis],
                                    tf.int32), axis=1)  # [T]: n_t
    tas = [tf.TensorArray(x.dtype, size=steps, element_shape=tf.TensorShape([x.shape[0], x.shape[2]]))
           .unstack(time_major(x[:, :steps])) for x in inputs]
    params = [cell.loop_params() for cell in cells]
    states = tuple(cell.split_state(cell.zero_state(batch, inputs[0].dtype)) for cell in cells)

    def body(t, states):
        n = running[t]
        new_states = []
        for cell, ta, p, parts in zip(cells, tas, params, states):
            px = cell.step_inputs(cell.project_inputs(ta.read(t)[:n]))
            _, new = cell.loop_step(px, [part[:n] for part in parts], p, training)
            new_states.append(tuple(_with_rest(a, b, n) for a, b in zip(new, parts)))
        return t + 1, tuple(new_states)

    _, states = tf.while_loop(lambda t, _: t < steps, body, (tf.constant(0), states),
                              maximum_iterations=steps)
    return tuple(cell.join_state(parts) for cell, parts in zip(cells, states))


def bidirectional_last_padded(fw_cell: LSTMCell, bw_cell: LSTMCell, inputs: tf.Tensor,
                              lengths: tf.Tensor, training: bool = False) -> tf.Tensor:
    """`bidirectional_last` with static shapes, for XLA: every row for every step of the padded width.

    Two `run_rnn` loops with lengths (the backward one on `tf.reverse_sequence`); a
    length-0 row keeps the zero initial state, so its output is zero as there. It
    computes the padding (rows and steps) that `bidirectional_last` skips.
    """
    lengths = tf.cast(lengths, tf.int32)
    batch = tf.shape(inputs)[0]
    backward = tf.reverse_sequence(inputs, lengths, seq_axis=1, batch_axis=0)
    _, fw = run_rnn(fw_cell, inputs, lengths, fw_cell.zero_state(batch, inputs.dtype), training)
    _, bw = run_rnn(bw_cell, backward, lengths, bw_cell.zero_state(batch, inputs.dtype), training)
    return tf.concat([fw_cell.output_from_state(fw), bw_cell.output_from_state(bw)], axis=1)
