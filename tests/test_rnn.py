"""Tests of rnn.py: cells against numpy references, loops over time, masking, gradients."""
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import rnn  # noqa: E402
from conftest import perturb, rand_state, rand_x, small_cell  # noqa: E402

KINDS = ["lstm", "layer_norm", "hyper"]


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_ln(x, gamma, beta, eps=1e-3):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def np_finish(i, j, f, o, c, forget_bias, norm_c=lambda v: v):
    """LSTM tail: new cell and output from the four gates."""
    new_c = c * sigmoid(f + forget_bias) + sigmoid(i) * np.tanh(j)
    return new_c, np.tanh(norm_c(new_c)) * sigmoid(o)


def np_ln_lstm(x, c, h, w_xh, w_hh, gamma, beta, gamma_c, beta_c, forget_bias=1.0):
    """Layer-norm LSTM step written from the sketch-rnn equations."""
    n = h.shape[1]
    pre = np.concatenate([x, h], 1) @ np.concatenate([w_xh, w_hh], 0)
    blocks = [np_ln(pre[:, k * n:(k + 1) * n], gamma[k], beta[k]) for k in range(4)]
    return np_finish(*blocks, c, forget_bias, lambda v: np_ln(v, gamma_c, beta_c))


def np_vars(cell):
    return {k: v.numpy() for k, v in vars(cell).items() if isinstance(v, tf.Variable)}


# ---------------------------------------------------------------- shapes, factory

@pytest.mark.parametrize("kind,state_size", [("lstm", 8), ("layer_norm", 8), ("hyper", 18)])
def test_shapes_and_state_sizes(kind, state_size):
    cell = small_cell(kind)
    assert cell.state_size == state_size and cell.output_size == 4
    state = cell.zero_state(2)
    assert state.shape == (2, state_size) and state.dtype == tf.float32
    h, new_state = cell(tf.constant(rand_x(2, 3, 0)), state)
    assert h.shape == (2, 4) and new_state.shape == (2, state_size)
    np.testing.assert_array_equal(cell.output_from_state(new_state).numpy(), h.numpy())
    outputs, final = rnn.run_rnn(cell, rand_x(2, 3, 1, steps=6), tf.constant([6, 2]))
    assert outputs.shape == (2, 6, 4) and final.shape == (2, state_size)


def test_make_cell_kinds_and_unknown():
    assert type(small_cell("lstm")) is rnn.LSTMCell
    assert type(small_cell("layer_norm")) is rnn.LayerNormLSTMCell
    hyper = small_cell("hyper")
    assert isinstance(hyper, rnn.HyperLSTMCell)
    assert hyper.hyper_num_units == 5 and hyper.hyper_embedding_size == 2
    with pytest.raises(ValueError, match="gru"):
        rnn.make_cell("gru", 4, 3)


# ---------------------------------------------------------------- one step vs numpy

def test_lstm_step_matches_numpy():
    cell = small_cell("lstm", forget_bias=1.0)
    cell.bias.assign(np.random.RandomState(3).normal(size=16).astype(np.float32))
    x, state = rand_x(2, 3, 0), rand_state(cell, 2, 1)
    c, h = state[:, :4], state[:, 4:]
    pre = np.concatenate([x, h], 1) @ np.concatenate([cell.w_xh.numpy(), cell.w_hh.numpy()], 0)
    pre += cell.bias.numpy()
    i, j, f, o = np.split(pre, 4, axis=1)
    new_c, new_h = np_finish(i, j, f, o, c, 1.0)
    got_h, got_state = cell(tf.constant(x), tf.constant(state))
    np.testing.assert_allclose(got_h.numpy(), new_h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_state.numpy(), np.concatenate([new_c, new_h], 1),
                               rtol=1e-5, atol=1e-6)


def test_layer_norm_lstm_step_matches_numpy():
    cell = small_cell("layer_norm")
    perturb(cell, 4)
    x, state = rand_x(2, 3, 0), rand_state(cell, 2, 1)
    v = np_vars(cell)
    new_c, new_h = np_ln_lstm(x, state[:, :4], state[:, 4:], v["w_xh"], v["w_hh"],
                              v["ln_gamma"], v["ln_beta"], v["ln_c_gamma"], v["ln_c_beta"])
    got_h, got_state = cell(tf.constant(x), tf.constant(state))
    np.testing.assert_allclose(got_h.numpy(), new_h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_state.numpy(), np.concatenate([new_c, new_h], 1),
                               rtol=1e-5, atol=1e-5)


def np_hyper_step(cell, x, state):
    """HyperLSTM step with one (W_z, b_z, W_alpha[, W_zb, W_beta]) set per block, as sketch-rnn."""
    n, big_n, e = cell.num_units, cell.hyper_num_units, cell.hyper_embedding_size
    v, hv = np_vars(cell), np_vars(cell.hyper_cell)
    c, h = state[:, :n], state[:, n:2 * n]
    hc, hh = state[:, 2 * n:2 * n + big_n], state[:, 2 * n + big_n:]
    hyper_c, hyper_h = np_ln_lstm(
        np.concatenate([x, h], 1), hc, hh, np.concatenate([hv["w_xh"], v["w_hyper_h"]], 0),
        hv["w_hh"], hv["ln_gamma"], hv["ln_beta"], hv["ln_c_gamma"], hv["ln_c_beta"])
    xh, hh_main = x @ v["w_xh"], h @ v["w_hh"]
    gates = []
    for k in range(4):
        part = []
        for side, (block, kk) in enumerate([(xh, k), (hh_main, k + 4)]):
            zw = hyper_h @ v["w_z"][:, kk * e:(kk + 1) * e] + v["b_z"][kk * e:(kk + 1) * e]
            res = (zw @ v["w_alpha"][kk]) * block[:, k * n:(k + 1) * n]
            if side == 1:
                zb = hyper_h @ v["w_zb"][:, k * e:(k + 1) * e]
                res = res + zb @ v["w_beta"][k]
            part.append(res)
        pre = part[0] + part[1] + v["bias"][k * n:(k + 1) * n]
        gates.append(np_ln(pre, v["ln_gamma"][k], v["ln_beta"][k]))
    new_c, new_h = np_finish(*gates, c, cell.forget_bias,
                             lambda u: np_ln(u, v["ln_c_gamma"], v["ln_c_beta"]))
    return new_h, np.concatenate([new_c, new_h, hyper_c, hyper_h], 1)


def test_hyper_initial_values_and_formula():
    """At init: scale = 0.1 on all 8 blocks, additive term 0, as the docstring says."""
    cell = small_cell("hyper")  # batch 2, input 3, units 4, hyper 5, embedding 2
    v = np_vars(cell)
    np.testing.assert_array_equal(v["w_z"], 0.0)
    np.testing.assert_array_equal(v["b_z"], 1.0)
    np.testing.assert_allclose(v["w_alpha"], 0.1 / 2)
    np.testing.assert_array_equal(v["w_beta"], 0.0)
    np.testing.assert_array_equal(v["bias"], 0.0)
    assert 0 < np.abs(v["w_zb"]).max() < 0.06  # N(0, 0.01^2): 5 sigma bound
    assert v["w_alpha"].shape == (8, 2, 4) and v["w_z"].shape == (5, 16)
    x, state = rand_x(2, 3, 0), rand_state(cell, 2, 1)
    c, h = state[:, :4], state[:, 4:8]
    pre = 0.1 * (x @ v["w_xh"] + h @ v["w_hh"])
    gates = [np_ln(pre[:, k * 4:(k + 1) * 4], 1.0, 0.0) for k in range(4)]
    new_c, new_h = np_finish(*gates, c, 1.0, lambda u: np_ln(u, 1.0, 0.0))
    hv = np_vars(cell.hyper_cell)
    hyper_c, hyper_h = np_ln_lstm(np.concatenate([x, h], 1), state[:, 8:13], state[:, 13:],
                                  np.concatenate([hv["w_xh"], v["w_hyper_h"]], 0), hv["w_hh"],
                                  np.ones([4, 5]), np.zeros([4, 5]), 1.0, 0.0)
    got_h, got_state = cell(tf.constant(x), tf.constant(state))
    np.testing.assert_allclose(got_h.numpy(), new_h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_state.numpy(),
                               np.concatenate([new_c, new_h, hyper_c, hyper_h], 1),
                               rtol=1e-5, atol=1e-5)


def test_hyper_step_matches_blockwise_numpy_with_random_weights():
    cell = small_cell("hyper", forget_bias=0.7)
    perturb(cell, 5)
    x, state = rand_x(2, 3, 0), rand_state(cell, 2, 1)
    want_h, want_state = np_hyper_step(cell, x, state)
    got_h, got_state = cell(tf.constant(x), tf.constant(state))
    np.testing.assert_allclose(got_h.numpy(), want_h, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_state.numpy(), want_state, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- initialisation

@pytest.mark.parametrize("kind", KINDS)
def test_recurrent_blocks_orthogonal(kind):
    cell = small_cell(kind, num_units=6)
    mats = [cell.w_hh] + ([cell.hyper_cell.w_hh] if kind == "hyper" else [])
    for w in mats:
        n = w.shape[0]
        assert w.shape == (n, 4 * n)
        for k in range(4):
            q = w.numpy()[:, k * n:(k + 1) * n]
            np.testing.assert_allclose(q.T @ q, np.eye(n), atol=1e-5)
        assert not np.allclose(w.numpy()[:, :n], w.numpy()[:, n:2 * n])


def test_input_weights_glorot_range():
    cell = rnn.LSTMCell(64, 32)
    limit = np.sqrt(6.0 / (32 + 256))
    w = cell.w_xh.numpy()
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.9 * limit
    assert abs(w.std() - limit / np.sqrt(3)) < 0.05 * limit


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("forget_bias", [0.0, 1.0])
def test_forget_bias(kind, forget_bias):
    """With zero weights every gate pre-activation is 0, so c' = c * sigmoid(forget_bias)."""
    cell = small_cell(kind, forget_bias=forget_bias)
    cell.w_xh.assign(tf.zeros_like(cell.w_xh))
    cell.w_hh.assign(tf.zeros_like(cell.w_hh))
    state = rand_state(cell, 2, 0)
    _, new_state = cell(tf.constant(rand_x(2, 3, 1)), tf.constant(state))
    np.testing.assert_allclose(new_state.numpy()[:, :4], state[:, :4] * sigmoid(forget_bias),
                               rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- recurrent dropout

def clone(cell, kind, **kwargs):
    other = small_cell(kind, num_units=cell.num_units, input_size=cell.input_size, **kwargs)
    for dst, src in zip(other.trainable_variables, cell.trainable_variables):
        dst.assign(src)
    return other


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_only_in_training_and_only_on_g(kind):
    cell = small_cell(kind, num_units=32, use_recurrent_dropout=True, dropout_keep_prob=0.5)
    plain = clone(cell, kind, use_recurrent_dropout=True, dropout_keep_prob=1.0)
    x, state = tf.constant(rand_x(8, 3, 0)), rand_state(cell, 8, 1)
    zero_c = state.copy()
    zero_c[:, :32] = 0.0
    h_eval, s_eval = cell(x, tf.constant(state), training=False)
    h_plain, s_plain = plain(x, tf.constant(state), training=True)
    np.testing.assert_allclose(h_eval.numpy(), h_plain.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(s_eval.numpy(), s_plain.numpy(), rtol=1e-6, atol=1e-7)
    # c' = memory + sigmoid(i) * g; memory (c * sigmoid(f)) is never dropped.
    input_part = cell(x, tf.constant(zero_c))[1].numpy()[:, :32]
    memory = s_eval.numpy()[:, :32] - input_part
    s_train = cell(x, tf.constant(state), training=True)[1].numpy()
    ratio = (s_train[:, :32] - memory) / input_part
    kept = np.isclose(ratio, 2.0, atol=1e-3)
    dropped = np.isclose(ratio, 0.0, atol=1e-3)
    assert np.all(kept | dropped) and 0.3 < kept.mean() < 0.7


# ---------------------------------------------------------------- loops over time

def python_steps(cell, x, state, length):
    """Step one sequence with __call__ for `length` steps."""
    outs = []
    for t in range(length):
        h, state = cell(tf.constant(x[:, t]), state)
        outs.append(h.numpy())
    return outs, state.numpy()


@pytest.mark.parametrize("kind", KINDS)
def test_run_rnn_lengths_match_python_steps(kind):
    cell = small_cell(kind)
    perturb(cell, 7)
    x = rand_x(4, 3, 0, steps=6)
    lengths = np.array([6, 3, 0, 1], np.int32)
    init = rand_state(cell, 4, 2)
    spec = [tf.TensorSpec([None, None, 3]), tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None, cell.state_size])]
    run = tf.function(lambda a, b, s: rnn.run_rnn(cell, a, b, s), input_signature=spec, autograph=False)
    outputs, final = (t.numpy() for t in run(x, lengths, init))
    for b, length in enumerate(lengths):
        outs, state = python_steps(cell, x[b:b + 1], tf.constant(init[b:b + 1]), length)
        if length:
            np.testing.assert_allclose(outputs[b, :length], np.concatenate(outs), atol=1e-5)
        np.testing.assert_array_equal(outputs[b, length:], 0.0)
        np.testing.assert_allclose(final[b], state[0], atol=1e-5)
    np.testing.assert_array_equal(final[2], init[2])  # length 0 keeps the initial state


@pytest.mark.parametrize("kind", KINDS)
def test_project_inputs_step_projected_equal_call(kind):
    cell = small_cell(kind)
    perturb(cell, 8)
    x = rand_x(3, 3, 0, steps=5)
    state = tf.constant(rand_state(cell, 3, 1))
    projected = cell.project_inputs(tf.constant(x))
    for t in range(5):
        h_fast, s_fast = cell.step_projected(projected[:, t], state)
        h_call, s_call = cell(tf.constant(x[:, t]), state)
        np.testing.assert_allclose(h_fast.numpy(), h_call.numpy(), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(s_fast.numpy(), s_call.numpy(), rtol=1e-6, atol=1e-6)
        state = s_call
    outputs, final = rnn.run_rnn(cell, x, None, tf.constant(rand_state(cell, 3, 1)))
    outs, want = python_steps(cell, x, tf.constant(rand_state(cell, 3, 1)), 5)
    np.testing.assert_allclose(outputs.numpy(), np.stack(outs, 1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(final.numpy(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["lstm", "hyper"])
def test_bidirectional_last(kind):
    fw, bw = small_cell(kind), small_cell(kind)
    x = rand_x(4, 3, 0, steps=5)
    x[1, 2:] = 99.0  # padding must not leak into either direction
    lengths = np.array([5, 2, 0, 4], np.int32)
    got = rnn.bidirectional_last(fw, bw, tf.constant(x), tf.constant(lengths)).numpy()
    assert got.shape == (4, 8) and np.all(np.isfinite(got))
    np.testing.assert_array_equal(got[2], 0.0)
    for b, length in enumerate(lengths):
        if not length:
            continue
        row = x[b:b + 1, :length]
        _, s_fw = python_steps(fw, row, fw.zero_state(1), length)
        _, s_bw = python_steps(bw, row[:, ::-1].copy(), bw.zero_state(1), length)
        np.testing.assert_allclose(got[b, :4], s_fw[0, 4:8], atol=1e-5)
        np.testing.assert_allclose(got[b, 4:], s_bw[0, 4:8], atol=1e-5)
    # Reversing the valid parts and swapping the cells swaps the two halves.
    rev = tf.reverse_sequence(tf.constant(x), lengths, seq_axis=1, batch_axis=0)
    swapped = rnn.bidirectional_last(bw, fw, rev, tf.constant(lengths)).numpy()
    np.testing.assert_allclose(swapped, np.concatenate([got[:, 4:], got[:, :4]], 1), atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_bidirectional_last_equals_masked_loops_with_gradients(kind):
    """The length-sorted shrinking loop gives run_rnn's masked results and gradients.

    Stroke-node lengths: unsorted, ties, one empty node, one long node (60 steps),
    inside a tf.function as in training, weights randomised so no term hides.
    """
    fw, bw = small_cell(kind), small_cell(kind)
    perturb(fw, 1)
    perturb(bw, 2)
    lengths = tf.constant([3, 60, 0, 7, 3, 1, 12], tf.int32)
    x = tf.constant(rand_x(7, 3, 0, steps=60))

    def masked(x):
        _, s_fw = rnn.run_rnn(fw, x, lengths)
        _, s_bw = rnn.run_rnn(bw, tf.reverse_sequence(x, lengths, seq_axis=1, batch_axis=0), lengths)
        return tf.concat([fw.output_from_state(s_fw), bw.output_from_state(s_bw)], 1)

    def value_and_grads(fn):
        variables = fw.trainable_variables + bw.trainable_variables
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = fn(x)
            loss = tf.reduce_sum(tf.sin(3.0 * out))
        return out, tape.gradient(loss, [x] + list(variables))

    want, want_grads = tf.function(lambda: value_and_grads(masked), autograph=False)()
    got, got_grads = tf.function(lambda: value_and_grads(
        lambda x: rnn.bidirectional_last(fw, bw, x, lengths)), autograph=False)()
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got.numpy()[2], 0.0)
    for g, w in zip(got_grads, want_grads):
        np.testing.assert_allclose(tf.convert_to_tensor(g).numpy(), tf.convert_to_tensor(w).numpy(),
                                   rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- gradients, XLA

@pytest.mark.parametrize("kind", KINDS)
def test_gradients_finite_and_nonzero(kind):
    cell = small_cell(kind, use_recurrent_dropout=True)
    x = tf.constant(rand_x(3, 3, 0, steps=5))
    lengths = tf.constant([5, 0, 2])
    with tf.GradientTape() as tape:
        outputs, final = rnn.run_rnn(cell, x, lengths, training=True)
        loss = tf.reduce_sum(tf.square(outputs - 0.3)) + tf.reduce_sum(final)
    grads = tape.gradient(loss, cell.trainable_variables)
    for var, grad in zip(cell.trainable_variables, grads):
        assert grad is not None, var.name
        assert np.all(np.isfinite(grad.numpy())), var.name
        # W_zb only reaches the loss through W_beta, which starts at 0.
        if "W_zb" not in var.name:
            assert np.any(grad.numpy() != 0), var.name


def test_run_rnn_under_xla_matches_graph():
    cell = small_cell("hyper")
    perturb(cell, 9)
    x = tf.constant(rand_x(3, 3, 0, steps=6))
    lengths = tf.constant([6, 1, 0])

    def loss_and_grads(a, b):
        with tf.GradientTape() as tape:
            outputs, final = rnn.run_rnn(cell, a, b)
            loss = tf.reduce_sum(outputs) + tf.reduce_sum(final)
        return loss, tape.gradient(loss, cell.trainable_variables)

    loss_g, grads_g = tf.function(loss_and_grads, autograph=False)(x, lengths)
    loss_x, grads_x = tf.function(loss_and_grads, jit_compile=True, autograph=False)(x, lengths)
    np.testing.assert_allclose(loss_x.numpy(), loss_g.numpy(), rtol=1e-4)
    for gx, gg in zip(grads_x, grads_g):
        np.testing.assert_allclose(gx.numpy(), gg.numpy(), rtol=1e-3, atol=1e-5)
