"""train.py: the command line (the README's hparams block, computed caps), config file, resume,
refusals, non-finite loss, the input pipeline and the loop (kill -9 recovery: test_soak_kill.py)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import checkpoints
import hparams
import train
from conftest import TINY, readme_block, run_tiny

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Appended after the README's block (later keys win): a tiny, fast model on one real category.
FAST = ("categories=[pig],num_steps=2,enc_rnn_size=8,dec_rnn_size=16,z_size=8,hyper_num_units=16,"
        "hyper_embedding_size=4,batch_size=50")


@pytest.mark.slow
def test_readme_block_trains_and_writes_the_computed_caps(real_data, tmp_path, capsys):
    """Every key of the pasted block is accepted; -1 values are computed from the data (METHOD.md §4)."""
    log_root = tmp_path / "run"
    # In process (a new Python + TensorFlow costs seconds); the flags themselves: test_readme.py.
    train.run(f"{readme_block()},{FAST}", real_data, str(log_root), False, False, verbose=0)
    stdout = capsys.readouterr().out
    assert "note: de_weight=0.5 has no effect" in stdout
    config = json.loads((log_root / "model_config.json").read_text())
    # pig.npz as measured with the original's loader.
    assert (config["max_stroke_len"], config["max_strokes_num"]) == (57, 23)
    assert config["max_seq_len"] > 0 and config["re_scale"] == 0.3
    assert "piece_len" not in config
    assert "done: step 2" in stdout



@pytest.fixture
def trained(tiny_trained_copy):
    return tiny_trained_copy


def test_config_written_and_resume_continues_step_counter(trained):
    tmp_path, first = trained
    assert first["step"] == 15
    hps, extra = hparams.load(str(tmp_path / checkpoints.CONFIG_NAME))
    assert hps.max_seq_len > 0 and hps.max_strokes_num > 0 and extra["scale_factor"] > 0
    assert os.listdir(tmp_path / "samples") and os.listdir(tmp_path / "tensorboard")
    assert os.path.getsize(tmp_path / "loss_curve.png") > 0
    second = run_tiny(tmp_path, "num_steps=30", resume=True)
    assert second["step"] == 30
    assert [s for s, _ in second["valid"]] == [30]
    losses = json.load(open(tmp_path / checkpoints.LOSSES_NAME))
    assert [r["step"] for r in losses] == [15, 30] and losses[1]["valid"] == second["valid"][0][1]
    assert second["best_valid"] <= first["best_valid"]


def test_existing_checkpoints_are_never_overwritten(trained):
    tmp_path, _ = trained
    with pytest.raises(checkpoints.TrainingError, match="resume_training"):
        run_tiny(tmp_path, "num_steps=15")


def test_resume_with_other_hparams_is_refused_naming_keys(trained):
    tmp_path, _ = trained
    with pytest.raises(checkpoints.TrainingError, match=r"z_size.*saved 8 vs requested 12"):
        run_tiny(tmp_path, "num_steps=30,z_size=12", resume=True)


def test_cli_mismatch_prints_one_line_and_exits_nonzero(trained):
    tmp_path, _ = trained
    proc = subprocess.run(
        [sys.executable, "train.py", "--demo", f"--log_root={tmp_path}", "--resume_training=True",
         f"--hparams={TINY},num_steps=30,batch_size=10"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "batch_size" in errors[0] and "Traceback" not in proc.stderr


def test_cli_bad_data_is_one_line_before_tensorflow_starts(tmp_path):
    np.savez(tmp_path / "broken.npz", train=np.zeros(3), valid=np.zeros(3))
    for category, expected in (("absent", "file not found; .npz files in"),
                               ("broken", "split 'test': key missing")):
        proc = subprocess.run(
            [sys.executable, "train.py", f"--data_dir={tmp_path}", f"--log_root={tmp_path / 'run'}",
             f"--hparams=categories=[{category}]"],
            cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1
        assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and expected in proc.stderr
    assert not os.path.exists(tmp_path / "run")


def test_the_pipeline_yields_the_batches_in_order_with_the_autotuner_off_by_default():
    """The tf.data pipeline gives batch b exactly as BatchSource(b), from `start`, autotuned or not."""
    import demo_data
    import utils

    data_dir, categories = demo_data.ensure_demo_dataset()
    data = utils.load_dataset(data_dir, categories, 40)
    hps = hparams.parse(TINY).replace(categories=categories, max_stroke_len=data.max_stroke_len,
                                      re_scale=0.3, batch_size=10)
    source = train.BatchSource(data.train, hps, data, True, seed=3)
    keys = list(source.spec)
    expected = [source(b) for b in range(1, source.num_batches)]
    default = source.dataset(start=1)
    # Freeing an autotuned iterator sometimes waited 22-43 s at an epoch's end (bench_epoch_end.py).
    assert default.options().autotune.enabled is False
    for pipeline in (default, source.dataset(start=1, autotune=True)):
        got = list(pipeline)
        assert len(got) == len(expected) == source.num_batches - 1
        for batch, arrays in zip(got, expected):
            for key, array in zip(keys, arrays):
                np.testing.assert_array_equal(batch[key].numpy(), array)


def test_epoch_order_plain_and_bucketed():
    rng_lengths = np.random.default_rng(5).integers(5, 200, size=103)
    plain = train.epoch_order(list(rng_lengths), 10, 0, np.random.default_rng(0))
    np.testing.assert_array_equal(plain, np.random.default_rng(0).permutation(103))
    order = train.epoch_order(list(rng_lengths), 10, 4, np.random.default_rng(0))
    assert sorted(order.tolist()) == list(range(103))  # every sketch exactly once
    batches = rng_lengths[order[:100]].reshape(10, 10)
    spread = (batches.max(1) - batches.min(1)).mean()
    plain_spread = np.ptp(rng_lengths[plain[:100]].reshape(10, 10), axis=1).mean()
    assert spread < 0.5 * plain_spread  # bucketed batches hold sketches of similar length


def test_validation_batches_are_never_disrupted():
    """METHOD.md §3, §9: only training batches are disrupted; validation and test use sketches as drawn."""
    import demo_data
    import utils

    data_dir, categories = demo_data.ensure_demo_dataset()
    data = utils.load_dataset(data_dir, categories, 40)
    calm = hparams.parse(TINY).replace(categories=categories, max_stroke_len=data.max_stroke_len)
    moved = calm.replace(re_scale=0.5)
    for training_flag, same in ((False, True), (True, False)):
        source = train.BatchSource(data.valid, calm, data, training_flag, seed=5)
        a, b = source(0), train.BatchSource(data.valid, moved, data, training_flag, seed=5)(0)
        keys = list(source.spec)
        assert np.array_equal(a[keys.index("points")], b[keys.index("points")]) is same
        np.testing.assert_array_equal(a[keys.index("targets")], b[keys.index("targets")])


def test_early_stopping_after_patience_validations_without_improvement(tmp_path, monkeypatch):
    """5 (best), 4 (best), 4.5, 4.0 (equal is no improvement), 4.2: patience 3 stops here."""
    import demo_data
    import utils

    data_dir, categories = demo_data.ensure_demo_dataset()
    data = utils.load_dataset(data_dir, categories, 40)
    hps = hparams.fit_to(hparams.parse(TINY), data, categories=categories, early_stop_patience=3)
    trainer = train.Trainer(hps, data, str(tmp_path / "run"), verbose=0)
    trainer.prepare(False)
    losses = iter([5.0, 4.0, 4.5, 4.0, 4.2, 1.0])
    monkeypatch.setattr(trainer, "evaluate", lambda split: next(losses) if split is data.valid else 0.0)
    monkeypatch.setattr(trainer, "run_epoch", lambda *a: trainer.optimizer.iterations.assign_add(1))
    monkeypatch.setattr(trainer, "draw_samples", lambda *a: None)
    history = trainer.fit()
    assert [v for _, v in history["valid"]] == [5.0, 4.0, 4.5, 4.0, 4.2]
    assert history["best_valid"] == 4.0 and int(trainer.bad_validations.numpy()) == 3
