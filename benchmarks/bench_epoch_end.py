"""What an epoch's end costs: the training pipeline with tf.data's autotuner against without it.

Every epoch of `train.py` makes a new input pipeline (its order is fixed by seed + epoch) and
frees it after the last batch. With the autotuner on, that freeing sometimes waited tens of
seconds. One trainer (its step traced once) trains `--rounds` rounds of one epoch with each
pipeline in turn (autotuned, fixed, autotuned, ...), so that a change of the machine's load
hits both alike. An epoch is `--steps` batches of the bundled 4-category data (the `claims`
study's config by default). One JSON line: per pipeline every epoch's seconds, the seconds
from its last step's end to the pipeline being freed (`tail_s`), and their medians.

    python benchmarks/bench_epoch_end.py --rounds 4 --steps 40
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "tools"), os.path.dirname(os.path.abspath(__file__))]

import bench_train  # noqa: E402
import hparams as hparams_lib  # noqa: E402
import reproduce  # noqa: E402
from train import BatchSource, Trainer  # noqa: E402

CLAIMS_HPARAMS = "preset=small,enc_rnn_size=128,num_graphs=1,re_scale=0.3,seed=1"  # the model g1_rs0.3_s1


def one_epoch(trainer: Trainer, epoch: int, steps: int, autotune: bool) -> tuple:
    """(epoch seconds, seconds from the last step's end until the pipeline is freed)."""
    source = BatchSource(trainer.data.train, trainer.hps, trainer.data, True, trainer.hps.seed + epoch)
    start = time.perf_counter()

    def run() -> float:
        last = start
        for batch in source.dataset(autotune=autotune).take(steps):
            float(trainer.train_step(batch))
            last = time.perf_counter()
        return last  # the loop's iterator is freed when this frame ends
    last = run()
    end = time.perf_counter()
    return end - start, end - last


def main(argv: list | None = None) -> dict:
    """Alternate autotuned and fixed pipelines, one epoch each; print (and return) one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hparams", default=CLAIMS_HPARAMS)
    parser.add_argument("--data_dir", default=None, help="default: the bundled 4-category data")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=40, help="batches per epoch")
    args = parser.parse_args(argv)
    categories = list(reproduce.CLAIMS.categories)
    hps = hparams_lib.validate(hparams_lib.parse(args.hparams).replace(categories=categories))
    data, _ = bench_train.load(args.data_dir or reproduce.data_dir(reproduce.CLAIMS), categories, hps)
    hps = hparams_lib.fit_to(hps, data)
    with tempfile.TemporaryDirectory() as log_root:
        trainer = Trainer(hps, data, log_root, verbose=0)
        one_epoch(trainer, 0, 3, autotune=False)  # trace the step before any timing
        runs = {"autotune": {"epoch_s": [], "tail_s": []}, "fixed": {"epoch_s": [], "tail_s": []}}
        for r in range(args.rounds):
            for name in runs:
                seconds, tail = one_epoch(trainer, 1 + r, args.steps, autotune=name == "autotune")
                runs[name]["epoch_s"].append(round(seconds, 2))
                runs[name]["tail_s"].append(round(tail, 2))
                print(f"round {r + 1}/{args.rounds} {name}: epoch {seconds:.1f} s, tail {tail:.1f} s",
                      file=sys.stderr, flush=True)
    for run in runs.values():
        run["median_epoch_s"] = statistics.median(run["epoch_s"])
        run["median_tail_s"] = statistics.median(run["tail_s"])
    out = {"benchmark": "epoch_end", "hparams": args.hparams, "steps": args.steps,
           "rounds": args.rounds, "cores": os.cpu_count(), **runs}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
