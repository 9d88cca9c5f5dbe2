"""A training folder (`--log_root`): its config, checkpoints and loss records, checked without TensorFlow.

The folder holds `model_config.json` (hparams plus `scale_factor`), the best
checkpoints `ckpt-<step>`, under `resume/` the latest ones, and `losses.json`.
Nothing here imports TensorFlow (restore_newest_intact only when called), so
a command can check its arguments first; inference.load_model restores a
model, train.py resumes a run (METHOD.md §9).
"""
from __future__ import annotations

import math
import os
import re
import shutil
import sys
from typing import Callable

import fileio
import hparams as hparams_lib
from errors import UserError, first_line

CONFIG_NAME = "model_config.json"
RESUME_DIR = "resume"
_CKPT_INDEX = re.compile(r"ckpt-(\d+)\.index")


class CheckpointError(UserError):
    """A checkpoint folder that cannot be used; the message is one line."""


def config_path(folder: str) -> str:
    """Path of the folder's model_config.json; CheckpointError when it is missing."""
    if not os.path.isdir(folder):
        raise CheckpointError(f"{folder}: checkpoint folder not found")
    path = os.path.join(folder, CONFIG_NAME)
    if not os.path.isfile(path):
        raise CheckpointError(f"{folder}: no {CONFIG_NAME} (not a training --log_root folder)")
    return path


def load_config(folder: str) -> tuple:
    """(hps, extras) of a training folder; extras must hold scale_factor."""
    path = config_path(folder)
    try:
        hps, extras = hparams_lib.load(path)
    except (ValueError, OSError) as err:  # HParamsError and json errors are ValueErrors
        raise CheckpointError(f"{path}: unreadable ({err})") from None
    try:
        hparams_lib.validate(hps)  # a hand-edited config must not reach TensorFlow
    except hparams_lib.HParamsError as err:
        raise CheckpointError(f"{path}: {'; '.join(str(err).splitlines())}") from None
    problem = scale_factor_problem(extras.get("scale_factor"))
    if problem:
        raise CheckpointError(f"{path}: {problem}")
    if hps.max_seq_len <= 0 or hps.max_strokes_num <= 0 or hps.max_stroke_len < 1:
        raise CheckpointError(f"{path}: max_seq_len/max_stroke_len/max_strokes_num not set "
                              "(they are computed from the data when training starts)")
    return hps, extras


# The std of a data set's pen offsets (int16 units; QuickDraw's is about 45). Outside this range
# sketches come out blank, mirrored or as NaN, so a hand-edited value is refused.
SCALE_FACTOR_RANGE = (1e-3, 1e5)


def scale_factor_problem(value) -> str | None:
    """What is wrong with a config's scale_factor entry (None when it is a sane positive number)."""
    low, high = SCALE_FACTOR_RANGE
    if value is None:
        return "no scale_factor entry"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"'scale_factor' = {value!r}: expected a number"
    if not (math.isfinite(value) and low <= value <= high):
        return (f"'scale_factor' = {value!r}: expected a finite number in [{low:g}, {high:g}] "
                "(the standard deviation of the training data's pen offsets)")
    return None


def _exists(prefix: str) -> bool:
    return os.path.isfile(prefix + ".index")


def find_checkpoint(folder: str, ckpt_id: int = 0) -> str:
    """Checkpoint prefix: the latest best one for ckpt_id 0, else `ckpt-<ckpt_id>`."""
    if ckpt_id:
        candidates = [os.path.join(folder, f"ckpt-{ckpt_id}"),
                      os.path.join(folder, RESUME_DIR, f"ckpt-{ckpt_id}")]
        for prefix in candidates:
            if _exists(prefix):
                return prefix
        raise CheckpointError(f"{folder}: no checkpoint ckpt-{ckpt_id} (looked for {candidates[0]}.index)")
    latest = _latest(folder)
    if latest:
        return latest
    found = list_checkpoints(folder)
    if found and not os.path.isfile(os.path.join(folder, STATE_NAME)):
        # Without the state file the best one is unknown: the newest step need not be the best.
        names = ", ".join(os.path.basename(p) for p in found)
        raise CheckpointError(f"{folder}: the checkpoint state file '{STATE_NAME}' is missing, so the best "
                              f"checkpoint is unknown; checkpoints found: {names} (pass a number as ckpt_id)")
    resume = _latest(os.path.join(folder, RESUME_DIR))
    hint = f"; only {resume} exists, pass its number as ckpt_id" if resume else ""
    raise CheckpointError(f"{folder}: no best checkpoint{hint}")


# tf.train.CheckpointManager's state file: which checkpoint is the latest.
STATE_NAME = "checkpoint"


def _latest(folder: str) -> str | None:
    """The newest prefix named in a CheckpointManager state file, read without TensorFlow."""
    state = os.path.join(folder, STATE_NAME)
    if not os.path.isfile(state):
        return None
    try:
        with open(state, "rb") as f:
            text = f.read(1_000_000).decode("utf-8")
    except UnicodeDecodeError:
        raise CheckpointError(f"{state}: not a checkpoint state file (binary, not UTF-8 text); "
                              "restore it, or delete it and pass a checkpoint number as ckpt_id") from None
    except OSError as err:
        raise CheckpointError(f"{state}: unreadable ({err.strerror or type(err).__name__})") from None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model_checkpoint_path":
            name = value.strip().strip('"')
            prefix = name if os.path.isabs(name) else os.path.join(folder, name)
            return prefix if _exists(prefix) else None
    return None


def check_state_files(log_root: str) -> None:
    """CheckpointError naming a damaged state file of a training folder (TensorFlow fails deep inside)."""
    for folder in (log_root, os.path.join(log_root, RESUME_DIR)):
        _latest(folder)


def list_checkpoints(folder: str) -> list:
    """Prefixes of the folder's `ckpt-<step>` checkpoints (those with an .index file), newest first."""
    if not os.path.isdir(folder):
        return []
    found = [(int(m.group(1)), os.path.join(folder, name[:-len(".index")]))
             for name in os.listdir(folder) if (m := _CKPT_INDEX.fullmatch(name))]
    return [prefix for _, prefix in sorted(found, reverse=True)]


def resume_candidates(log_root: str) -> list:
    """Every checkpoint a run may resume from, newest step first (resume/ before best on a tie)."""
    found = [(int(p.rsplit("-", 1)[1]), kind, p)
             for kind, folder in ((1, os.path.join(log_root, RESUME_DIR)), (0, log_root))
             for p in list_checkpoints(folder)]
    return [prefix for _, _, prefix in sorted(found, reverse=True)]


# ---- a training run's folder: config check, losses.json, leftovers of a kill (train.py) -------------

LOSSES_NAME = "losses.json"
# Keys that may change between a run and its resumption.
RESUMABLE_KEYS = ("num_steps", "save_every", "early_stop_patience", "jit_compile", "shape_buckets",
                  "learning_rate", "min_learning_rate", "decay_rate")
# The folder tf.train.Checkpoint writes a checkpoint into before renaming it (`<prefix>_temp`);
# a kill -9 mid-save leaves it behind.
TEMP_CHECKPOINT = re.compile(r"ckpt-\d+_temp")


# Defined here, free of TensorFlow: train.py raises it before TensorFlow is loaded, distribute.py too.
class TrainingError(UserError, RuntimeError):
    """A user-facing training failure (config mismatch, non-finite loss, ...)."""


def is_training_config(path: str) -> bool:
    """Whether `path` is a model_config.json that sketchgloc training wrote (hparams and a scale_factor)."""
    try:
        _, extras = hparams_lib.load(path)
    except (ValueError, OSError):  # HParamsError and a foreign or torn JSON file
        return False
    return "scale_factor" in extras


STARTING_RUN_FOLDERS = {"tensorboard", "samples", RESUME_DIR}


def foreign_log_root_problem(log_root: str) -> str | None:
    """Why training may not write into log_root: a folder of files that no sketchgloc run wrote.

    Training writes model_config.json, history.json, loss_curve.png there, so a folder is
    accepted only when it is missing or empty, or holds checkpoints or a sketchgloc config.
    """
    try:
        entries = sorted(os.listdir(log_root))
    except FileNotFoundError:
        return None
    except OSError as err:
        reason = err.strerror or type(err).__name__
        return f"flag --log_root = {log_root!r}: cannot read the folder ({reason})"
    # Only the folders a starting run creates (another worker of a multi-worker run may be there first).
    if set(entries) <= STARTING_RUN_FOLDERS or resume_candidates(log_root):
        return None
    if is_training_config(os.path.join(log_root, CONFIG_NAME)):
        return None
    shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
    return (f"flag --log_root = {log_root!r}: holds files but no sketchgloc training run ({shown}); "
            f"training would replace {CONFIG_NAME}, history.json and loss_curve.png there: "
            "use an empty or new folder")


def config_extras(data) -> dict:
    """What sampling and evaluation need besides the hparams (of a utils.Dataset)."""
    return {"scale_factor": float(data.scale_factor)}


def check_config(log_root: str, hps, extras: dict) -> None:
    """Refuse to resume when model_config.json disagrees with the requested run."""
    saved, saved_extra = hparams_lib.load(os.path.join(log_root, CONFIG_NAME))
    differ = hparams_lib.diff(saved, hps, ignore=RESUMABLE_KEYS)
    for key, value in extras.items():
        old = saved_extra.get(key)
        if old is None or not math.isclose(old, value, rel_tol=1e-6):
            differ[key] = (old, value)
    if differ:
        lines = ", ".join(f"{k}: saved {a!r} vs requested {b!r}" for k, (a, b) in sorted(differ.items()))
        raise TrainingError(f"{log_root}/{CONFIG_NAME} disagrees with the requested run ({lines}); "
                            "use the same --hparams/--data_dir or another --log_root")


def read_losses(path: str) -> list:
    """The records of losses.json ([] when absent); TrainingError naming a torn or foreign file."""
    if not os.path.exists(path):
        return []
    try:
        records = fileio.read_json(path)
    except ValueError as err:
        raise TrainingError(f"{err}; the file is damaged: restore it, or delete it to start its "
                            "records afresh") from None
    if not (isinstance(records, list) and all(isinstance(r, dict) and "step" in r for r in records)):
        raise TrainingError(f"{path}: expected a list of {{step, train, valid}} records")
    return records


def append_losses(folder: str, record: dict) -> list:
    """Add a {step, train, valid} record to the folder's losses.json, dropping later steps; every record."""
    path = os.path.join(folder, LOSSES_NAME)
    # A resumed run rewrites its future.
    records = [r for r in read_losses(path) if r["step"] < record["step"]]
    records.append(record)
    fileio.write_json(path, records, indent=1)  # atomic: a kill -9 never leaves a torn file
    return records


def resume_point_note(log_root: str) -> str:
    """End of a 'training stopped' message: the checkpoint a resume would start from, if any."""
    candidates = resume_candidates(log_root)
    if not candidates:
        return f", no checkpoint was written to {log_root}"
    return f"; the newest checkpoint on disk, {candidates[0]}, is from before it"


def remove_stale_temp_checkpoints(log_root: str, warn) -> list:
    """Delete `ckpt-<N>_temp/` folders that a kill mid-save left in log_root and its resume/ folder."""
    removed = []
    for folder in (log_root, os.path.join(log_root, RESUME_DIR)):
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            # Only TensorFlow's own temp naming, only real folders (never a link or a file).
            if TEMP_CHECKPOINT.fullmatch(name) and os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
                removed.append(path)
    if removed:
        warn(f"removed {len(removed)} stale temporary checkpoint folder(s) of an interrupted save: "
             f"{', '.join(removed)}")
    return removed


def _warn(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def restore_newest_intact(restore: Callable[[str], None], prefixes: list, where: str,
                          warn: Callable[[str], None] = _warn) -> str:
    """Call `restore(prefix)` on each prefix, newest first, until one succeeds; returns that prefix.

    A damaged file (truncated data: IndexError; bad index: tf.errors.OpError) gives one
    warning line naming it when an older one remains to try; when none is intact,
    CheckpointError in one line.
    """
    import tensorflow as tf

    failed = []
    for i, prefix in enumerate(prefixes):
        try:
            restore(prefix)
        except (tf.errors.OpError, IndexError, AssertionError, ValueError) as err:
            failed.append(f"{os.path.basename(prefix)}: {first_line(err)}")
            if i + 1 < len(prefixes):
                warn(f"warning: checkpoint {prefix} is damaged or unusable ({first_line(err)}); "
                     "trying an older one")
            continue
        if failed:
            warn(f"warning: using {prefix}, the newest intact checkpoint in {where}")
        return prefix
    detail = f" ({'; '.join(failed)})" if failed else ""
    raise CheckpointError(f"{where}: no intact checkpoint{detail}")


def check_folder(checkpoint_path: str, ckpt_id: int = 0) -> tuple:
    """(hps, extras, prefix) without TensorFlow: every check inference.load_model does before restoring."""
    if not os.path.isdir(checkpoint_path) and _exists(checkpoint_path):
        # A prefix such as DIR/ckpt-12 or DIR/resume/ckpt-12: the config is in DIR.
        folder = os.path.dirname(checkpoint_path)
        if os.path.basename(folder) == RESUME_DIR and not os.path.isfile(os.path.join(folder, CONFIG_NAME)):
            folder = os.path.dirname(folder)
        hps, extras = load_config(folder)
        return hps, extras, checkpoint_path
    hps, extras = load_config(checkpoint_path)
    return hps, extras, find_checkpoint(checkpoint_path, ckpt_id)
