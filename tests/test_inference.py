"""inference.py: restoring a model, its one compiled encoder, the point chosen at a decoder step
(greedy and at temperature tau, by statistics) and batched generation."""
import os

import numpy as np
import pytest
import tensorflow as tf

import checkpoints
import hparams
import inference
from inference import Sampler, SketchEncoder, choose_point
from model import SketchGloc

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


# ------------------------------------------------------------ generation

@pytest.fixture(scope="module")
def untrained_sampler():
    tf.random.set_seed(3)
    hps = hparams.parse("enc_rnn_size=8,dec_rnn_size=16,z_size=6,hyper_num_units=16,"
                        "hyper_embedding_size=4,dec_num_mixture=4,max_seq_len=25,max_strokes_num=8,"
                        "max_stroke_len=5")
    codes = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32) * 2
    return Sampler(SketchGloc(hps)), codes


def test_greedy_generation_is_deterministic(untrained_sampler):
    sampler, codes = untrained_sampler
    seq1, len1 = sampler.generate(codes, 25, greedy=True)
    seq2, len2 = sampler.generate(codes, 25, greedy=True, seed=99)  # the seed plays no role
    np.testing.assert_array_equal(seq1, seq2)
    np.testing.assert_array_equal(len1, len2)
    assert seq1.shape == (5, 25, 5)
    # Every row is one-hot in the pen state, and rows from the end on are end rows.
    np.testing.assert_array_equal(seq1[..., 2:].sum(-1), 1.0)
    for b, n in enumerate(len1):
        assert np.all(seq1[b, n:, 4] == 1) and np.all(seq1[b, :n, 4] == 0)


def test_temperature_sampling_depends_only_on_the_seed(untrained_sampler):
    sampler, codes = untrained_sampler
    a, _ = sampler.generate(codes, 25, greedy=False, temperature=0.5, seed=1)
    b, _ = sampler.generate(codes, 25, greedy=False, temperature=0.5, seed=1)
    c, _ = sampler.generate(codes, 25, greedy=False, temperature=0.5, seed=2)
    g, _ = sampler.generate(codes, 25, greedy=True)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, g)


def test_the_sampler_and_its_sketch_encoder_share_one_compiled_encoder(untrained_sampler):
    sampler, _ = untrained_sampler
    encoder = sampler.sketch_encoder("ckpt-1")
    assert encoder._encoder is sampler.encode and encoder.checkpoint == "ckpt-1"
    sketches = [np.array([[1, 0, 0], [0, 1, 1], [2, 2, 1]], np.float32), np.array([[1, 1, 1]], np.float32)]
    own = SketchEncoder(sampler.model)  # a separate trace gives the same codes
    np.testing.assert_array_equal(encoder.encode(sketches), own.encode(sketches))
    assert encoder.encode([]).shape == (0, 6)


# ------------------------------------------------------------------ restore

def test_load_model_restores_the_best_checkpoint(tiny_run, tiny_best, tmp_path):
    _, _, best = checkpoints.check_folder(tiny_run)
    assert best == os.path.join(tiny_run, tiny_best)
    assert checkpoints.check_folder(tiny_run, int(tiny_best.split("-")[1]))[2] == best
    assert checkpoints.check_folder(best)[2] == best  # a prefix names its checkpoint itself
    with pytest.raises(checkpoints.CheckpointError, match="no checkpoint ckpt-99"):
        checkpoints.check_folder(tiny_run, 99)
    model, hps, extras, prefix = inference.load_model(tiny_run)
    assert prefix == best and extras["scale_factor"] > 0 and hps.z_size == 8
    saved = tf.train.load_variable(best, "model/output_layer/w/.ATTRIBUTES/VARIABLE_VALUE")
    np.testing.assert_array_equal(model.output_layer.w.numpy(), saved)

    # Same files, another z_size in model_config.json: a one-line error, not a crash.
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in os.listdir(tiny_run):
        if name.startswith(tiny_best + ".") or name == "checkpoint":
            (copy / name).write_bytes(open(os.path.join(tiny_run, name), "rb").read())
    hparams.save(hps.replace(z_size=9), str(copy / "model_config.json"), **extras)
    with pytest.raises(checkpoints.CheckpointError, match="does not match model_config.json"):
        inference.load_model(str(copy))
    os.remove(copy / "checkpoint")
    missing = f"state file 'checkpoint' is missing.*found: {tiny_best} "
    with pytest.raises(checkpoints.CheckpointError, match=missing):
        checkpoints.check_folder(str(copy))
