"""grid_encoder.py: the static-shape encoder that `jit_compile=True` selects compiles with XLA
and gives the default (padding-skipping) encoder's codes, loss and gradients."""
import numpy as np
import pytest
import tensorflow as tf

import distribute
import graph_builder
import hparams
import inference
import model as model_lib
from conftest import random_sketch

TINY = ("enc_rnn_size=8,dec_rnn_size=16,z_size=4,hyper_num_units=8,hyper_embedding_size=4,"
        "dec_num_mixture=3,use_recurrent_dropout=False,batch_size=4")


def batch_of(shape_buckets: int, lengths=(9, 14, 7, 20)) -> dict:
    """Random sketches of several node counts (so some node slots and points are padding)."""
    rng = np.random.default_rng(4)
    strokes = [random_sketch(rng, n) for n in lengths]
    batch = graph_builder.build_batch(strokes, [0, 1, 0, 1], max_points=25, max_nodes=10,
                                      max_seq_len=30, shape_buckets=shape_buckets)
    return {k: tf.constant(v) for k, v in batch.items()}


def twin_models(extra: str = ""):
    """(default model, jit_compile model) with the same (seeded) weights, noise off."""
    # Seeded: over 6 seeds the largest gradient differences were 2-6e-6 of the gradient's
    # largest entry (this seed: 2e-6), so the tolerances below hold with a margin.
    tf.random.set_seed(0)
    plain = model_lib.SketchGloc(hparams.parse(TINY + extra))
    jit = model_lib.SketchGloc(hparams.parse(TINY + extra + ",jit_compile=True"))
    for a, b in zip(plain.variables, jit.variables):
        b.assign(a)
    plain.encoder.sample_noise = jit.encoder.sample_noise = False
    return plain, jit


def loss_and_grads(net):
    """batch -> (summed training loss, gradients of every trainable variable)."""
    def run(batch):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(net.sketch_losses(batch, training=True))
        return loss, tape.gradient(loss, net.trainable_variables)
    return run


def test_the_path_follows_jit_compile():
    plain, jit = twin_models()
    assert not plain.encoder.static_shapes and jit.encoder.static_shapes


@pytest.mark.parametrize("buckets", [0, 2])
def test_compiled_static_encoder_equals_the_default_one(buckets):
    batch = batch_of(buckets)
    # The padding the static encoder computes: empty node slots and points past a node's end.
    lengths = batch["piece_lengths"].numpy()
    assert (lengths == 0).any() and (0 < lengths).any() and (lengths < batch["points"].shape[2]).any()
    plain, jit = twin_models()
    for training in (True, False):
        want = plain.encode(batch, training)[0]
        got = tf.function(lambda b: jit.encode(b, training)[0], jit_compile=True, autograph=False)(batch)
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)
    want_loss, want_grads = loss_and_grads(plain)(batch)
    assert sum(g is not None for g in want_grads) > 20
    # Uncompiled, only the encoder differs: equal to round-off.
    assert_same_loss_and_grads(loss_and_grads(jit)(batch), (want_loss, want_grads), plain, 1e-5)
    if buckets:
        return  # the bucketed step under XLA: test_learner_step_compiles_with_jit_and_shape_buckets
    # Under XLA the decoder's float32 sums are reordered too (seen: 1.6e-5 with other weights).
    compiled = tf.function(loss_and_grads(jit), jit_compile=True, autograph=False)(batch)
    assert_same_loss_and_grads(compiled, (want_loss, want_grads), plain, 5e-5)


def assert_same_loss_and_grads(got, want, net, tol):
    """Losses within `tol` relative, each gradient within `tol` of its largest entry (or of 1)."""
    np.testing.assert_allclose(float(got[0]), float(want[0]), rtol=tol)
    for g, w, v in zip(got[1], want[1], net.trainable_variables):
        assert (w is None) == (g is None), v.name
        if w is not None:
            scale = max(1.0, float(tf.reduce_max(tf.abs(w))))
            np.testing.assert_allclose(g.numpy() / scale, w.numpy() / scale, atol=tol, err_msg=v.name)


def test_a_jit_models_uncompiled_inference_encoder_gives_the_same_codes():
    # inference.make_encoder does not use XLA; a checkpoint trained with jit_compile=True
    # restores into a model on the static path, which must still encode (and so generate).
    batch = batch_of(0)
    plain, jit = twin_models()
    np.testing.assert_allclose(inference.make_encoder(jit)(batch), inference.make_encoder(plain)(batch),
                               atol=1e-5)


def test_mixed_precision_static_encoder_compiles_and_stays_close():
    batch = batch_of(2)
    plain, jit = twin_models(",precision=mixed_bfloat16")
    want = plain.encode(batch, True)[0]
    got = tf.function(lambda b: jit.encode(b, True)[0], jit_compile=True, autograph=False)(batch)
    assert got.dtype == tf.float32
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=0.05)


@pytest.mark.slow
def test_learner_step_compiles_with_jit_and_shape_buckets():
    batch = batch_of(2)
    plain = distribute.Learner(hparams.parse(TINY + ",shape_buckets=2"))
    jit = distribute.Learner(hparams.parse(TINY + ",jit_compile=True,shape_buckets=2"))
    for a, b in zip(plain.model.variables, jit.model.variables):
        b.assign(a)
    plain.model.encoder.sample_noise = jit.model.encoder.sample_noise = False
    loss = float(jit.train_step(batch))
    assert np.isfinite(loss)
    # The returned loss is the one before the update: the default step's, to round-off.
    assert loss == pytest.approx(float(plain.train_step(batch)), rel=1e-5)
    hlo = jit._step_fn.experimental_get_compiler_ir(batch)(stage="hlo")
    assert "while" in hlo
