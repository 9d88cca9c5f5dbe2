"""Issue 12, training side: nothing lost, nothing silently wrong.

Small splits and partial evaluation batches, hparam validation at the CLI
boundary, damaged checkpoints, torn JSON files, stale temporary checkpoint
folders, time-based resume checkpoints and mid-epoch continuation, and the
messages of a non-finite loss and of resuming an empty folder.
"""
import glob
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import checkpoints
import errors
import demo_data
import graph_builder
import hparams
import inference
import train
import utils
from conftest import TINY, TWO, run_tiny
from conftest import folder_digest as digest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
def run_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "train.py", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def error_lines(proc) -> list:
    return [line for line in proc.stderr.splitlines() if line.startswith("error:")]


def write_data(folder, valid: dict, test_n: int = 10) -> str:
    """face/house .npz files from the demo data with `valid[category]` validation sketches."""
    demo_dir, _ = demo_data.ensure_demo_dataset()
    os.makedirs(folder, exist_ok=True)
    for category in ("face", "house"):
        with np.load(os.path.join(demo_dir, category + ".npz"), allow_pickle=True, encoding="latin1") as src:
            parts = {"train": src["train"][:60], "valid": src["valid"][:valid[category]],
                     "test": src["test"][:test_n]}
        for key, arr in parts.items():
            if len(arr) == 0:  # an empty object array, as a real empty split would be stored
                parts[key] = np.empty(0, dtype=object)
        np.savez(os.path.join(folder, category + ".npz"), **parts)
    return str(folder)


@pytest.fixture
def trained(tiny_trained_copy):
    """A copy of the session's tiny 15-step run (one epoch, one validation)."""
    return tiny_trained_copy[0]


def truncate_data(prefix: str) -> None:
    """Cut a checkpoint's data file in half (what a full disk or a bad copy leaves)."""
    for path in glob.glob(prefix + ".data-*"):
        os.truncate(path, os.path.getsize(path) // 2)


def copy_checkpoint(prefix: str, new_prefix: str) -> None:
    """The same checkpoint under another name (an older-looking intact one)."""
    for path in glob.glob(prefix + ".*"):
        shutil.copy(path, new_prefix + path[len(prefix):])


# ---- row 1: small and empty evaluation splits ------------------------------------------------

def test_validation_smaller_than_a_batch_is_exact_per_sketch_mean(tmp_path):
    # 14 + 13 = 27 validation sketches with batch_size 20: one full batch and a partial one.
    data_dir = write_data(tmp_path / "data", {"face": 14, "house": 13}, test_n=3)
    root = tmp_path / "run"
    history = run_tiny(root, "num_steps=6", data_dir=data_dir)
    (step, valid), = history["valid"]
    assert step == 6 and np.isfinite(valid)
    assert os.path.exists(root / "ckpt-6.index")  # a best checkpoint was written
    losses = json.load(open(root / checkpoints.LOSSES_NAME))
    assert losses[0]["valid"] == valid
    # The mean over the 27 sketches in ONE batch, from the best checkpoint.
    import tensorflow as tf
    model, hps, extras, _ = inference.load_model(str(root))
    data = utils.load_dataset(data_dir, hps.categories, hps.num_per_category, hps.max_seq_len,
                              hps.max_strokes_num, hps.max_stroke_len)
    assert len(data.valid.strokes) == 27
    batch = next(graph_builder.iterate_batches(
        data.valid, hps.replace(batch_size=27), np.random.default_rng(0), training=False, re_scale=0.0,
        shuffle=False, max_seq_len=data.max_seq_len, max_nodes=data.max_strokes_num,
        scale_factor=data.scale_factor))
    per_sketch = model.sketch_losses({k: tf.constant(v) for k, v in batch.items()}, training=False).numpy()
    assert valid == pytest.approx(float(np.mean(per_sketch.astype(np.float64))), rel=1e-4)
    # The mean of the two batch means would be a different (wrong) number.
    batch_means = (per_sketch[:20].mean() + per_sketch[20:].mean()) / 2
    assert abs(batch_means - per_sketch.mean()) > 1e-3 * abs(per_sketch.mean())


def test_empty_validation_split_is_refused_naming_files_and_split(tmp_path):
    data_dir = write_data(tmp_path / "data", {"face": 0, "house": 0})
    before = digest(data_dir)
    proc = run_cli(f"--data_dir={data_dir}", f"--log_root={tmp_path / 'run'}", f"--hparams={TWO}")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert error_lines(proc) == [proc.stderr.strip()]
    assert "face.npz" in proc.stderr and "house.npz" in proc.stderr and "split 'valid'" in proc.stderr
    assert not os.path.exists(tmp_path / "run") and digest(data_dir) == before


# ---- row 4: hparam and flag validation -------------------------------------------------------

@pytest.mark.parametrize("text, key, allowed", [
    ("z_size=0", "z_size", ">= 1"), ("batch_size=0", "batch_size", ">= 1"),
    ("batch_size=-5", "batch_size", ">= 1"), ("save_every=0", "save_every", ">= 1"),
    ("dec_num_mixture=0", "dec_num_mixture", ">= 1"), ("enc_model=gru", "enc_model", "'hyper'"),
    ("dec_model=transformer", "dec_model", "'lstm'"), ("precision=float8", "precision", "'float32'"),
    ("num_graphs=3", "num_graphs", "9"), ("recurrent_dropout_prob=2", "recurrent_dropout_prob", "(0, 1]"),
    ("num_steps=-1", "num_steps", ">= 1"), ("learning_rate=-1", "learning_rate", "> 0"),
    ("min_learning_rate=0.01", "min_learning_rate", "<= learning_rate"),
    ("decay_rate=1.5", "decay_rate", "(0, 1]"), ("grad_clip=0", "grad_clip", "> 0"),
    ("num_per_category=0", "num_per_category", ">= 1"), ("categories=[]", "categories", "non-empty"),
    ("seed=-1", "seed", "[0, 2**32)"), ("learning_rate=inf", "learning_rate", "finite"),
    ("augment_stroke_prob=1", "augment_stroke_prob", "[0, 1)"),
])
def test_bad_hparam_is_refused_before_anything_runs(tmp_path, text, key, allowed):
    with pytest.raises(hparams.HParamsError) as info:
        train.run(text, str(tmp_path / "no_data"), str(tmp_path / "run"), False, False)
    message = str(info.value)
    assert message.count("\n") == 0 and f"'{key}'" in message and allowed in message
    assert not os.path.exists(tmp_path / "run")


def test_cli_reports_every_bad_hparam_one_line_each_without_tensorflow(tmp_path):
    proc = run_cli("--demo", f"--log_root={tmp_path / 'run'}",
                   "--hparams=z_size=0,learning_rate=-1,num_steps=-1", timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == error_lines(proc) and len(lines) == 3
    assert ["z_size" in lines[0], "learning_rate" in lines[1], "num_steps" in lines[2]] == [True] * 3
    assert "done: step" not in proc.stdout and not os.path.exists(tmp_path / "run")


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_cli_checkpoint_minutes_must_be_positive(tmp_path, value):
    proc = run_cli("--demo", f"--log_root={tmp_path / 'run'}", f"--checkpoint_minutes={value}", timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert error_lines(proc) == [proc.stderr.strip()] and "--checkpoint_minutes" in proc.stderr
    assert not os.path.exists(tmp_path / "run")


def test_cli_log_root_must_be_a_folder(tmp_path):
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("mine")
    for value, expected in ((str(not_a_folder), "is not a folder"), ("", "--log_root is empty")):
        proc = run_cli("--demo", f"--log_root={value}", timeout=60)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert error_lines(proc) == [proc.stderr.strip()] and expected in proc.stderr
    assert not_a_folder.read_text() == "mine"


def test_validation_tables_match_the_model_code():
    import layers
    import rnn
    assert set(hparams.CELL_KINDS) == set(rnn.CELL_KINDS)
    assert set(hparams.PRECISIONS) == set(layers.COMPUTE_DTYPES)
    assert hparams.problems(hparams.HParams()) == [] and hparams.problems(hparams.parse("preset=small")) == []
    assert set(hparams.RULES) <= {f.name for f in hparams.dataclasses.fields(hparams.HParams)}


# ---- row 5: crash safety ----------------------------------------------------------------------

def test_resume_falls_back_from_a_damaged_checkpoint(trained, capsys):
    resume = trained / checkpoints.RESUME_DIR
    copy_checkpoint(str(resume / "ckpt-15"), str(resume / "ckpt-9"))  # an older intact one
    truncate_data(str(resume / "ckpt-15"))
    truncate_data(str(trained / "ckpt-15"))
    history = run_tiny(trained, "num_steps=30", resume=True)
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 3, err  # two damaged, one "using"
    assert "resume/ckpt-15 is damaged" in warnings[0] and "/ckpt-15 is damaged" in warnings[1]
    assert "using" in warnings[2] and f"{trained}/resume/ckpt-9," in warnings[2]
    assert history["step"] == 30


def guarded_errors(capsys, log_root, extra: str) -> list:
    """The `error:` lines of a resumed train.run as the command line runs it (in process); exit 1."""
    with pytest.raises(SystemExit) as info:
        errors.guarded(run_tiny)(log_root, extra, resume=True)
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_resume_with_no_intact_checkpoint_is_one_line(trained, capsys):
    for prefix in checkpoints.resume_candidates(str(trained)):
        truncate_data(prefix)
    lines = guarded_errors(capsys, trained, "num_steps=30")
    assert len(lines) == 1 and "no intact checkpoint" in lines[0] and "ckpt-15" in lines[0]


def test_load_model_falls_back_to_an_older_intact_best_checkpoint(trained, capsys):
    copy_checkpoint(str(trained / "ckpt-15"), str(trained / "ckpt-7"))
    truncate_data(str(trained / "ckpt-15"))
    _, _, _, prefix = inference.load_model(str(trained))
    assert prefix == str(trained / "ckpt-7")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "ckpt-15 is damaged" in err[0] and "ckpt-7" in err[1]
    truncate_data(str(trained / "ckpt-7"))
    with pytest.raises(checkpoints.CheckpointError, match="no intact checkpoint") as info:
        inference.load_model(str(trained))
    assert "\n" not in str(info.value)
    with pytest.raises(checkpoints.CheckpointError, match="ckpt-7: Read less bytes"):
        inference.load_model(str(trained), ckpt_id=7)  # an explicit choice is never replaced


def test_torn_model_config_is_one_line_naming_it(trained, capsys):
    path = trained / checkpoints.CONFIG_NAME
    os.truncate(path, os.path.getsize(path) // 2)
    before = digest(trained)
    lines = guarded_errors(capsys, trained, "num_steps=30")
    assert len(lines) == 1 and str(path) in lines[0] and "not valid JSON" in lines[0]
    after = digest(trained)  # (TensorBoard may have added an empty event file of its own)
    assert {name: after.get(name) for name in before} == before
    with pytest.raises(checkpoints.CheckpointError, match="not valid JSON"):
        checkpoints.load_config(str(trained))


def test_torn_losses_json_is_reported_before_training(trained):
    path = trained / checkpoints.LOSSES_NAME
    os.truncate(path, os.path.getsize(path) - 3)
    before = digest(trained)
    with pytest.raises(checkpoints.TrainingError, match=r"losses.json: not valid JSON") as info:
        run_tiny(trained, "num_steps=30", resume=True)
    assert "\n" not in str(info.value)
    after = digest(trained)  # nothing trained, nothing rewritten (TensorBoard may add an event file)
    assert {name: after.get(name) for name in before} == before
    assert not checkpoints.list_checkpoints(str(trained / checkpoints.RESUME_DIR))[0].endswith("ckpt-30")


def test_stale_temporary_checkpoint_folders_are_removed_and_nothing_else(trained, capsys):
    stale = [trained / "ckpt-16_temp", trained / checkpoints.RESUME_DIR / "ckpt-16_temp"]
    for folder in stale:
        os.makedirs(folder)
        open(folder / "part-00000-of-00001.data-00000-of-00001", "wb").write(b"x" * 10)
    keep = [trained / "my_ckpt-16_temp", trained / "ckpt-16_temp_notes", trained / "notes_temp"]
    for folder in keep:
        os.makedirs(folder)
        open(folder / "file.txt", "w").write("mine")
    open(trained / "ckpt-17_temp", "w").write("a file, not a folder")
    names = ("my_ckpt-16_temp", "ckpt-16_temp_notes", "notes_temp")
    before = {name: digest(trained / name) for name in names}
    run_tiny(trained, "num_steps=16", resume=True)
    assert not any(os.path.exists(folder) for folder in stale)
    assert {name: digest(trained / name) for name in before} == before
    assert open(trained / "ckpt-17_temp").read() == "a file, not a folder"
    assert "removed 2 stale temporary checkpoint folder(s)" in capsys.readouterr().err


@pytest.mark.slow
def test_time_based_checkpoint_resumes_mid_epoch_exactly(tmp_path, monkeypatch):
    root = tmp_path / "run"
    # A tiny interval: every step saves. num_steps=18 stops 3 batches into the second epoch.
    run_tiny(root, "num_steps=18", minutes=1e-9)
    resume = root / checkpoints.RESUME_DIR
    assert sorted(os.path.basename(p) for p in checkpoints.list_checkpoints(str(resume))) == [
        "ckpt-17", "ckpt-18"]  # validation alone would have left ckpt-15 and ckpt-18
    for prefix in (resume / "ckpt-18", root / "ckpt-18"):  # as if killed right after step 17
        for path in glob.glob(str(prefix) + ".*"):
            os.remove(path)
    seen = []
    original = train.BatchSource.__call__

    def record(self, b):
        if self.training:
            seen.append((self.seed, int(b)))
        return original(self, b)
    monkeypatch.setattr(train.BatchSource, "__call__", record)
    history = run_tiny(root, "num_steps=22", resume=True)
    assert history["step"] == 22
    # Epoch 2 (seed 0 + 1) continues at its batch 2 (0-based): batches 0 and 1 were done before.
    # (Prefetching may prepare a few batches past the last step, so only the start is exact.)
    assert {seed for seed, _ in seen} == {1} and min(b for _, b in seen) == 2
    assert {(1, b) for b in range(2, 7)} <= set(seen)


def test_validation_record_is_on_disk_before_its_checkpoints(tmp_path, monkeypatch):
    def killed(self, *args, **kwargs):
        raise KeyboardInterrupt  # stands for a kill right after the best checkpoint was saved
    monkeypatch.setattr(train.Trainer, "draw_samples", killed)
    root = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_tiny(root, "num_steps=15")
    assert os.path.exists(root / "ckpt-15.index")  # a resume would start after this validation
    assert [r["step"] for r in json.load(open(root / checkpoints.LOSSES_NAME))] == [15]


# ---- rows 6 and 8: messages ------------------------------------------------------------------

def test_non_finite_loss_names_the_checkpoint_only_when_one_exists(trained, tmp_path):
    with pytest.raises(checkpoints.TrainingError) as info:
        # A learning rate of 1e30 makes the first update blow the weights up.
        run_tiny(tmp_path / "fresh", "num_steps=40,learning_rate=1e30,min_learning_rate=1e30")
    assert "loss became nan" in str(info.value) and "intact" not in str(info.value)
    assert "no checkpoint was written" in str(info.value)
    before = sorted(os.listdir(trained))
    with pytest.raises(checkpoints.TrainingError) as info:
        run_tiny(trained, "num_steps=40,learning_rate=1e30,min_learning_rate=1e30", resume=True)
    assert str(trained / checkpoints.RESUME_DIR / "ckpt-15") in str(info.value)
    assert sorted(os.listdir(trained)) == before  # the run's files stay as they were


def test_resume_on_an_empty_folder_says_so_and_trains(tmp_path, capsys):
    history = run_tiny(tmp_path / "run", "num_steps=2", resume=True)
    out = capsys.readouterr()
    assert f"nothing to resume in {tmp_path / 'run'}: starting a new run" in out.err
    assert "done: step 2" in out.out and history["step"] == 2


def test_checkpoint_from_before_epoch_step_still_resumes(trained, capsys):
    import tensorflow as tf
    hps, _ = hparams.load(str(trained / checkpoints.CONFIG_NAME))
    data = utils.load_dataset(demo_data.ensure_demo_dataset()[0], hps.categories, hps.num_per_category,
                              hps.max_seq_len, hps.max_strokes_num, hps.max_stroke_len)
    trainer = train.Trainer(hps, data, str(trained / "scratch"), verbose=0)
    trainer.ckpt.restore(str(trained / checkpoints.RESUME_DIR / "ckpt-15")).assert_existing_objects_matched()
    for prefix in checkpoints.resume_candidates(str(trained)):
        for path in glob.glob(prefix + ".*"):
            os.remove(path)
    # The layout of checkpoints before this change (save() as the CheckpointManager does: ckpt-1).
    legacy = trainer.ckpt_without_epoch_step.save(str(trained / checkpoints.RESUME_DIR / "ckpt"))
    assert "epoch_step/.ATTRIBUTES/VARIABLE_VALUE" not in {n for n, _ in tf.train.list_variables(legacy)}
    shutil.rmtree(trained / "scratch")
    history = run_tiny(trained, "num_steps=30", resume=True)
    assert history["step"] == 30 and "warning" not in capsys.readouterr().err


# ---- issue 21: the training command's folder, sizes and messages -------------------------------

def test_log_root_of_the_users_own_files_is_refused_and_left_alone(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / checkpoints.CONFIG_NAME).write_text('{"my": "settings"}')  # not a sketchgloc config
    (mine / "history.json").write_text("[1, 2]")
    (mine / "loss_curve.png").write_bytes(b"my plot")
    before = digest(mine)
    with pytest.raises(hparams.HParamsError) as info:
        run_tiny(mine, "num_steps=2")
    message = str(info.value)
    assert message.startswith(f"flag --log_root = '{mine}': holds files but no sketchgloc training run "
                              "(history.json, loss_curve.png, model_config.json)")
    assert "use an empty or new folder" in message and "\n" not in message
    assert digest(mine) == before


def test_log_root_checks_accept_new_empty_and_training_folders(tiny_run, tmp_path):
    assert checkpoints.foreign_log_root_problem(str(tmp_path / "new")) is None
    assert checkpoints.foreign_log_root_problem(str(tmp_path)) is None  # empty
    os.mkdir(tmp_path / "tensorboard")  # what a run starting in another process created first
    assert checkpoints.foreign_log_root_problem(str(tmp_path)) is None
    assert checkpoints.foreign_log_root_problem(tiny_run) is None  # checkpoints
    # A run killed before its first checkpoint left its config (and TensorBoard's folder).
    killed = tmp_path / "killed"
    killed.mkdir()
    shutil.copy(os.path.join(tiny_run, checkpoints.CONFIG_NAME), killed)
    os.mkdir(killed / "tensorboard")
    assert checkpoints.foreign_log_root_problem(str(killed)) is None


@pytest.mark.parametrize("where, expected", [
    ("/proc/1/x", "flag --log_root = '/proc/1/x': cannot write in /proc/1"),
    ("FILE/run", "flag --log_root = 'FILE/run': FILE is a file, not a folder"),
])
def test_log_root_that_cannot_be_created_is_one_line_before_anything_runs(tmp_path, where, expected, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    where, expected = (text.replace("FILE", str(tmp_path / "notes.txt")) for text in (where, expected))
    with pytest.raises(SystemExit) as info:
        errors.guarded(run_tiny)(where, "num_steps=2")
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {expected}") and err.count("\n") == 1
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("text, key", [("enc_rnn_size=100000", "enc_rnn_size"), ("z_size=10000000", "z_size"),
                                       ("dec_num_mixture=1000000", "dec_num_mixture")])
def test_a_model_too_large_for_memory_is_refused_before_anything_runs(tmp_path, text, key):
    with pytest.raises(hparams.HParamsError) as info:
        train.run(text, str(tmp_path / "no_data"), str(tmp_path / "run"), False, False)
    assert str(info.value).startswith(f"hparams {key}=") and "memory" in str(info.value)
    assert not os.path.exists(tmp_path / "run")


def test_a_binary_state_file_stops_training_in_one_line(trained):
    (trained / "checkpoint").write_bytes(b"\xff\xfe\x00\x81binary")
    with pytest.raises(checkpoints.CheckpointError, match="checkpoint: not a checkpoint state file"):
        run_tiny(trained, "num_steps=30", resume=True)


def test_resume_counts_epochs_as_the_epoch_lines_do(trained, capsys):
    # The tiny run stopped after its first epoch (15 batches): the next one is epoch 2 in both lines.
    # (Mid-epoch, the first line adds "(k of its batches done)" and the second "continuing at batch k+1".)
    train.run(f"{TINY},num_steps=16", None, str(trained), True, True, verbose=1)
    lines = [line for line in capsys.readouterr().out.splitlines() if "epoch" in line]
    assert "at step 15, epoch 2, best validation loss" in lines[0]
    assert lines[1] == "epoch 2 (step 15/16)"
