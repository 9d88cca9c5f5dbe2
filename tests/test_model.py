"""model.py / grid_encoder.py: the GMM loss against numpy, masking, padding, overfitting, restore."""
import math

import numpy as np
import pytest
import tensorflow as tf

import hparams
import model as model_lib
from conftest import make_batch, random_sketch
from grid_encoder import MultiGraphGCN

TINY = hparams.parse("enc_rnn_size=8,dec_rnn_size=16,z_size=4,hyper_num_units=8,"
                     "hyper_embedding_size=4,dec_num_mixture=3,use_recurrent_dropout=False,batch_size=4")


def test_batch_spec_is_what_graph_builder_builds():
    """Every key of a batch is in batch_spec with a compatible shape and dtype, and nothing else."""
    batch, spec = make_batch(TINY), model_lib.batch_spec()
    assert set(batch) == set(spec)
    for key, value in batch.items():
        assert spec[key].is_compatible_with(value), key


def numpy_loss(out, targets, num_mixture, training):
    """float64 reference of METHOD.md §7 written from the formulas."""
    out, targets = out.astype(np.float64), targets.astype(np.float64)
    pen_logits, rest = out[..., :3], out[..., 3:]
    pi, mx, my, lsx, lsy, rho = np.split(rest, 6, axis=-1)
    pi = np.exp(pi - pi.max(-1, keepdims=True))
    pi /= pi.sum(-1, keepdims=True)
    sx, sy, rho = np.exp(lsx), np.exp(lsy), np.tanh(rho)
    x, y = targets[..., 0:1], targets[..., 1:2]
    zx, zy = (x - mx) / sx, (y - my) / sy
    z = zx ** 2 + zy ** 2 - 2 * rho * zx * zy
    dens = np.exp(-z / (2 * (1 - rho ** 2))) / (2 * math.pi * sx * sy * np.sqrt(1 - rho ** 2))
    mask = 1 - targets[..., 4]
    offset = -np.log((pi * dens).sum(-1) + 1e-6) * mask
    logp = pen_logits - np.log(np.exp(pen_logits).sum(-1, keepdims=True))
    pen = -(targets[..., 2:5] * logp).sum(-1)
    if not training:
        pen = pen * mask
    return (offset + pen).sum(1).mean()


@pytest.mark.parametrize("training", [True, False])
def test_gmm_loss_matches_float64_reference(training):
    rng = np.random.default_rng(1)
    m = 5
    out = rng.normal(size=(3, 7, 3 + 6 * m)).astype(np.float32)
    targets = np.zeros((3, 7, 5), np.float32)
    targets[..., :2] = rng.normal(size=(3, 7, 2))
    targets[:, :5, 2] = 1
    targets[:, 5:, 4] = 1  # padding rows
    got = model_lib.reconstruction_loss(model_lib.split_params(tf.constant(out), m),
                                        tf.constant(targets), training)
    np.testing.assert_allclose(float(got), numpy_loss(out, targets, m, training), rtol=1e-5)


def test_padding_steps_add_no_offset_loss():
    rng = np.random.default_rng(2)
    out = rng.normal(size=(2, 6, 3 + 6 * 2)).astype(np.float32)
    targets = np.zeros((2, 6, 5), np.float32)
    targets[:, :3, 2] = 1
    targets[:, 3:, 4] = 1
    params = model_lib.split_params(tf.constant(out), 2)
    base = float(model_lib.reconstruction_loss(params, tf.constant(targets), False))
    targets[:, 3:, :2] = 1e3  # far-away offsets on padding must not matter
    assert float(model_lib.reconstruction_loss(params, tf.constant(targets), False)) == pytest.approx(base)


def test_shape_buckets_change_no_loss_and_no_gradient():
    """A batch padded to a size class (graph_builder shape_buckets) gives its own-length losses."""
    import graph_builder

    hps = TINY.replace(dec_model="hyper")  # the hand-differentiated decoder (hyper_backward)
    net = model_lib.SketchGloc(hps)
    net.encoder.sample_noise = False
    rng = np.random.default_rng(4)
    strokes = [random_sketch(rng, n) for n in (9, 14, 7, 20)]
    batches = [{k: tf.constant(v) for k, v in graph_builder.build_batch(
        strokes, [0, 1, 0, 1], max_points=25, max_nodes=10, max_seq_len=30,
        shape_buckets=buckets).items()} for buckets in (0, 2)]
    assert batches[0]["targets"].shape[1] == 22 and batches[1]["targets"].shape[1] == 32
    assert batches[0]["points"].shape[1:3] == (3, 10) and batches[1]["points"].shape[1:3] == (10, 25)
    evaluation = [net.sketch_losses(b, training=False) for b in batches]
    np.testing.assert_allclose(evaluation[1], evaluation[0], rtol=1e-5, atol=1e-5)
    results = []
    for batch in batches:
        with tf.GradientTape() as tape:
            losses = net.sketch_losses(batch, training=True)
            total = tf.reduce_sum(losses)
        grads = tape.gradient(total, net.trainable_variables)
        results.append([losses] + [g for g in grads if g is not None])  # sigma's head has none
    assert len(results[0]) == len(results[1]) > len(net.trainable_variables) // 2
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5, atol=1e-5)
    for got, want in zip(results[1][1:], results[0][1:]):  # sums of many terms: round-off
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    assert not np.allclose(results[0][0], evaluation[0])  # training counts end-of-sketch rows


def test_padding_nodes_add_nothing_to_gcn():
    rng = np.random.default_rng(3)
    gcn = MultiGraphGCN(6, 9)
    nodes = rng.normal(size=(1, 3, 6)).astype(np.float32)
    rel = (rng.random((1, 3, 3, 9)) > 0.5).astype(np.float32)
    padded_nodes = np.concatenate([nodes, rng.normal(size=(1, 2, 6)).astype(np.float32) * 0], 1)
    padded_rel = np.zeros((1, 5, 5, 9), np.float32)
    padded_rel[:, :3, :3] = rel
    np.testing.assert_allclose(gcn(tf.constant(padded_nodes), tf.constant(padded_rel)),
                               gcn(tf.constant(nodes), tf.constant(rel)), rtol=1e-5)


def test_gcn_matches_formula_and_single_graph_ablation():
    rng = np.random.default_rng(4)
    nodes = rng.normal(size=(2, 4, 3)).astype(np.float32)
    rel = (rng.random((2, 4, 4, 9)) > 0.6).astype(np.float32)
    rel[:, :, :, 4] = 1  # every pair connected at least once
    for k in (9, 1):
        gcn = MultiGraphGCN(3, k)
        adj = rel if k == 9 else np.ones_like(rel[..., :1])
        w1, w2 = gcn.w1.numpy(), gcn.w2.numpy()
        want = 0
        for g in range(k):
            h0 = adj[..., g] @ nodes
            h2 = np.maximum(np.maximum(h0 @ w1[g], 0) @ w2[g], 0)
            want = want + (h0 + h2).sum(1) / 2
        np.testing.assert_allclose(gcn(tf.constant(nodes), tf.constant(rel)), want, rtol=1e-4, atol=1e-5)


def test_gcn_skipping_empty_rows_keeps_value_and_gradients():
    """Rows without neighbours are skipped; value and gradients equal the dense formula."""
    rng = np.random.default_rng(5)
    nodes = tf.constant(rng.normal(size=(3, 5, 4)).astype(np.float32))
    rel = (rng.random((3, 5, 5, 9)) > 0.7).astype(np.float32)
    rel[2, 3:] = rel[2, :, 3:] = 0  # sketch 2 has two padding nodes
    rel[0, 1, :, 2] = 0  # node 1 of sketch 0 has no neighbour in graph 2
    rel = tf.constant(rel)
    gcn = MultiGraphGCN(4, 9)

    def dense(v):
        h0 = tf.einsum("bijk,bjd->bkid", rel, v)
        h1 = tf.nn.relu(tf.einsum("bkid,kde->bkie", h0, gcn.w1))
        return tf.reduce_sum(h0 + tf.nn.relu(tf.einsum("bkid,kde->bkie", h1, gcn.w2)), [1, 2]) / 2

    weights = tf.constant(rng.normal(size=(3, 4)).astype(np.float32))
    grads = []
    for f in (lambda v: gcn(v, rel), dense):
        with tf.GradientTape() as tape:
            tape.watch(nodes)
            out = f(nodes)
            loss = tf.reduce_sum(out * weights)
        grads.append([out] + tape.gradient(loss, [nodes, gcn.w1, gcn.w2]))
    for got, want in zip(*grads):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shards", [2, 3])
def test_sharded_decoder_equals_whole_batch(shards):
    """Decoding the batch in parts (distribute.configure) changes neither outputs nor gradients."""
    hps = TINY.replace(use_recurrent_dropout=False)
    whole = model_lib.SketchGloc(hps)
    parts = model_lib.SketchGloc(hps, decoder_shards=shards)
    for a, b in zip(whole.trainable_variables, parts.trainable_variables):
        b.assign(a)
    whole.encoder.sample_noise = parts.encoder.sample_noise = False
    batch = make_batch(hps)  # 4 sketches: 3 shards are 2 + 1 + 1
    results = []
    for net in (whole, parts):
        with tf.GradientTape() as tape:
            loss = net.loss(batch, training=True)
        results.append([loss, *tape.gradient(loss, net.cell.trainable_variables)])
    for got, want in zip(results[1], results[0]):  # sums over the shards round differently
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_encode_shapes_and_eval_code_is_mu():
    net = model_lib.SketchGloc(TINY)
    batch = make_batch(TINY)
    mu, s, y = net.encode(batch, training=False)
    assert mu.shape == s.shape == y.shape == (4, TINY.z_size)
    np.testing.assert_array_equal(mu, y)
    _, _, y_train = net.encode(batch, training=True)
    assert not np.allclose(y_train, mu)


def test_tiny_model_overfits_one_batch():
    tf.random.set_seed(0)
    net = model_lib.SketchGloc(TINY)
    batch = make_batch(TINY)
    # A large rate: the loss halves within a few steps (seen: 0.39 of the first at step 30).
    opt = tf.keras.optimizers.Adam(2e-2, clipnorm=1.0)

    @tf.function(autograph=False)  # as the training step
    def step():
        with tf.GradientTape() as tape:
            loss = net.loss(batch, training=True)
        grads = tape.gradient(loss, net.trainable_variables)
        opt.apply_gradients(zip(grads, net.trainable_variables))
        return loss

    first = float(net.loss(batch, training=True))
    for _ in range(30):
        last = float(step())
    assert last < 0.5 * first, (first, last)


def test_checkpoint_restore_gives_identical_outputs(tmp_path):
    batch = make_batch(TINY)
    a = model_lib.SketchGloc(TINY)
    a.encode(batch, training=True)  # moves the batch-norm statistics away from their init
    path = tf.train.Checkpoint(model=a).save(str(tmp_path / "ckpt"))
    tf.random.set_seed(99)
    b = model_lib.SketchGloc(TINY)
    tf.train.Checkpoint(model=b).restore(path).assert_existing_objects_matched()
    np.testing.assert_array_equal(a.encode(batch)[0], b.encode(batch)[0])
    np.testing.assert_array_equal(a.loss(batch), b.loss(batch))


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_loss_close_to_float32(precision):
    batch = make_batch(TINY)
    full = model_lib.SketchGloc(TINY)
    mixed = model_lib.SketchGloc(TINY.replace(precision=precision))
    for a, b in zip(full.variables, mixed.variables):
        b.assign(a)
    assert all(v.dtype == tf.float32 for v in mixed.variables)
    want = float(full.loss(batch))
    got = float(mixed.loss(batch))
    # The low precision really is used (else this test could not fail), yet stays close.
    assert got != want
    assert got == pytest.approx(want, rel=1e-2)


@pytest.mark.parametrize("where", ["input", "output"])
def test_decoder_dropouts_act_in_training_only(where):
    """sketch-rnn's optional decoder dropouts: off by default, never at evaluation."""
    tf.random.set_seed(4)
    plain = model_lib.SketchGloc(TINY)
    hps = TINY.replace(**{f"use_{where}_dropout": True, f"{where}_dropout_prob": 0.5})
    dropped = model_lib.SketchGloc(hps)
    for a, b in zip(plain.variables, dropped.variables):
        b.assign(a)
    batch = make_batch(TINY)
    inputs, y = batch["targets"][:, :-1], tf.random.normal([4, TINY.z_size])
    want = plain.decode(inputs, y, training=True)["mu_x"].numpy()
    np.testing.assert_array_equal(dropped.decode(inputs, y, training=False)["mu_x"], want)
    got = dropped.decode(inputs, y, training=True)["mu_x"].numpy()
    assert not np.allclose(got, want)


def test_output_dropout_drops_and_rescales():
    """Keep probability p: a fraction 1 - p of the cell outputs is zeroed, the rest scaled by 1/p."""
    net = model_lib.SketchGloc(TINY.replace(use_output_dropout=True, output_dropout_prob=0.75))
    x = tf.ones([200, 50, 16])
    out = net._dropout(x, "output", training=True).numpy()
    assert np.mean(out == 0) == pytest.approx(0.25, abs=0.01)
    np.testing.assert_allclose(out[out != 0], 1 / 0.75, rtol=1e-6)
    np.testing.assert_array_equal(net._dropout(x, "output", training=False), x)
    np.testing.assert_array_equal(net._dropout(x, "input", training=True), x)  # input dropout off


def test_decoder_is_causal():
    """Changing the inputs from step k on leaves every output before k unchanged."""
    net = model_lib.SketchGloc(TINY)
    batch = make_batch(TINY)
    inputs, y = batch["targets"][:, :-1].numpy(), tf.random.normal([4, TINY.z_size])
    changed = inputs.copy()
    k = 6
    changed[:, k:, :2] += 5.0
    changed[:, k:, 2:] = changed[:, k:, ::-1][:, :, :3]
    a = net.decode(tf.constant(inputs), y)
    b = net.decode(tf.constant(changed), y)
    for name in ("mu_x", "log_pi", "pen_logits"):
        np.testing.assert_array_equal(a[name][:, :k], b[name][:, :k])
        assert not np.allclose(a[name][:, k:], b[name][:, k:])


@pytest.mark.parametrize("fast", [True, False])
def test_teacher_forced_decode_equals_step_by_step_decoding(fast):
    """decode (one loop; the hand-differentiated one when fast) = decode_step fed the same inputs."""
    net = model_lib.SketchGloc(TINY, fast_decoder=fast)
    batch = make_batch(TINY)
    inputs, y = batch["targets"][:, :-1], tf.random.normal([4, TINY.z_size])
    whole = net.decode(inputs, y)
    state = net.initial_state(y)
    for t in range(inputs.shape[1]):
        params, state = net.decode_step(inputs[:, t], y, state)
        for name in ("mu_x", "log_sy", "rho", "log_pi", "pen_logits"):
            np.testing.assert_allclose(params[name], whole[name][:, t], rtol=1e-5, atol=1e-5)


def test_fast_decoder_equals_reference_at_the_model_level():
    """Loss and every gradient of the model: hand-written decoder backward = autodiff of the loop."""
    hps = TINY.replace(use_recurrent_dropout=False)
    batch = make_batch(hps, lengths=(20, 25, 17, 23))
    results = []
    tf.random.set_seed(5)
    net = model_lib.SketchGloc(hps)
    net.encoder.sample_noise = False
    for fast in (True, False):
        net.fast_decoder = fast
        with tf.GradientTape() as tape:
            loss = net.loss(batch, training=True)
        results.append([loss, *tape.gradient(loss, net.trainable_variables)])
    for got, want, var in zip(results[0], results[1], [None] + list(net.trainable_variables)):
        if want is None:  # the s head: no reparameterisation noise here
            assert got is None
            continue
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=getattr(var, "name", "loss"))
