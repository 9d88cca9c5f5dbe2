"""Train SketchGloc: `python train.py --log_root=DIR --data_dir=DIR --hparams="categories=[bee,bus]"`."""
from __future__ import annotations

import math
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

import hparams as hparams_lib  # noqa: E402
import utils  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("log_root", "checkpoints",
                    "Folder for checkpoints, model_config.json, TensorBoard logs, samples.")
flags.DEFINE_string("data_dir", "datasets", "Folder holding <category>.npz files.")
flags.DEFINE_boolean("resume_training", False, "Continue the checkpoints in --log_root.")
flags.DEFINE_string("hparams", "",
                    "Comma-separated key=value overrides, e.g. 'categories=[bee,bus],z_size=64'.")
flags.DEFINE_boolean("demo", False, "Train the `small` preset on the built-in demo dataset.")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"],
                  "default: one device; mirrored: all GPUs of this machine (MirroredStrategy); "
                  "multi_worker: MultiWorkerMirroredStrategy over the cluster in TF_CONFIG. "
                  "hparams batch_size is the global batch, split over the replicas.")
flags.DEFINE_boolean("cpu_layout", True, "Without a GPU (and with --strategy=default), run the decoder "
                     "batch as parallel shards, one thread per op: faster on few cores, same arithmetic "
                     "(see cpu_layout.py).")
flags.DEFINE_float("checkpoint_minutes", 10.0, "Also save the resume checkpoint whenever this many minutes "
                   "of wall time passed since the last save (mid-epoch), so a kill loses at most that much.")

# The demo: small model, short run, so that it finishes in minutes on 2 CPU cores.
DEMO_HPARAMS = "preset=small,num_steps=600,save_every=4,decay_rate=0.9999"


def resolve(hparams_text: str, data_dir: str, demo: bool):
    """(hps, data_dir) from the flags; the demo dataset is generated on first use."""
    if not demo:
        return hparams_lib.validate(hparams_lib.parse(hparams_text)), data_dir
    import demo_data
    demo_dir, categories = demo_data.ensure_demo_dataset()
    hps = hparams_lib.parse(DEMO_HPARAMS).replace(categories=categories)
    return hparams_lib.validate(hparams_lib.parse(hparams_text, base=hps)), demo_dir


def check_flags(checkpoint_minutes: float, log_root: str) -> None:
    """HParamsError naming a train.py flag whose value is not allowed (one line per flag)."""
    lines = []
    if not (math.isfinite(checkpoint_minutes) and checkpoint_minutes > 0):
        lines.append(f"flag --checkpoint_minutes = {checkpoint_minutes!r}: expected a finite number > 0")
    if not log_root:
        lines.append("flag --log_root is empty: expected a folder")
    elif os.path.exists(log_root) and not os.path.isdir(log_root):
        lines.append(f"flag --log_root = {log_root!r}: exists and is not a folder")
    if lines:
        raise hparams_lib.HParamsError("\n".join(lines))


def run(hparams_text: str, data_dir: str, log_root: str, resume: bool, demo: bool, verbose: int = 1,
        strategy: str = "default", cpu_layout: bool = False, checkpoint_minutes: float = 10.0) -> dict:
    """Load the data, train under the named tf.distribute strategy, and return the run's history."""
    check_flags(checkpoint_minutes, log_root)
    hps, data_dir = resolve(hparams_text, data_dir, demo)
    # numpy only: bad data is reported before TensorFlow starts (and prints its banners).
    data = utils.load_dataset(data_dir, hps.categories, hps.num_per_category, hps.max_seq_len,
                              hps.max_strokes_num, hps.max_stroke_len)
    for line in hparams_lib.no_effect_notices(hps):
        print(line, flush=True)
    from training import Trainer, make_strategy, write_summary
    if cpu_layout:
        import cpu_layout as layout
        layout.configure(hps.batch_size, hps.dec_rnn_size, strategy=strategy)
    # Created before any other TensorFlow work: multi-worker setup must come first.
    dist = make_strategy(strategy)
    hps = hps.replace(max_seq_len=data.max_seq_len, max_strokes_num=data.max_strokes_num,
                      max_stroke_len=data.max_stroke_len)
    trainer = Trainer(hps, data, log_root, verbose=verbose, strategy=dist,
                      checkpoint_seconds=60.0 * checkpoint_minutes)
    trainer.prepare(resume)
    history = trainer.fit()
    write_summary(trainer.write_root, history)
    if trainer.chief:
        print(f"done: step {history['step']}, best validation loss {history['best_valid']:.2f}; "
              f"checkpoints in {log_root}")
    return history


def main(argv: list) -> None:
    logging.set_verbosity(logging.WARNING)  # hide TensorFlow's per-save INFO lines
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        run(FLAGS.hparams, FLAGS.data_dir, FLAGS.log_root, FLAGS.resume_training, FLAGS.demo,
            strategy=FLAGS.strategy, cpu_layout=FLAGS.cpu_layout, checkpoint_minutes=FLAGS.checkpoint_minutes)
    except (hparams_lib.HParamsError, utils.DataError) as err:
        sys.exit(error_lines(err))
    except Exception as err:
        # training (and TensorFlow) is imported only once the data is known to be good.
        from checkpoints import CheckpointError
        from training import TrainingError
        if isinstance(err, (TrainingError, CheckpointError)):
            sys.exit(error_lines(err))
        raise


def error_lines(err: Exception) -> str:
    """`error: ...`, one line per line of the message (validation reports every bad hparam)."""
    return "\n".join(f"error: {line}" for line in str(err).splitlines() or [type(err).__name__])


if __name__ == "__main__":
    app.run(main)
