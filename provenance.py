"""Which checkpoint made a sample folder: written by sample_abs.py, checked by retrieval.py.

`sample_meta.json` records the checkpoint prefix, a hash of its model config
and a hash of its `.index` file (which changes with every saved weight), so
that codes are never ranked by a model other than the one that wrote them.
A copied or moved checkpoint keeps its hashes and still matches. No TensorFlow.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import checkpoints
import fileio
from sample_files import META_NAME

# Keys of sample_meta.json compared with the checkpoint given to retrieval.
CHECKED = ("config_sha256", "checkpoint_sha256")


def checkpoint_provenance(checkpoint_path: str, ckpt_id: int = 0) -> dict:
    """{checkpoint_prefix, config_sha256, checkpoint_sha256} of a checkpoint (CheckpointError if unusable)."""
    hps, extras, prefix = checkpoints.check_folder(checkpoint_path, ckpt_id)
    config = json.dumps({"hparams": dataclasses.asdict(hps), **extras}, sort_keys=True, default=str)
    with open(prefix + ".index", "rb") as f:
        index_hash = hashlib.sha256(f.read()).hexdigest()
    return {"checkpoint_prefix": os.path.abspath(prefix),
            "config_sha256": hashlib.sha256(config.encode()).hexdigest(),
            "checkpoint_sha256": index_hash}


def mismatch(meta: dict, expected: dict) -> str | None:
    """One line saying how the samples' provenance differs from `expected` (None when it matches)."""
    if not all(meta.get(key) for key in CHECKED):
        return (f"the samples record no checkpoint hashes (written by an older sample_abs.py; "
                f"checkpoint {meta.get('checkpoint', 'unknown')}), the checkpoint given is "
                f"{expected['checkpoint_prefix']}")
    differ = [key for key in CHECKED if meta[key] != expected[key]]
    if not differ:
        return None
    values = "; ".join(f"{key} {meta[key][:12]} vs {expected[key][:12]}" for key in differ)
    return (f"the samples were made with checkpoint {meta.get('checkpoint_prefix')}, not with "
            f"{expected['checkpoint_prefix']} ({values})")


def read_meta(sample_dir: str, name: str = META_NAME) -> dict:
    """The sample folder's metadata; ValueError with a one-line reason when missing or unreadable."""
    path = os.path.join(sample_dir, name)
    try:
        meta = fileio.read_json(path)
    except OSError as err:
        raise ValueError(f"{path}: cannot read ({err.strerror or type(err).__name__})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: not a JSON object")
    return meta
