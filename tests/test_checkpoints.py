"""checkpoints.py: a training folder's config, checkpoints and loss records, on hand-made folders.

No training here: a "checkpoint" is its `.index` file (plus a data file), a best-checkpoint
state file is the one line CheckpointManager writes, and restoring is a stand-in callable.
"""
import json
import os
import subprocess
import sys

import pytest

import checkpoints
import hparams
from checkpoints import CheckpointError, TrainingError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A config as training writes it: the caps computed from the data, a scale factor.
HPS = hparams.parse("z_size=8,max_seq_len=30,max_stroke_len=6,max_strokes_num=5")


def write_config(folder, hps=HPS, **extras) -> str:
    """model_config.json in folder (scale_factor 2.5 unless told); its path."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, checkpoints.CONFIG_NAME)
    hparams.save(hps, path, **({"scale_factor": 2.5} | extras))
    return path


def edit_config(folder, **changes) -> None:
    """Change entries of the folder's model_config.json by hand (None deletes one)."""
    path = os.path.join(folder, checkpoints.CONFIG_NAME)
    values = json.load(open(path))
    values.update(changes)
    values = {k: v for k, v in values.items() if v is not None}
    open(path, "w").write(json.dumps(values))


def make_checkpoint(folder, step: int, state: bool = False) -> str:
    """Files of checkpoint ckpt-<step> in folder (state: also name it in the `checkpoint` file)."""
    os.makedirs(folder, exist_ok=True)
    prefix = os.path.join(str(folder), f"ckpt-{step}")
    for suffix in (".index", ".data-00000-of-00001"):
        open(prefix + suffix, "wb").write(b"x")
    if state:
        open(os.path.join(folder, "checkpoint"), "w").write(
            f'model_checkpoint_path: "ckpt-{step}"\nall_model_checkpoint_paths: "ckpt-{step}"\n')
    return prefix


def names(prefixes) -> list:
    """Prefixes relative to their training folder's parent: `run/ckpt-3`, `run/resume/ckpt-3`."""
    return [p.split(os.sep + "run" + os.sep, 1)[1] for p in prefixes]


def test_importing_the_module_loads_no_tensorflow():
    proc = subprocess.run([sys.executable, "-c", "import sys, checkpoints; "
                           "print('tensorflow' in sys.modules)"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


# ---- config_path, load_config --------------------------------------------------------------

def test_config_path_names_what_is_missing(tmp_path):
    with pytest.raises(CheckpointError, match=r"missing: checkpoint folder not found$"):
        checkpoints.config_path(str(tmp_path / "missing"))
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(CheckpointError, match="a_file: checkpoint folder not found"):
        checkpoints.config_path(str(tmp_path / "a_file"))
    with pytest.raises(CheckpointError) as info:
        checkpoints.config_path(str(tmp_path))
    assert str(info.value) == f"{tmp_path}: no model_config.json (not a training --log_root folder)"
    os.mkdir(tmp_path / checkpoints.CONFIG_NAME)  # a folder of that name is not a config
    with pytest.raises(CheckpointError, match="no model_config.json"):
        checkpoints.config_path(str(tmp_path))


def test_load_config_returns_the_saved_hparams_and_extras(tmp_path):
    write_config(tmp_path, scale_factor=3.25, sketches_cut=4)
    hps, extras = checkpoints.load_config(str(tmp_path))
    assert (hps.z_size, hps.max_seq_len, hps.max_stroke_len, hps.max_strokes_num) == (8, 30, 6, 5)
    assert extras == {"scale_factor": 3.25, "sketches_cut": 4}


@pytest.mark.parametrize("changes, message", [
    ({"z_size": 0}, r"model_config.json: hparam 'z_size' = 0"),
    ({"scale_factor": None}, "model_config.json: no scale_factor entry"),
    ({"scale_factor": 0}, r"model_config.json: 'scale_factor' = 0: expected a finite number in \[0.001, "),
    ({"max_seq_len": -1}, "max_seq_len/max_stroke_len/max_strokes_num not set"),
    ({"max_strokes_num": -1}, "max_seq_len/max_stroke_len/max_strokes_num not set"),
    ({"z_size": "big"}, "model_config.json: unreadable"),
])
def test_load_config_refuses_a_config_that_cannot_make_a_model(tmp_path, changes, message):
    write_config(tmp_path)
    edit_config(tmp_path, **changes)
    with pytest.raises(CheckpointError, match=message) as info:
        checkpoints.load_config(str(tmp_path))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("value, expected", [
    (float("inf"), "'scale_factor' = inf: expected a finite number in [0.001, 100000]"),
    (float("nan"), "'scale_factor' = nan: expected a finite number"),
    (-25, "'scale_factor' = -25: expected a finite number"),
    (1e-30, "'scale_factor' = 1e-30: expected a finite number"),
    (1e30, "'scale_factor' = 1e+30: expected a finite number"),
    ("abc", "'scale_factor' = 'abc': expected a number"),
    (True, "'scale_factor' = True: expected a number"),
])
def test_load_config_refuses_a_scale_factor_that_would_draw_nonsense(tmp_path, value, expected):
    path = write_config(tmp_path)
    edit_config(tmp_path, scale_factor=value)  # json writes inf and nan as Infinity and NaN
    with pytest.raises(CheckpointError) as info:
        checkpoints.load_config(str(tmp_path))
    assert str(info.value).startswith(f"{path}: {expected}") and "\n" not in str(info.value)


def test_sampling_refuses_a_bad_scale_factor_in_one_line_before_tensorflow(tmp_path, capsys):
    import errors
    import sample_abs
    import sample_settings

    write_config(tmp_path / "run")
    edit_config(tmp_path / "run", scale_factor=float("inf"))
    settings = sample_settings.settings_with(sample_output=str(tmp_path / "out"),
                                             checkpoint_path=str(tmp_path / "run"))
    with pytest.raises(SystemExit) as info:
        errors.guarded(sample_abs.run)(settings)
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model_config.json: 'scale_factor' = inf" in err
    assert not os.path.exists(tmp_path / "out")


@pytest.mark.parametrize("key, value", [("max_seq_len", 100000000), ("enc_rnn_size", 100000),
                                        ("z_size", 10000000), ("dec_num_mixture", 1000000)])
def test_load_config_refuses_a_model_too_large_for_memory(tmp_path, key, value):
    path = write_config(tmp_path)
    edit_config(tmp_path, **{key: value})
    with pytest.raises(CheckpointError) as info:
        checkpoints.load_config(str(tmp_path))
    message = str(info.value)
    assert message.startswith(f"{path}: hparams {key}={value}: the model needs at least")
    assert "memory" in message and "\n" not in message


def test_load_config_names_a_torn_file(tmp_path):
    path = write_config(tmp_path)
    os.truncate(path, os.path.getsize(path) // 2)
    with pytest.raises(CheckpointError) as info:
        checkpoints.load_config(str(tmp_path))
    message = str(info.value)
    assert message.startswith(f"{path}: unreadable") and "not valid JSON" in message
    assert "\n" not in message


# ---- find_checkpoint, list_checkpoints, resume_candidates ----------------------------------------

def test_find_checkpoint_takes_the_best_one_the_state_file_names(tmp_path):
    make_checkpoint(tmp_path, 12)
    newest_on_disk = make_checkpoint(tmp_path, 30)
    named = make_checkpoint(tmp_path, 20, state=True)  # best is not the newest step
    assert checkpoints.find_checkpoint(str(tmp_path)) == named
    # An absolute path in the state file is taken as it is.
    open(tmp_path / "checkpoint", "w").write(f'model_checkpoint_path: "{newest_on_disk}"\n')
    assert checkpoints.find_checkpoint(str(tmp_path)) == newest_on_disk


def test_find_checkpoint_by_id_looks_in_the_folder_then_in_resume(tmp_path):
    best = make_checkpoint(tmp_path, 5, state=True)
    make_checkpoint(tmp_path / checkpoints.RESUME_DIR, 5)
    latest = make_checkpoint(tmp_path / checkpoints.RESUME_DIR, 9)
    assert checkpoints.find_checkpoint(str(tmp_path), 5) == best  # the best folder first
    assert checkpoints.find_checkpoint(str(tmp_path), 9) == latest
    with pytest.raises(CheckpointError) as info:
        checkpoints.find_checkpoint(str(tmp_path), 99)
    assert str(info.value) == f"{tmp_path}: no checkpoint ckpt-99 (looked for {tmp_path}/ckpt-99.index)"
    os.remove(latest + ".index")  # data without its index is no checkpoint
    with pytest.raises(CheckpointError, match="no checkpoint ckpt-9 "):
        checkpoints.find_checkpoint(str(tmp_path), 9)


def test_find_checkpoint_without_a_best_one_hints_at_resume(tmp_path):
    with pytest.raises(CheckpointError) as info:
        checkpoints.find_checkpoint(str(tmp_path))
    assert str(info.value) == f"{tmp_path}: no best checkpoint"
    resume = make_checkpoint(tmp_path / checkpoints.RESUME_DIR, 7, state=True)
    with pytest.raises(CheckpointError) as info:
        checkpoints.find_checkpoint(str(tmp_path))
    assert str(info.value) == (f"{tmp_path}: no best checkpoint; only {resume} exists, "
                               "pass its number as ckpt_id")
    # A state file naming a checkpoint whose files are gone names no best checkpoint either.
    make_checkpoint(tmp_path, 8, state=True)
    os.remove(tmp_path / "ckpt-8.index")
    with pytest.raises(CheckpointError, match="no best checkpoint; only"):
        checkpoints.find_checkpoint(str(tmp_path))


def test_list_checkpoints_newest_step_first_by_number(tmp_path):
    for step in (9, 100, 10):
        make_checkpoint(tmp_path, step)
    (tmp_path / "ckpt-200.data-00000-of-00001").write_bytes(b"x")  # no .index: not listed
    (tmp_path / "ckpt-x.index").write_bytes(b"x")
    (tmp_path / "my_ckpt-300.index").write_bytes(b"x")
    os.mkdir(tmp_path / "ckpt-400_temp")
    got = checkpoints.list_checkpoints(str(tmp_path))
    assert [os.path.basename(p) for p in got] == ["ckpt-100", "ckpt-10", "ckpt-9"]  # not by text
    assert got[0] == os.path.join(str(tmp_path), "ckpt-100")
    assert checkpoints.list_checkpoints(str(tmp_path / "missing")) == []


def test_resume_candidates_newest_first_resume_before_best_on_a_tie(tmp_path):
    root = tmp_path / "run"
    for step in (10, 20):
        make_checkpoint(root, step)
    for step in (20, 25, 15):
        make_checkpoint(root / checkpoints.RESUME_DIR, step)
    got = checkpoints.resume_candidates(str(root))
    assert names(got) == ["resume/ckpt-25", "resume/ckpt-20", "ckpt-20", "resume/ckpt-15", "ckpt-10"]
    assert checkpoints.resume_candidates(str(tmp_path / "empty")) == []


def test_resume_point_note_names_the_newest_checkpoint(tmp_path):
    root = tmp_path / "run"
    assert checkpoints.resume_point_note(str(root)) == f", no checkpoint was written to {root}"
    make_checkpoint(root, 6)
    newest = make_checkpoint(root / checkpoints.RESUME_DIR, 8)
    assert checkpoints.resume_point_note(str(root)) == (
        f"; the newest checkpoint on disk, {newest}, is from before it")


# ---- check_folder ---------------------------------------------------------------------------

def test_check_folder_of_a_training_folder(tmp_path):
    write_config(tmp_path)
    best = make_checkpoint(tmp_path, 6, state=True)
    latest = make_checkpoint(tmp_path / checkpoints.RESUME_DIR, 9)
    hps, extras, prefix = checkpoints.check_folder(str(tmp_path))
    assert prefix == best and hps.z_size == 8 and extras["scale_factor"] == 2.5
    assert checkpoints.check_folder(str(tmp_path), 9)[2] == latest


def test_check_folder_of_a_prefix_reads_the_config_of_its_training_folder(tmp_path):
    write_config(tmp_path, scale_factor=4.0)
    best = make_checkpoint(tmp_path, 6)
    latest = make_checkpoint(tmp_path / checkpoints.RESUME_DIR, 9)
    for prefix in (best, latest):
        hps, extras, got = checkpoints.check_folder(prefix)
        assert got == prefix and extras["scale_factor"] == 4.0 and hps.max_seq_len == 30
    # A prefix names its checkpoint itself: ckpt_id plays no role.
    assert checkpoints.check_folder(best, 9)[2] == best
    # resume/ with a config of its own is a training folder of its own.
    write_config(tmp_path / checkpoints.RESUME_DIR, scale_factor=5.0)
    assert checkpoints.check_folder(latest)[1]["scale_factor"] == 5.0


def test_find_checkpoint_names_a_missing_state_file_and_the_checkpoints_found(tmp_path):
    make_checkpoint(tmp_path, 3)  # files, but no state file naming the best one
    make_checkpoint(tmp_path, 12)
    with pytest.raises(CheckpointError) as info:
        checkpoints.find_checkpoint(str(tmp_path))
    assert str(info.value) == (f"{tmp_path}: the checkpoint state file 'checkpoint' is missing, so the best "
                               "checkpoint is unknown; checkpoints found: ckpt-12, ckpt-3 "
                               "(pass a number as ckpt_id)")
    assert checkpoints.find_checkpoint(str(tmp_path), 3) == str(tmp_path / "ckpt-3")


@pytest.mark.parametrize("where", ["", checkpoints.RESUME_DIR])
def test_a_binary_state_file_is_one_line_naming_it(tmp_path, where):
    write_config(tmp_path)
    make_checkpoint(tmp_path, 3, state=True)
    state = tmp_path / where / "checkpoint"
    os.makedirs(state.parent, exist_ok=True)
    state.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00binary")
    expected = f"{state}: not a checkpoint state file (binary, not UTF-8 text)"
    with pytest.raises(CheckpointError) as info:
        checkpoints.check_state_files(str(tmp_path))  # train.py's check before TensorFlow reads them
    assert str(info.value).startswith(expected) and "\n" not in str(info.value)
    if not where:
        with pytest.raises(CheckpointError, match="not a checkpoint state file"):
            checkpoints.check_folder(str(tmp_path))  # sample_abs.py, evaluate.py, retrieval.py


def test_check_folder_errors(tmp_path):
    write_config(tmp_path)
    with pytest.raises(CheckpointError, match="no best checkpoint"):
        checkpoints.check_folder(str(tmp_path))
    elsewhere = make_checkpoint(tmp_path / "loose", 3)  # a prefix in a folder without a config
    with pytest.raises(CheckpointError, match="loose: no model_config.json"):
        checkpoints.check_folder(elsewhere)
    # A prefix without its files is no prefix: it is taken for a (missing) folder.
    with pytest.raises(CheckpointError, match="ckpt-4: checkpoint folder not found"):
        checkpoints.check_folder(str(tmp_path / "ckpt-4"))


# ---- check_config -----------------------------------------------------------------------------

def changed(value):
    """Another valid value of a resumable hparam of value's type."""
    if isinstance(value, bool):
        return not value
    return value + 1 if isinstance(value, int) else value * 0.5


def test_check_config_accepts_every_resumable_key_changed(tmp_path):
    write_config(tmp_path)
    requested = HPS.replace(**{key: changed(getattr(HPS, key)) for key in checkpoints.RESUMABLE_KEYS})
    assert len(hparams.diff(HPS, requested)) == len(checkpoints.RESUMABLE_KEYS)
    checkpoints.check_config(str(tmp_path), requested, {"scale_factor": 2.5})


@pytest.mark.parametrize("key", ["z_size", "batch_size", "dec_model", "categories", "max_seq_len",
                                 "re_scale", "seed"])
def test_check_config_refuses_other_keys_naming_them(tmp_path, key):
    write_config(tmp_path)
    others = {"dec_model": "lstm", "categories": ["cat"], "re_scale": 0.3}
    value = others[key] if key in others else changed(getattr(HPS, key))
    requested = HPS.replace(num_steps=5, **{key: value})  # a resumable change alongside
    with pytest.raises(TrainingError) as info:
        checkpoints.check_config(str(tmp_path), requested, {"scale_factor": 2.5})
    message = str(info.value)
    assert f"({key}: saved {getattr(HPS, key)!r} vs requested {value!r});" in message
    assert message.startswith(f"{tmp_path}/model_config.json disagrees with the requested run")
    assert "num_steps" not in message and "\n" not in message


def test_check_config_scale_factor_within_a_relative_tolerance(tmp_path):
    write_config(tmp_path, scale_factor=2.5)
    checkpoints.check_config(str(tmp_path), HPS, {"scale_factor": 2.5 * (1 + 5e-7)})  # float noise
    with pytest.raises(TrainingError, match=r"scale_factor: saved 2.5 vs requested 2.50005"):
        checkpoints.check_config(str(tmp_path), HPS, {"scale_factor": 2.50005})
    edit_config(tmp_path, scale_factor=None)  # a config without it cannot be the same data
    with pytest.raises(TrainingError, match=r"scale_factor: saved None vs requested 2.5"):
        checkpoints.check_config(str(tmp_path), HPS, {"scale_factor": 2.5})


def test_check_config_lists_every_difference_sorted(tmp_path):
    write_config(tmp_path)
    with pytest.raises(TrainingError) as info:
        checkpoints.check_config(str(tmp_path), HPS.replace(z_size=4, batch_size=7), {"scale_factor": 3.0})
    message = str(info.value)
    keys = [part.split(":")[0] for part in message.split("(", 1)[1].split(");")[0].split(", ")]
    assert keys == ["batch_size", "scale_factor", "z_size"]


# ---- losses.json --------------------------------------------------------------------------------

def test_read_losses_absent_torn_or_foreign(tmp_path):
    path = str(tmp_path / checkpoints.LOSSES_NAME)
    assert checkpoints.read_losses(path) == []
    open(path, "w").write('[{"step": 3, "train": 1.5, "valid": 2.0}, {"step": 6, "tr')
    with pytest.raises(TrainingError) as info:
        checkpoints.read_losses(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not valid JSON") and "damaged" in message and "\n" not in message
    for foreign in ({"step": 3}, [{"train": 1.0}], [3, 6]):
        open(path, "w").write(json.dumps(foreign))
        with pytest.raises(TrainingError, match=r"losses.json: expected a list of \{step, train, valid\}"):
            checkpoints.read_losses(path)


def test_append_losses_keeps_earlier_records_and_drops_later_ones(tmp_path):
    folder = str(tmp_path)
    path = tmp_path / checkpoints.LOSSES_NAME
    for step in (3, 6, 9):
        checkpoints.append_losses(folder, {"step": step, "train": float(step), "valid": 1.0})
    assert [r["step"] for r in json.load(open(path))] == [3, 6, 9]
    # A run resumed from step 3 validates at 6 again: the old 6 and 9 are of a lost future.
    records = checkpoints.append_losses(folder, {"step": 6, "train": 0.5, "valid": 0.25})
    assert records == [{"step": 3, "train": 3.0, "valid": 1.0}, {"step": 6, "train": 0.5, "valid": 0.25}]
    assert json.load(open(path)) == records
    assert sorted(os.listdir(tmp_path)) == [checkpoints.LOSSES_NAME]  # no temporary file left


def test_append_losses_refuses_to_overwrite_a_torn_file(tmp_path):
    path = tmp_path / checkpoints.LOSSES_NAME
    path.write_text('[{"step": 3, "tra')
    with pytest.raises(TrainingError, match="losses.json: not valid JSON"):
        checkpoints.append_losses(str(tmp_path), {"step": 6, "train": 1.0, "valid": 1.0})
    assert path.read_text() == '[{"step": 3, "tra'  # kept for the user to restore


# ---- remove_stale_temp_checkpoints -----------------------------------------------------------

def test_only_real_temp_checkpoint_folders_are_removed(tmp_path):
    root = tmp_path / "run"
    resume = root / checkpoints.RESUME_DIR
    stale = [root / "ckpt-16_temp", resume / "ckpt-3_temp"]
    for folder in stale:
        os.makedirs(folder)
        (folder / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"x")
    target = tmp_path / "elsewhere"  # a link of that name must go nowhere near its target
    target.mkdir()
    (target / "mine.txt").write_text("mine")
    os.symlink(target, root / "ckpt-17_temp")
    kept = [root / "ckpt-18_temp", root / "my_ckpt-16_temp", root / "ckpt-16_temp_notes",
            root / "ckpt-_temp", resume / "notes_temp"]
    kept[0].write_text("a file, not a folder")
    for folder in kept[1:]:
        os.makedirs(folder)
    warnings = []
    removed = checkpoints.remove_stale_temp_checkpoints(str(root), warnings.append)
    assert removed == [str(p) for p in stale]
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept) and kept[0].read_text() == "a file, not a folder"
    assert os.path.islink(root / "ckpt-17_temp") and (target / "mine.txt").read_text() == "mine"
    assert warnings == [f"removed 2 stale temporary checkpoint folder(s) of an interrupted save: "
                        f"{stale[0]}, {stale[1]}"]
    # Nothing left to remove: no warning; a missing folder is no error.
    assert checkpoints.remove_stale_temp_checkpoints(str(root), warnings.append) == []
    assert checkpoints.remove_stale_temp_checkpoints(str(tmp_path / "missing"), warnings.append) == []
    assert len(warnings) == 1


# ---- restore_newest_intact --------------------------------------------------------------------

class Restorer:
    """A stand-in for tf.train.Checkpoint.restore: fails on the prefixes it is told, records calls."""

    def __init__(self, damaged: dict):
        self.damaged, self.calls = damaged, []

    def __call__(self, prefix: str) -> None:
        self.calls.append(prefix)
        if prefix in self.damaged:
            raise self.damaged[prefix]


def test_restore_falls_back_to_an_older_prefix_with_warnings():
    warnings = []
    restore = Restorer({"d/ckpt-9": IndexError("Read less bytes than requested\nmore"),
                        "d/resume/ckpt-8": ValueError("shape mismatch")})
    got = checkpoints.restore_newest_intact(restore, ["d/ckpt-9", "d/resume/ckpt-8", "d/ckpt-7", "d/ckpt-2"],
                                            "d", warn=warnings.append)
    assert got == "d/ckpt-7"
    assert restore.calls == ["d/ckpt-9", "d/resume/ckpt-8", "d/ckpt-7"]  # stops at the first intact one
    assert warnings == [
        "warning: checkpoint d/ckpt-9 is damaged or unusable (Read less bytes than requested); "
        "trying an older one",
        "warning: checkpoint d/resume/ckpt-8 is damaged or unusable (shape mismatch); trying an older one",
        "warning: using d/ckpt-7, the newest intact checkpoint in d"]


def test_restore_of_an_intact_newest_prefix_says_nothing():
    warnings = []
    assert checkpoints.restore_newest_intact(Restorer({}), ["d/ckpt-9", "d/ckpt-7"], "d",
                                             warn=warnings.append) == "d/ckpt-9"
    assert warnings == []


def test_restore_with_no_intact_prefix_is_one_line():
    import tensorflow as tf

    warnings = []
    restore = Restorer({"d/ckpt-9": tf.errors.DataLossError(None, None, "bad index\nline 2"),
                        "d/ckpt-7": AssertionError("unmatched objects")})
    with pytest.raises(CheckpointError) as info:
        checkpoints.restore_newest_intact(restore, ["d/ckpt-9", "d/ckpt-7"], "d", warn=warnings.append)
    assert str(info.value) == "d: no intact checkpoint (ckpt-9: bad index; ckpt-7: unmatched objects)"
    assert len(warnings) == 1 and "d/ckpt-9" in warnings[0]  # the last one's failure is in the error
    with pytest.raises(CheckpointError) as info:
        checkpoints.restore_newest_intact(restore, [], "d", warn=warnings.append)
    assert str(info.value) == "d: no intact checkpoint"


def test_restore_lets_an_unrelated_error_rise():
    """Only the failures of a damaged checkpoint are caught; a bug is not taken for one."""
    restore = Restorer({"d/ckpt-9": KeyError("a bug")})
    with pytest.raises(KeyError, match="a bug"):
        checkpoints.restore_newest_intact(restore, ["d/ckpt-9", "d/ckpt-7"], "d", warn=print)
    assert restore.calls == ["d/ckpt-9"]
