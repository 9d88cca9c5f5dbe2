"""The decoder's HyperLSTM loop with a hand-written gradient, and its plain reference (METHOD.md §8).

Autodiff of a tf.while_loop adds per-step weight-gradient accumulation and stack
bookkeeping that dominate on CPU. `run` computes the same forward arithmetic as
`rnn.run_rnn` for a float32 layer-norm HyperLSTM without lengths (the decoder
case, `applies`); its backward loop carries only state gradients, and every
weight gradient is one large contraction over all steps afterwards.

`reference_step` / `run_reference` write the same cell block by block, straight
from the HyperLSTMCell docstring (one z, scale and additive term per gate block,
no fused weights), and are differentiated by autodiff: the tests hold the fast
path to them, forward and backward.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Tuple

import tensorflow as tf

from rnn import LN_EPSILON, HyperLSTMCell, LayerNormLSTMCell, gate_major, layer_norm, time_major


class Params(NamedTuple):
    """The loop's weights, as HyperLSTMCell.loop_params fuses them (hyper cell's last)."""

    w_hh: tf.Tensor  # [4, n, n] gate-major
    w_hyper_h: tf.Tensor  # [n, 4N]
    w_zz: tf.Tensor  # [W_z | W_zb] gate-major [12, N, E]
    b_zz: tf.Tensor  # [b_z | 0] [12, 1, E]
    w_ab: tf.Tensor  # [W_alpha; W_beta] [12, E, n]
    bias: tf.Tensor  # [4, 1, n]
    gamma: tf.Tensor  # gate layer norm [4, 1, n]
    beta: tf.Tensor
    gc: tf.Tensor  # cell layer norm [n]
    bc: tf.Tensor
    hw_hh: tf.Tensor  # hyper cell: W_hh [N, 4N], its gate and cell layer norms
    hgamma: tf.Tensor
    hbeta: tf.Tensor
    hgc: tf.Tensor
    hbc: tf.Tensor


class Saved(NamedTuple):
    """What a forward step keeps for the backward loop."""

    new_c: tf.Tensor
    new_hc: tf.Tensor
    new_hh: tf.Tensor
    xg: tf.Tensor  # normalised gate pre-activations and their 1/std
    r: tf.Tensor
    xc: tf.Tensor  # normalised cell and its 1/std
    cr: tf.Tensor
    mh: tf.Tensor  # h W_hh, gate-major
    z: tf.Tensor  # the 12 hyper embeddings
    hxg: tf.Tensor  # the same four for the hyper cell
    hr: tf.Tensor
    hxc: tf.Tensor
    hcr: tf.Tensor
    act: tf.Tensor  # stacked gate activations (sigmoid i, tanh j, sigmoid f, sigmoid o)
    th: tf.Tensor  # tanh of the normed cell
    hact: tf.Tensor
    hth: tf.Tensor


class BackwardWeights(NamedTuple):
    """Weights as the backward step multiplies them, transposed once outside the loop."""

    w_ab_t: tf.Tensor  # [12, n, E]
    w_zz_t: tf.Tensor  # [12E, N]
    w_hh_t: tf.Tensor  # [4n, n]
    w_h_t: tf.Tensor  # [W_hyper_h; W_hh_hyper]^T [4N, n + N]
    w_scale_h: tf.Tensor  # the 4 scale_h blocks of W_ab, to recompute scale_h from z


class StepGrads(NamedTuple):
    """Per-step gradients kept for the bulk weight gradients after the backward loop."""

    dpre: tf.Tensor
    dz: tf.Tensor  # rows [B, 12E]
    dmh: tf.Tensor  # rows [B, 4n]
    dhpre: tf.Tensor
    dgx: tf.Tensor  # norm-parameter gradients, already summed over the batch
    dg: tf.Tensor
    dlcx: tf.Tensor
    dlc: tf.Tensor
    dhgx: tf.Tensor
    dhg: tf.Tensor
    dhlcx: tf.Tensor
    dhlc: tf.Tensor
    dbias: tf.Tensor


def applies(cell, inputs: tf.Tensor) -> bool:
    """True for the decoder case: a float32 layer-norm HyperLSTM (lengths are not supported)."""
    return (type(cell) is HyperLSTMCell and cell.use_layer_norm
            and inputs.dtype == tf.float32 and cell.w_hh.dtype == tf.float32
            and type(cell.hyper_cell) is LayerNormLSTMCell)


def run(cell: HyperLSTMCell, inputs: tf.Tensor, state: tf.Tensor, training: bool,
        mask: Optional[tf.Tensor] = None) -> Tuple[tf.Tensor, tf.Tensor]:
    """rnn.run_rnn without lengths, with the hand-written gradient: (outputs [B,T,n], final state).

    `mask` [T, B, n] (already scaled by 1/keep) replaces the drawn dropout masks.
    """
    main_px, hyper_px = cell.loop_inputs(inputs)
    batch, steps = tf.shape(inputs)[0], tf.shape(inputs)[1]
    n = cell.num_units
    if mask is None and cell.use_recurrent_dropout and training:
        rate = 1.0 - cell.dropout_keep_prob
        keep = tf.random.uniform(tf.stack([steps, batch, n]), dtype=inputs.dtype) >= rate
        mask = tf.cast(keep, inputs.dtype) * (1.0 / (1.0 - rate))
    fused = cell.loop_params()
    params = Params(*fused[:-1], *fused[-1])
    outputs, final = _loop(cell, mask, main_px, hyper_px, *cell.split_state(state), *params)
    return time_major(outputs), cell.join_state(final)


# ------------------------------------------------------------------ the step and its gradient

def _ln_parts(x: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    """(normalised x, 1 / sqrt(var + eps)) over the last axis, as `layer_norm` computes them."""
    centred = x - tf.reduce_mean(x, axis=-1, keepdims=True)
    rstd = tf.math.rsqrt(tf.reduce_mean(tf.square(centred), axis=-1, keepdims=True) + LN_EPSILON)
    return centred * rstd, rstd


def _ln_backward(dy: tf.Tensor, gamma: tf.Tensor, xhat: tf.Tensor, rstd: tf.Tensor) -> tf.Tensor:
    """Gradient w.r.t. x of gamma * xhat(x) + beta over the last axis."""
    dxhat = dy * gamma
    return rstd * (dxhat - tf.reduce_mean(dxhat, axis=-1, keepdims=True)
                   - xhat * tf.reduce_mean(dxhat * xhat, axis=-1, keepdims=True))


def _gate_derivatives(act: tf.Tensor, shape: list) -> tf.Tensor:
    """Derivatives of the stacked activations (sigmoid i, tanh j, sigmoid f, sigmoid o).

    s - s^2 for a sigmoid and 1 - t^2 for the tanh, as one expression over the stack.
    """
    one_for_tanh = tf.reshape(tf.constant([0.0, 1.0, 0.0, 0.0], act.dtype), shape)
    return one_for_tanh + (1.0 - one_for_tanh) * act - act * act


def _forward_step(cell, px, hpx, mask, c, h, hc, hh, p: Params):
    """One HyperLSTM step, same arithmetic as `loop_step`; also returns what backward needs."""
    big_n = cell.hyper_num_units
    hpre = (hpx + tf.matmul(h, p.w_hyper_h)) + tf.matmul(hh, p.hw_hh)
    hxg, hr = _ln_parts(tf.reshape(hpre, [-1, 4, big_n]))
    hi, hj, hf, ho = tf.unstack(p.hgamma * hxg + p.hbeta, axis=1)
    hact = (tf.sigmoid(hi), tf.tanh(hj), tf.sigmoid(hf + cell.hyper_cell.forget_bias),
            tf.sigmoid(ho))
    new_hc = hc * hact[2] + hact[0] * hact[1]
    hxc, hcr = _ln_parts(new_hc)
    hth = tf.tanh(p.hgc * hxc + p.hbc)
    new_hh = hth * hact[3]
    z = tf.matmul(new_hh[tf.newaxis], p.w_zz) + p.b_zz
    s = tf.matmul(z, p.w_ab)
    scale_x, scale_h, add = tf.split(s, 3, axis=0)
    mh = tf.matmul(h[tf.newaxis], p.w_hh)
    pre = scale_x * px + scale_h * mh + add + p.bias
    xg, r = _ln_parts(pre)
    i, j, f, o = tf.unstack(p.gamma * xg + p.beta)
    act = (tf.sigmoid(i), tf.tanh(j), tf.sigmoid(f + cell.forget_bias), tf.sigmoid(o))
    g = act[1] if mask is None else act[1] * mask
    new_c = c * act[2] + act[0] * g
    xc, cr = _ln_parts(new_c)
    th = tf.tanh(p.gc * xc + p.bc)
    new_h = th * act[3]
    # Saved: activations stacked (one write spares their recomputation backward) and the
    # normalised values (not their parts); not s, which backward recomputes from z
    # (a small matmul costs less than writing and re-reading [8, B, n] every step).
    saved = Saved(new_c, new_hc, new_hh, xg, r, xc, cr, mh, z, hxg, hr, hxc, hcr,
                  tf.stack(act), th, tf.stack(hact, axis=1), hth)
    return (new_c, new_h, new_hc, new_hh), saved


def _backward_weights(cell, p: Params) -> BackwardWeights:
    """Plain matmuls for the backward step, with no per-step transpose or block sums."""
    n = cell.num_units
    return BackwardWeights(
        w_ab_t=tf.transpose(p.w_ab, [0, 2, 1]),
        w_zz_t=tf.reshape(tf.transpose(p.w_zz, [0, 2, 1]), [-1, cell.hyper_num_units]),
        w_hh_t=tf.reshape(tf.transpose(p.w_hh, [0, 2, 1]), [4 * n, n]),
        w_h_t=tf.transpose(tf.concat([p.w_hyper_h, p.hw_hh], axis=0)),
        w_scale_h=p.w_ab[4:8])


def _blocks_to_rows(x: tf.Tensor) -> tf.Tensor:
    """[k, B, m] gate-major blocks -> [B, k*m] rows."""
    return tf.reshape(tf.transpose(x, [1, 0, 2]), [tf.shape(x)[1], -1])


def _backward_step(cell, p: Params, bw: BackwardWeights, px, mask, c_prev, hc_prev, s: Saved,
                   dh, dc, dhc, dhh):
    """Gradients of one step w.r.t. its state inputs and per-step pre-activations."""
    si, tj, sf, so = tf.unstack(s.act)
    dlc = dh * so * (1.0 - s.th * s.th)
    dc = dc + _ln_backward(dlc, p.gc, s.xc, s.cr)
    g, dg_j = (tj, dc * si) if mask is None else (tj * mask, dc * si * mask)
    dgate = tf.stack([dc * g, dg_j, dc * c_prev, dh * s.th]) * _gate_derivatives(s.act, [4, 1, 1])
    dpre = _ln_backward(dgate, p.gamma, s.xg, s.r)
    ds = tf.concat([dpre * px, dpre * s.mh, dpre], axis=0)
    dz = _blocks_to_rows(tf.matmul(ds, bw.w_ab_t))  # [B, 12E]
    dhh = dhh + tf.matmul(dz, bw.w_zz_t)
    dmh = _blocks_to_rows(dpre * tf.matmul(s.z[4:8], bw.w_scale_h))  # scale_h as the forward made it
    dh_main = tf.matmul(dmh, bw.w_hh_t)
    # Hyper cell.
    hsi, htj, hsf, hso = tf.unstack(s.hact, axis=1)
    dhlc = dhh * hso * (1.0 - s.hth * s.hth)
    dhc = dhc + _ln_backward(dhlc, p.hgc, s.hxc, s.hcr)
    dhgate = (tf.stack([dhc * htj, dhc * hsi, dhc * hc_prev, dhh * s.hth], axis=1)
              * _gate_derivatives(s.hact, [4, 1]))
    dhpre = tf.reshape(_ln_backward(dhgate, p.hgamma, s.hxg, s.hr), [-1, 4 * cell.hyper_num_units])
    dh_both = tf.matmul(dhpre, bw.w_h_t)
    dh_prev = dh_main + dh_both[:, :cell.num_units]
    dhh_prev = dh_both[:, cell.num_units:]
    dc_prev, dhc_prev = dc * sf, dhc * hsf
    # Norm-parameter gradients are summed over the batch here so only small slices are stacked.
    sums = [tf.reduce_sum(x, axis=ax) for x, ax in (
        (dgate * s.xg, 1), (dgate, 1), (dlc * s.xc, 0), (dlc, 0),
        (dhgate * s.hxg, 0), (dhgate, 0), (dhlc * s.hxc, 0), (dhlc, 0), (dpre, 1))]
    # dz and dmh as rows [B, k*m]: their weight gradients are then one 2-D matmul over all steps.
    return (dc_prev, dh_prev, dhc_prev, dhh_prev), StepGrads(dpre, dz, dmh, dhpre, *sums)


# ------------------------------------------------------------------ the loops

def _ta(ref: tf.Tensor, steps) -> tf.TensorArray:
    """TensorArray of `steps` elements shaped like `ref`."""
    return tf.TensorArray(ref.dtype, size=steps, element_shape=ref.shape, clear_after_read=False)


def _loop(cell, mask, main_px, hyper_px, c0, h0, hc0, hh0, *p):
    """Forward loop with a custom gradient (see `run`); p: the fields of Params."""

    @tf.custom_gradient
    def loop(main_px, hyper_px, c0, h0, hc0, hh0, *p):
        p = Params(*p)
        steps = tf.shape(main_px)[0]
        mask_tas = None if mask is None else tf.TensorArray(mask.dtype, size=steps).unstack(mask)
        px_ta = tf.TensorArray(main_px.dtype, size=steps).unstack(main_px)
        hpx_ta = tf.TensorArray(hyper_px.dtype, size=steps).unstack(hyper_px)
        m = None if mask is None else mask[0]
        # A step outside the loop only to get the saved tensors' shapes; unused, so pruned.
        (_, h1, _, _), saved0 = _forward_step(cell, main_px[0], hyper_px[0], m, c0, h0, hc0, hh0, p)
        saved_tas = Saved(*(_ta(x, steps) for x in saved0))
        out_ta = _ta(h1, steps)

        def body(t, state, out_ta, saved_tas):
            m = None if mask_tas is None else mask_tas.read(t)
            new_state, saved = _forward_step(cell, px_ta.read(t), hpx_ta.read(t), m, *state, p)
            return (t + 1, new_state, out_ta.write(t, new_state[1]),
                    Saved(*(ta.write(t, x) for ta, x in zip(saved_tas, saved))))

        _, final, out_ta, saved_tas = tf.while_loop(
            lambda t, *_: t < steps, body, (tf.constant(0), (c0, h0, hc0, hh0), out_ta, saved_tas),
            maximum_iterations=steps)
        outputs = out_ta.stack()

        def grad(d_out, dc_f, dh_f, dhc_f, dhh_f):
            return _loop_grad(cell, mask, main_px, (c0, h0, hc0, hh0), p, outputs, saved_tas,
                              d_out, (dc_f, dh_f, dhc_f, dhh_f))

        return (outputs, *final), grad

    result = loop(main_px, hyper_px, c0, h0, hc0, hh0, *p)
    return result[0], tuple(result[1:])


def _loop_grad(cell, mask, main_px, init, p: Params, outputs, tas: Saved, d_out, d_final):
    """Backward loop over time carrying state gradients, then weight gradients in bulk.

    Returns the gradients of (main_px, hyper_px, c0, h0, hc0, hh0, *Params); the
    gradient of hyper_px is dhpre itself.
    """
    steps = tf.shape(main_px)[0]
    d_out = tf.zeros_like(outputs) if d_out is None else d_out
    d_final = tuple(tf.zeros_like(x) if d is None else d for x, d in zip(init, d_final))
    px_ta = tf.TensorArray(main_px.dtype, size=steps).unstack(main_px)
    dout_ta = tf.TensorArray(d_out.dtype, size=steps).unstack(d_out)
    mask_ta = None if mask is None else tf.TensorArray(mask.dtype, size=steps).unstack(mask)
    m0 = None if mask is None else mask[0]
    bw = _backward_weights(cell, p)
    _, g0 = _backward_step(cell, p, bw, main_px[0], m0, init[0], init[2],
                           Saved(*(ta.read(0) for ta in tas)), d_out[0], d_final[0],
                           d_final[2], d_final[3])
    grad_tas = StepGrads(*(_ta(x, steps) for x in g0))

    def body(t, dstate, grad_tas):
        m = None if mask_ta is None else mask_ta.read(t)
        dc, dh, dhc, dhh = dstate
        first = t > 0
        c_prev = tf.cond(first, lambda: tas.new_c.read(tf.maximum(t - 1, 0)), lambda: init[0])
        hc_prev = tf.cond(first, lambda: tas.new_hc.read(tf.maximum(t - 1, 0)), lambda: init[2])
        dstate, grads = _backward_step(
            cell, p, bw, px_ta.read(t), m, c_prev, hc_prev,
            Saved(*(ta.read(t) for ta in tas)), dh + dout_ta.read(t), dc, dhc, dhh)
        return t - 1, dstate, StepGrads(*(ta.write(t, g) for ta, g in zip(grad_tas, grads)))

    _, dinit, grad_tas = tf.while_loop(
        lambda t, *_: t >= 0, body, (steps - 1, d_final, grad_tas), maximum_iterations=steps)
    g = StepGrads(*(ta.stack() for ta in grad_tas))
    hh_all, mh, z = tas.new_hh.stack(), tas.mh.stack(), tas.z.stack()
    # The scales again, in bulk: cheaper than keeping per-step products of them.
    d_main_px = g.dpre * tf.matmul(z[:, 0:4], p.w_ab[0:4])
    h_prev = tf.concat([init[1][tf.newaxis], outputs[:-1]], 0)   # [T, B, n]
    hh_prev = tf.concat([init[3][tf.newaxis], hh_all[:-1]], 0)   # [T, B, N]
    n, big_n, e = cell.num_units, cell.hyper_num_units, cell.hyper_embedding_size
    flat_h, flat_hh = tf.reshape(h_prev, [-1, n]), tf.reshape(hh_all, [-1, big_n])
    # Weight gradients as single 2-D products over all T*B rows: no [T, k, m, m] temporaries.
    flat_dhpre = tf.reshape(g.dhpre, [-1, 4 * big_n])
    flat_dz = tf.reshape(g.dz, [-1, 12 * e])
    # ds = [dpre * px, dpre * mh, dpre] (what each block of W_ab scaled), formed here in bulk.
    d_w_ab = tf.concat([tf.reduce_sum(tf.matmul(z[:, 4 * k:4 * k + 4], x, transpose_a=True), 0)
                        for k, x in enumerate((g.dpre * main_px, g.dpre * mh, g.dpre))], axis=0)
    dparams = Params(
        w_hh=gate_major(tf.matmul(flat_h, tf.reshape(g.dmh, [-1, 4 * n]), transpose_a=True), n),
        w_hyper_h=tf.matmul(flat_h, flat_dhpre, transpose_a=True),
        w_zz=gate_major(tf.matmul(flat_hh, flat_dz, transpose_a=True), e),
        b_zz=tf.reshape(tf.reduce_sum(flat_dz, axis=0), [12, 1, e]),
        w_ab=d_w_ab,
        bias=tf.reduce_sum(g.dbias, axis=0)[:, tf.newaxis, :],
        gamma=tf.reduce_sum(g.dgx, axis=0)[:, tf.newaxis, :],
        beta=tf.reduce_sum(g.dg, axis=0)[:, tf.newaxis, :],
        gc=tf.reduce_sum(g.dlcx, axis=0), bc=tf.reduce_sum(g.dlc, axis=0),
        hw_hh=tf.matmul(tf.reshape(hh_prev, [-1, big_n]), flat_dhpre, transpose_a=True),
        hgamma=tf.reduce_sum(g.dhgx, axis=0), hbeta=tf.reduce_sum(g.dhg, axis=0),
        hgc=tf.reduce_sum(g.dhlcx, axis=0), hbc=tf.reduce_sum(g.dhlc, axis=0))
    return (d_main_px, g.dhpre, *dinit, *dparams)


# ------------------------------------------------------------------ the plain reference

def reference_step(cell: HyperLSTMCell, x: tf.Tensor, state: tf.Tensor,
                   mask: Optional[tf.Tensor] = None) -> Tuple[tf.Tensor, tf.Tensor]:
    """One HyperLSTM step written block by block from the cell's docstring: (h, new state).

    For each of the 8 blocks k (ix, jx, fx, ox of x W_xh; ih, jh, fh, oh of h W_hh):
    z_k = h_hyper W_z_k + b_z_k, scale_k = z_k W_alpha_k; the 4 h-blocks also add
    (h_hyper W_zb_k) W_beta_k. `mask` [B, n] multiplies tanh(j) (recurrent dropout).
    """
    n, big_n, e = cell.num_units, cell.hyper_num_units, cell.hyper_embedding_size
    c, h, hyper_c, hyper_h = tf.split(state, [n, n, big_n, big_n], axis=1)
    hyper = cell.hyper_cell
    hyper_pre = tf.concat([x, h], 1) @ tf.concat([hyper.w_xh, cell.w_hyper_h], 0) + hyper_h @ hyper.w_hh
    hyper_gates = [layer_norm(hyper_pre[:, k * big_n:(k + 1) * big_n], hyper.ln_gamma[k], hyper.ln_beta[k])
                   for k in range(4)]
    hyper_c, hyper_h = _finish(hyper_gates, hyper_c, hyper.forget_bias, None,
                               lambda v: layer_norm(v, hyper.ln_c_gamma, hyper.ln_c_beta))
    xw, hw = x @ cell.w_xh, h @ cell.w_hh
    gates = []
    for k in range(4):
        pre = cell.bias[k * n:(k + 1) * n]
        for block, source in ((k, xw), (k + 4, hw)):
            z = hyper_h @ cell.w_z[:, block * e:(block + 1) * e] + cell.b_z[block * e:(block + 1) * e]
            pre += (z @ cell.w_alpha[block]) * source[:, k * n:(k + 1) * n]
        pre += (hyper_h @ cell.w_zb[:, k * e:(k + 1) * e]) @ cell.w_beta[k]
        gates.append(layer_norm(pre, cell.ln_gamma[k], cell.ln_beta[k]))
    new_c, new_h = _finish(gates, c, cell.forget_bias, mask,
                           lambda v: layer_norm(v, cell.ln_c_gamma, cell.ln_c_beta))
    return new_h, tf.concat([new_c, new_h, hyper_c, hyper_h], 1)


def _finish(gates: list, c: tf.Tensor, forget_bias: float, mask, norm_cell) -> tuple:
    """LSTM tail: (new cell, new output) from the gates i, j, f, o."""
    i, j, f, o = gates
    g = tf.tanh(j) if mask is None else tf.tanh(j) * mask
    new_c = c * tf.sigmoid(f + forget_bias) + tf.sigmoid(i) * g
    return new_c, tf.tanh(norm_cell(new_c)) * tf.sigmoid(o)


def run_reference(cell: HyperLSTMCell, inputs: tf.Tensor, state: tf.Tensor,
                  mask: Optional[tf.Tensor] = None) -> Tuple[tf.Tensor, tf.Tensor]:
    """`reference_step` over inputs [B, T, D] (Python loop, autodiff): (outputs [B,T,n], final state)."""
    outputs = []
    for t in range(inputs.shape[1]):
        h, state = reference_step(cell, inputs[:, t], state, None if mask is None else mask[t])
        outputs.append(h)
    return tf.stack(outputs, axis=1), state
