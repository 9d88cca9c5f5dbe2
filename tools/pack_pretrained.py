"""Pack a trained model (and its classifier) for inference only: config and weights, no optimizer state.

    python tools/pack_pretrained.py --checkpoint RUN [--ckpt_id 0] [--classifier CLS] --out pretrained/NAME

`--out` becomes a checkpoint folder that sample_abs.py, retrieval.py and
evaluate.py take like a training folder: `model_config.json`, the model's
weights as `ckpt-<step>` and the `checkpoint` state file naming them. With
`--classifier`, the Sketch-a-Net classifier's `classifier.json` and weights go
to `<out>/classifier/`. Adam's two moments make a training checkpoint three
times this size.
"""
from __future__ import annotations

import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # the project's modules, when run as `python tools/<name>.py`

import checkpoints  # noqa: E402
import errors  # noqa: E402
import export  # noqa: E402
import fileio  # noqa: E402
import hparams as hparams_lib  # noqa: E402

CLASSIFIER_DIR = "classifier"


class PackError(errors.UserError):
    """A bad --out folder; the message is one line."""


def check_out(out: str) -> None:
    """Refuse an --out that holds anything but an earlier pack (which is replaced)."""
    if os.path.isfile(out):
        raise PackError(f"{out}: is a file, not a folder")
    if os.path.isdir(out) and os.listdir(out) and not fileio.read_manifest(out):
        raise PackError(f"{out}: folder is not empty and was not written by this tool")
    problem = fileio.writable_dir_problem(out)
    if problem:
        raise PackError(problem)


def pack_model(checkpoint: str, out: str, ckpt_id: int = 0) -> list:
    """Write config and model weights of a training folder's checkpoint to `out`; returns the file names."""
    import tensorflow as tf

    from inference import load_model

    model, hps, extras, prefix = load_model(checkpoint, ckpt_id)
    step = int(prefix.rsplit("-", 1)[1])
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model), out, max_to_keep=1)
    saved = manager.save(checkpoint_number=step)
    hparams_lib.save(hps, os.path.join(out, checkpoints.CONFIG_NAME), **extras)
    names = [checkpoints.CONFIG_NAME, "checkpoint"]
    return names + [n for n in os.listdir(out) if n.startswith(os.path.basename(saved) + ".")]


def pack_classifier(classifier: str, out: str) -> list:
    """Write a sketch_a_net.train folder's config and weights (no optimizer) to `out`; returns the names."""
    import tensorflow as tf

    from sketch_a_net.evaluate import load_classifier

    loaded = load_classifier(classifier)
    os.makedirs(out, exist_ok=True)
    prefix = os.path.join(out, loaded.config["checkpoint"])
    tf.train.Checkpoint(model=loaded.model).write(prefix)
    shutil.copyfile(os.path.join(classifier, "classifier.json"), os.path.join(out, "classifier.json"))
    return ["classifier.json"] + [n for n in os.listdir(out) if n.startswith(os.path.basename(prefix) + ".")]


def pack(checkpoint: str, out: str, classifier: str = "", ckpt_id: int = 0) -> str:
    """Pack model (and classifier) into `out`, recording what it wrote in out's manifest."""
    checkpoints.check_folder(checkpoint, ckpt_id)
    check_out(out)
    os.makedirs(out, exist_ok=True)
    names = pack_model(checkpoint, out, ckpt_id)
    if classifier:
        names += [os.path.join(CLASSIFIER_DIR, n)
                  for n in pack_classifier(classifier, os.path.join(out, CLASSIFIER_DIR))]
    fileio.write_manifest(out, set(names))
    return out


@errors.guarded
def main(argv: list | None = None) -> int:
    """CLI: print the packed folder."""
    parser = export.checkpoint_parser(__doc__, "folder to write")
    parser.add_argument("--classifier", default="", help="sketch_a_net.train folder to pack alongside")
    args = parser.parse_args(argv)
    print(pack(args.checkpoint, args.out, args.classifier, args.ckpt_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
