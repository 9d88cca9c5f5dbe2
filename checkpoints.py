"""Restore a trained SketchGloc for inference from a training folder (`--log_root`).

The folder holds `model_config.json` (hparams plus `scale_factor`), the best
checkpoints `ckpt-<step>` and, under `resume/`, the latest ones. Only
`load_model` imports TensorFlow, so a CLI can check its arguments first.
"""
from __future__ import annotations

import gc
import logging
import os

import hparams as hparams_lib

# Shared with training.py; this module stays free of TensorFlow.
CONFIG_NAME = "model_config.json"
RESUME_DIR = "resume"


class CheckpointError(Exception):
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
    if not extras.get("scale_factor"):
        raise CheckpointError(f"{path}: no scale_factor entry")
    if hps.max_seq_len <= 0 or hps.max_strokes_num <= 0 or hps.max_stroke_len < 1:
        raise CheckpointError(f"{path}: max_seq_len/max_stroke_len/max_strokes_num not set "
                              "(they are computed from the data when training starts)")
    return hps, extras


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
    resume = _latest(os.path.join(folder, RESUME_DIR))
    hint = f"; only {resume} exists, pass its number as ckpt_id" if resume else ""
    raise CheckpointError(f"{folder}: no best checkpoint{hint}")


def _latest(folder: str) -> str | None:
    """The newest prefix named in a CheckpointManager state file, read without TensorFlow."""
    state = os.path.join(folder, "checkpoint")
    if not os.path.isfile(state):
        return None
    with open(state) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.strip() == "model_checkpoint_path":
                name = value.strip().strip('"')
                prefix = name if os.path.isabs(name) else os.path.join(folder, name)
                return prefix if _exists(prefix) else None
    return None


def check_folder(checkpoint_path: str, ckpt_id: int = 0) -> tuple:
    """(hps, extras, prefix) without TensorFlow: every check load_model does before restoring."""
    if not os.path.isdir(checkpoint_path) and _exists(checkpoint_path):
        # A prefix such as DIR/ckpt-12 or DIR/resume/ckpt-12: the config is in DIR.
        folder = os.path.dirname(checkpoint_path)
        if os.path.basename(folder) == RESUME_DIR and not os.path.isfile(os.path.join(folder, CONFIG_NAME)):
            folder = os.path.dirname(folder)
        hps, extras = load_config(folder)
        return hps, extras, checkpoint_path
    hps, extras = load_config(checkpoint_path)
    return hps, extras, find_checkpoint(checkpoint_path, ckpt_id)


def load_model(checkpoint_path: str, ckpt_id: int = 0) -> tuple:
    """(model, hps, extras, prefix): SketchGloc rebuilt from model_config.json and restored."""
    import tensorflow as tf

    from model import SketchGloc

    hps, extras, prefix = check_folder(checkpoint_path, ckpt_id)
    model = SketchGloc(hps)
    problem, logger = None, tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        # expect_partial: the optimizer's slots in the file are not needed for inference.
        tf.train.Checkpoint(model=model).restore(prefix).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError) as err:  # missing variables / other shapes
        problem = str(err).splitlines()[0] if str(err) else type(err).__name__
    finally:
        # A failed restore logs every unused value of the file when its status is collected.
        gc.collect()
        logger.setLevel(level)
    if problem is not None:
        raise CheckpointError(f"{prefix}: does not match {CONFIG_NAME} ({problem[:200]})")
    return model, hps, extras, prefix
