"""hyper_backward.py: the hand-written decoder gradient against autodiff and the per-block reference."""
import numpy as np
import pytest
import tensorflow as tf

import hyper_backward as hb
import rnn
from conftest import perturb, rand_state, rand_x, small_cell


def run_and_grads(cell, x, init, runner):
    """Outputs, final state and gradients w.r.t. inputs, initial state and every variable."""
    x, init = tf.constant(x), tf.constant(init)
    with tf.GradientTape() as tape:
        tape.watch([x, init])
        outputs, final = runner(x, init)
        weights = np.random.RandomState(3).normal(size=outputs.shape).astype(np.float32)
        loss = tf.reduce_sum(tf.square(outputs) * weights) + tf.reduce_sum(final * final[::-1])
    grads = tape.gradient(loss, [x, init] + list(cell.trainable_variables))
    return outputs.numpy(), final.numpy(), [g.numpy() for g in grads]


def dropout_masks(steps: int, batch: int, units: int, keep: float = 0.7):
    """Fixed recurrent-dropout masks [T, B, n], scaled by 1/keep."""
    kept = np.random.RandomState(2).uniform(size=(steps, batch, units)) < keep
    return tf.constant(kept.astype(np.float32) / keep)


def assert_same(fast, ref, cell, exact_forward=False):
    """Equal outputs and final states; gradients within 1e-5 relative to their largest entry."""
    check = np.testing.assert_array_equal if exact_forward else (
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5))
    check(fast[0], ref[0])
    check(fast[1], ref[1])
    names = ["inputs", "initial_state"] + [v.name for v in cell.trainable_variables]
    for name, got, want in zip(names, fast[2], ref[2]):
        assert np.abs(want).max() > 0, name
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max(), err_msg=name)


@pytest.mark.parametrize("dropout", [False, True])
def test_fast_path_equals_autodiff_of_run_rnn(dropout, monkeypatch):
    """Same forward arithmetic as run_rnn (bit for bit), same gradients (same dropout masks)."""
    cell = small_cell("hyper", num_units=6, hyper_num_units=7, hyper_embedding_size=3,
                      use_recurrent_dropout=dropout, dropout_keep_prob=0.7)
    perturb(cell, 11)
    x, init = rand_x(3, 3, 0, steps=5), rand_state(cell, 3, 1)
    masks = dropout_masks(5, 3, 6) if dropout else None
    assert hb.applies(cell, tf.constant(x))
    fast = run_and_grads(cell, x, init, lambda a, b: hb.run(cell, a, b, True, masks))
    if dropout:
        steps = iter(range(5))
        monkeypatch.setattr(tf.nn, "dropout", lambda g, rate: g * masks[next(steps)])
    ref = run_and_grads(cell, x, init, lambda a, b: rnn.run_rnn(cell, a, None, b, training=dropout))
    assert_same(fast, ref, cell, exact_forward=True)


def test_fast_path_equals_the_per_block_reference_at_a_real_length():
    """120 steps (a QuickDraw sketch's length), random weights, recurrent dropout masks."""
    cell = small_cell("hyper", num_units=8, hyper_num_units=6, hyper_embedding_size=3,
                      use_recurrent_dropout=True, dropout_keep_prob=0.7)
    perturb(cell, 12)
    for v in cell.trainable_variables:  # keep 120 steps of random weights in a sane range
        v.assign(v * 0.5)
    x, init = rand_x(4, 3, 0, steps=120), rand_state(cell, 4, 1)
    masks = dropout_masks(120, 4, 8)
    fast = run_and_grads(cell, x, init, lambda a, b: hb.run(cell, a, b, True, masks))
    ref = run_and_grads(cell, x, init, lambda a, b: hb.run_reference(cell, a, b, masks))
    assert_same(fast, ref, cell)


def test_reference_step_is_the_cell_step():
    cell = small_cell("hyper", forget_bias=0.7)
    perturb(cell, 5)
    x, state = tf.constant(rand_x(2, 3, 0)), tf.constant(rand_state(cell, 2, 1))
    want_h, want_state = cell(x, state)
    got_h, got_state = hb.reference_step(cell, x, state)
    np.testing.assert_allclose(got_h, want_h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_state, want_state, rtol=1e-5, atol=1e-6)


def test_applies_only_to_the_decoder_case():
    x = tf.constant(rand_x(2, 3, 0, steps=4))
    assert hb.applies(small_cell("hyper"), x)
    assert not hb.applies(small_cell("layer_norm"), x)
    assert not hb.applies(small_cell("hyper"), tf.cast(x, tf.bfloat16))
    plain = rnn.HyperLSTMCell(4, 3, hyper_num_units=5, hyper_embedding_size=2, use_layer_norm=False)
    assert not hb.applies(plain, x)
