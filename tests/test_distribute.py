"""distribute.py: Learner under tf.distribute equals single-device training; Adam, the decaying
rate, loss scaling; the CPU thread layout.

The strategy tests run their TensorFlow work in a fresh subprocess (this file run as a script),
because the CPU must be split into logical devices before TensorFlow initialises them,
and a multi-worker strategy must be created before any other TensorFlow work.
"""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TINY = ("enc_rnn_size=8,dec_rnn_size=16,z_size=4,hyper_num_units=8,hyper_embedding_size=4,"
        "dec_num_mixture=3,use_recurrent_dropout=False,batch_size=4")


def child_env(**extra) -> dict:
    """Environment of a child process: quiet TensorFlow, the repository importable."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=os.pathsep.join([REPO, HERE]))
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


# ---------------------------------------------------------------- child side

def variable_values(learner) -> dict:
    """name -> every replica's value of each model and optimizer variable (in creation order)."""
    strategy = learner.strategy
    out = {}
    for prefix, variables in (("model", learner.model.variables), ("opt", learner.optimizer.variables)):
        for i, v in enumerate(variables):
            values = [np.asarray(x) for x in strategy.experimental_local_results(v)]
            out[f"{prefix}{i}:{v.name}"] = np.stack(values)
    return out


def child_mirrored(out_path: str) -> None:
    """One step on 2 logical CPUs and on one device, from the same weights and batch."""
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import hparams
    import distribute
    from conftest import make_batch

    hps = hparams.parse(TINY)
    batch = make_batch(hps)
    tf.random.set_seed(0)
    single = distribute.Learner(hps)
    mirrored = distribute.Learner(hps, tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    for a, b in zip(single.model.variables, mirrored.model.variables):
        b.assign(a)
    single.model.encoder.sample_noise = mirrored.model.encoder.sample_noise = False
    data = tf.data.Dataset.from_tensors(batch)
    dist_batch = next(iter(mirrored.distribute(data)))
    replica_sizes = [int(x["targets"].shape[0])
                     for x in mirrored.strategy.experimental_local_results(dist_batch)]
    loss_single = float(single.train_step(next(iter(single.distribute(data)))))
    loss_mirrored = float(mirrored.train_step(dist_batch))
    # A checkpoint of the distributed run restores into a single-device learner.
    path = tf.train.Checkpoint(**mirrored.checkpoint_objects()).save(out_path + "_ckpt/ckpt")
    tf.random.set_seed(1)
    restored = distribute.Learner(hps)
    tf.train.Checkpoint(**restored.checkpoint_objects()).restore(path).assert_existing_objects_matched()
    np.savez(out_path, **{"single/" + k: v for k, v in variable_values(single).items()},
             **{"mirrored/" + k: v for k, v in variable_values(mirrored).items()},
             **{"restored/" + k: v for k, v in variable_values(restored).items()},
             losses=np.array([loss_single, loss_mirrored]), replica_sizes=np.array(replica_sizes))


def child_worker(out_path: str) -> None:
    """A few MultiWorkerMirroredStrategy steps (TF_CONFIG names this worker)."""
    import tensorflow as tf
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    import hparams
    import distribute
    from conftest import make_batch

    hps = hparams.parse(TINY)
    tf.random.set_seed(0)
    learner = distribute.Learner(hps, strategy)
    learner.model.encoder.sample_noise = False
    data = learner.distribute(tf.data.Dataset.from_tensors(make_batch(hps)).repeat(3))
    losses = [float(learner.train_step(b)) for b in data]
    weights = np.concatenate([np.ravel(v.numpy()) for v in learner.model.trainable_variables])
    with open(out_path, "w") as f:
        json.dump({"losses": losses, "steps": int(learner.optimizer.iterations.numpy()),
                   "checksum": float(np.sum(np.abs(weights))),
                   "chief": distribute.is_chief(strategy)}, f)


# ---------------------------------------------------------------- tests

def run_child(kind: str, out_path: str, env: dict, timeout: int = 240) -> subprocess.CompletedProcess:
    """Run this file as a child doing `kind`."""
    return subprocess.run([sys.executable, __file__, kind, out_path], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_mirrored_step_equals_single_device_step(tmp_path):
    out = str(tmp_path / "result.npz")
    proc = run_child("mirrored", out, child_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.load(out)
    assert list(got["replica_sizes"]) == [2, 2]  # the global batch of 4 was split
    loss_single, loss_mirrored = got["losses"]
    np.testing.assert_allclose(loss_mirrored, loss_single, rtol=1e-5)
    names = [k[len("single/"):] for k in got.files if k.startswith("single/")]
    assert any("moving_mean" in n for n in names) and any(n.startswith("opt") for n in names)
    for name in names:
        single, mirrored = got["single/" + name][0], got["mirrored/" + name]
        # Every replica holds the single-device value: weights, batch-norm statistics and
        # Adam's moments (which record the clipped global gradient itself).
        # atol 1e-5 = 1% of one Adam step (lr 1e-3): Adam divides each gradient element by
        # its own magnitude, so an element whose gradient is ~0 moves by a step that the
        # rounding of the replicas' sum can change by a fraction of lr.
        for replica in mirrored:
            np.testing.assert_allclose(replica, single, rtol=1e-5, atol=1e-5, err_msg=name)
        np.testing.assert_array_equal(got["restored/" + name][0], mirrored[0], err_msg=name)


def free_ports(count: int) -> list:
    """Ports on loopback that are free right now."""
    socks = [socket.socket() for _ in range(count)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_multi_worker_steps_run_to_completion(tmp_path):
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    procs, outs = [], []
    for index in range(2):
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        outs.append(str(tmp_path / f"worker{index}.json"))
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "worker", outs[-1]], cwd=REPO,
            env=child_env(TF_CONFIG=config), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        results = [p.communicate(timeout=240) for p in procs]
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        pytest.skip("multi-worker processes did not finish in 240 s (loopback gRPC blocked?)")
    errors = " ".join(err for _, err in results)
    if any(p.returncode for p in procs):
        if any(word in errors for word in ("UNAVAILABLE", "Failed to connect", "bind", "Address")):
            pytest.skip(f"this platform refuses local gRPC between workers: {errors[-500:]}")
        raise AssertionError(errors[-3000:])
    reports = [json.load(open(o)) for o in outs]
    assert [r["chief"] for r in reports] == [True, False]
    assert reports[0]["steps"] == reports[1]["steps"] == 3
    assert reports[0]["losses"] == pytest.approx(reports[1]["losses"], rel=1e-6)
    assert reports[0]["checksum"] == pytest.approx(reports[1]["checksum"], rel=1e-6)
    assert all(np.isfinite(reports[0]["losses"]))


# ---------------------------------------------------------------- one device, in process

def test_adam_epsilon_is_tf1s():
    import distribute
    import hparams
    learner = distribute.Learner(hparams.parse(TINY))
    assert learner.optimizer.epsilon == 1e-8


def test_learning_rate_decays_as_the_formula_says():
    """(lr - min_lr) * decay_rate**step + min_lr, read by the optimizer at its own step."""
    import distribute
    import hparams
    rate = distribute.DecayingRate(1e-3, 1e-5, 0.9)
    for step in (0, 1, 10, 200):
        assert float(rate(step)) == pytest.approx((1e-3 - 1e-5) * 0.9 ** step + 1e-5, rel=1e-5)
    learner = distribute.Learner(hparams.parse(TINY + ",decay_rate=0.99,learning_rate=0.002"))
    learner.optimizer.iterations.assign(50)
    assert float(learner.optimizer.learning_rate) == pytest.approx((2e-3 - 1e-5) * 0.99 ** 50 + 1e-5,
                                                                   rel=1e-5)


def test_dynamic_loss_scale_halves_on_overflow_and_doubles_after_a_period():
    import tensorflow as tf

    import distribute
    scale = distribute.DynamicLossScale(initial=8.0, period=3)
    history = []
    for finite in (False, True, True, True, False, False, False, False):
        scale.update(tf.constant(finite))
        history.append((float(scale.scale.numpy()), int(scale.good_steps.numpy())))
    assert history == [(4, 0), (4, 1), (4, 2), (8, 0), (4, 0), (2, 0), (1, 0), (1, 0)]


def test_learner_builds_the_model_with_the_decoder_shards_it_is_given():
    import distribute
    import hparams
    assert distribute.Learner(hparams.parse(TINY)).model.decoder_shards == 1
    assert distribute.Learner(hparams.parse(TINY), decoder_shards=2).model.decoder_shards == 2


# ---------------------------------------------------------------- CPU thread layout

def test_small_decoder_is_sharded_over_the_cores():
    import distribute
    assert distribute.plan(100, 128, cores=2) == (2, 1)
    assert distribute.plan(100, 128, cores=16) == (2, 8)  # at least 50 sketches a shard
    assert distribute.plan(400, 256, cores=4) == (4, 1)


def test_wide_decoder_small_batch_or_one_core_are_left_alone():
    import distribute
    assert distribute.plan(100, 512, cores=2) == (1, 2)
    assert distribute.plan(99, 128, cores=2) == (1, 2)
    assert distribute.plan(100, 128, cores=1) == (1, 1)


def test_configure_after_tensorflow_started_keeps_defaults():
    import tensorflow as tf

    import distribute
    tf.constant(1.0) + 1.0  # the runtime is up: thread pools are fixed
    assert distribute.configure(100, 128, cores=2) == 1
    assert distribute.configure(100, 128, cores=2, strategy="mirrored") == 1  # replicas split the batch


def test_configure_in_a_fresh_process_returns_the_planned_shards():
    """Before TensorFlow's first op (as train.run calls it), without a GPU: the plan's shards and threads."""
    code = ("import distribute, tensorflow as tf; n = distribute.configure(100, 128, cores=2); "
            "print(n, tf.config.threading.get_inter_op_parallelism_threads(), "
            "len(tf.config.list_physical_devices('GPU')))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=child_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    shards, inter, gpus = map(int, proc.stdout.split())
    assert (shards, inter) == ((1, 0) if gpus else (2, 2))


if __name__ == "__main__":
    {"mirrored": child_mirrored, "worker": child_worker}[sys.argv[1]](sys.argv[2])


# ---- TF_CONFIG is checked before TensorFlow reads it ------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("{bad", "is not valid JSON"),
    ("[1, 2]", 'needs "cluster"'),
    ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}', 'needs "cluster"'),
    ('{"cluster": {"worker": ["a:1"]}}', 'needs "task": {"type": one of [\'worker\']'),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}', 'needs "task"'),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
     '"task" index 2: expected 0..1'),
])
def test_malformed_tf_config_is_named(text, expected):
    import distribute
    assert distribute.tf_config_problem(text).startswith(expected)


def test_well_formed_or_unset_tf_config_passes():
    import distribute
    assert distribute.tf_config_problem(None) is None and distribute.tf_config_problem("") is None
    good = {"cluster": {"chief": ["a:1"], "worker": ["b:2", "c:3"]}, "task": {"type": "worker", "index": 1}}
    assert distribute.tf_config_problem(json.dumps(good)) is None


def test_training_with_a_malformed_tf_config_is_one_line(tmp_path, monkeypatch, capsys):
    import errors
    import train
    from conftest import TINY

    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["localhost:1"]')  # cut short
    with pytest.raises(SystemExit) as info:
        errors.guarded(train.run)(TINY, None, str(tmp_path / "run"), False, True, strategy="multi_worker")
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --strategy=multi_worker: environment variable TF_CONFIG is not valid JSON")
    assert err.count("\n") == 1
