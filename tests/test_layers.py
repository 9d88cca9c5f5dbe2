"""layers.py: He-normal, Glorot and orthogonal initial values; the batch norm's moving statistics."""
import numpy as np
import pytest
import tensorflow as tf

import hparams
import layers
from grid_encoder import MultiGraphGCN
from model import SketchGloc


def test_he_normal_has_variance_two_over_fan_in():
    tf.random.set_seed(0)
    w = layers.he_normal([3, 200, 400]).numpy()
    assert abs(w.mean()) < 0.005
    assert w.std() == pytest.approx((2.0 / 200) ** 0.5, rel=0.01)


def test_glorot_uniform_limit_and_orthogonal_gate_blocks():
    tf.random.set_seed(0)
    w = layers.glorot_uniform((30, 50), fan_in=70).numpy()
    limit = (6.0 / (70 + 50)) ** 0.5
    assert w.shape == (30, 50) and np.abs(w).max() <= limit and np.abs(w).max() > 0.9 * limit
    blocks = np.split(layers.lstm_ortho(6).numpy(), 4, axis=1)
    for block in blocks:
        np.testing.assert_allclose(block @ block.T, np.eye(6), atol=1e-5)
    assert not np.allclose(blocks[0], blocks[1])


def test_gcn_and_every_dense_layer_are_he_normal():
    """The original draws the GCN matrices and the mu, s, init-state and output layers from N(0, 2/fan_in)."""
    tf.random.set_seed(1)
    hps = hparams.parse("enc_rnn_size=64,dec_rnn_size=128,z_size=64")
    net = SketchGloc(hps)
    dense = [net.encoder.mu, net.encoder.sigma, net.init_state, net.output_layer]
    for layer in dense:
        fan_in = layer.w.shape[0]
        assert layer.w.numpy().std() == pytest.approx((2.0 / fan_in) ** 0.5, rel=0.05), layer.name
        np.testing.assert_array_equal(layer.b.numpy(), 0.0)
    gcn = MultiGraphGCN(128, 9)
    for w in (gcn.w1, gcn.w2):
        assert w.numpy().std() == pytest.approx((2.0 / 128) ** 0.5, rel=0.02)


def test_batch_norm_normalises_with_biased_and_averages_unbiased_variance():
    """x = [1, 3]: mean 2, biased variance 1, unbiased 2 (TF1's fused kernel keeps n/(n-1))."""
    bn = layers.BatchNorm(1)
    out = bn(tf.constant([[1.0], [3.0]]), training=True).numpy()
    np.testing.assert_allclose(out[:, 0], [-1.0 / np.sqrt(1 + 1e-5), 1.0 / np.sqrt(1 + 1e-5)], rtol=1e-6)
    np.testing.assert_allclose(bn.moving_mean.numpy(), [0.1 * 2.0], rtol=1e-6)
    np.testing.assert_allclose(bn.moving_var.numpy(), [0.9 * 1.0 + 0.1 * 2.0], rtol=1e-6)
    # Evaluation uses the moving averages.
    got = bn(tf.constant([[0.2]]), training=False).numpy()
    np.testing.assert_allclose(got, [[0.0]], atol=1e-6)
