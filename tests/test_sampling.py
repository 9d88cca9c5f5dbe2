"""sampling.py: the point chosen at a decoder step, greedy and at temperature tau, by statistics."""
import numpy as np
import pytest
import tensorflow as tf

from sampling import choose_point

ROWS = 40000


def step_params(pi, pen, sx=(2.0, 1.0), sy=(3.0, 1.0), rho=(0.5, 0.0)) -> dict:
    """GMM/pen parameters of a 2-component step, the same on every one of ROWS rows."""
    rows = lambda v: tf.constant(np.tile(np.asarray(v, np.float32), (ROWS, 1)))  # noqa: E731
    return {"log_pi": rows(np.log(pi)), "pen_logits": rows(np.log(pen)),
            "mu_x": rows([0.0, 100.0]), "mu_y": rows([5.0, -100.0]),
            "log_sx": rows(np.log(sx)), "log_sy": rows(np.log(sy)), "rho": rows(rho)}


def test_temperature_scales_probabilities_and_standard_deviations():
    """tau 0.5: p_k^(1/tau) renormalised; sigma * tau (not sqrt(tau)); rho unchanged."""
    tau = 0.5
    pi, pen = np.array([0.7, 0.3]), np.array([0.6, 0.3, 0.1])
    xy, pen_idx = choose_point(step_params(pi, pen), False, tf.constant(tau), tf.constant(3),
                               tf.constant(0))
    xy, pen_idx = xy.numpy(), pen_idx.numpy()
    first = xy[:, 0] < 50  # component 0 sits at x = 0, component 1 at x = 100
    want_pi = pi ** (1 / tau) / np.sum(pi ** (1 / tau))
    assert first.mean() == pytest.approx(want_pi[0], abs=0.01)
    want_pen = pen ** (1 / tau) / np.sum(pen ** (1 / tau))
    np.testing.assert_allclose(np.bincount(pen_idx, minlength=3) / ROWS, want_pen, atol=0.01)
    x, y = xy[first, 0], xy[first, 1]
    assert x.std() == pytest.approx(2.0 * tau, rel=0.03)
    assert y.std() == pytest.approx(3.0 * tau, rel=0.03)
    assert (x.mean(), y.mean()) == pytest.approx((0.0, 5.0), abs=0.05)
    assert np.corrcoef(x, y)[0, 1] == pytest.approx(0.5, abs=0.02)


def test_sampling_is_seeded_by_seed_and_step():
    params = step_params([0.5, 0.5], [0.4, 0.4, 0.2])
    draw = lambda seed, step: choose_point(params, False, tf.constant(0.24), tf.constant(seed),  # noqa: E731
                                           tf.constant(step))[0].numpy()
    np.testing.assert_array_equal(draw(1, 4), draw(1, 4))
    assert not np.array_equal(draw(1, 4), draw(1, 5))
    assert not np.array_equal(draw(1, 4), draw(2, 4))


def test_greedy_is_the_most_probable_components_mean():
    xy, pen_idx = choose_point(step_params([0.3, 0.7], [0.2, 0.5, 0.3]), True, tf.constant(1.0),
                               tf.constant(0), tf.constant(0))
    np.testing.assert_array_equal(xy.numpy(), np.tile([100.0, -100.0], (ROWS, 1)))
    np.testing.assert_array_equal(pen_idx.numpy(), 1)
