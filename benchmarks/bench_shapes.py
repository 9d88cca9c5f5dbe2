"""Distinct padded batch shapes over an epoch (= programs XLA compiles with jit_compile=True); one JSON line.

Nothing is trained: the batches of one epoch are built by the training input path
(train.BatchSource: shuffling, `bucket_batches`, augmentation) for the training split,
and the evaluation batches for the validation and test splits. A program is one
distinct tuple of the batch's array shapes. `train_programs` counts the training
step's (the only jit-compiled function); `eval_shapes` those of the (not compiled)
evaluation step. `flops_ratio` is the analytic FLOPs of the epoch's padded training
batches (bench_train.batch_flops, `paper` sizes) with the size classes over without:
what the coarser padding costs when nothing is saved by compiling.

Data: the bundled 4 QuickDraw categories (pig, face, radio, alarm clock) and the
sheep of data/ (data/README.md).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import hparams as hparams_lib  # noqa: E402
import utils  # noqa: E402

DATASETS = {"quickdraw4": ["pig", "face", "radio", "alarm clock"], "sheep": ["aaron_sheep"]}


def epoch_shapes(split: utils.Split, hps, data: utils.Dataset, training: bool) -> tuple[list, float]:
    """(shape tuple of every batch of one epoch of `split`, analytic FLOPs of those batches)."""
    from bench_train import batch_flops
    from train import BatchSource

    source = BatchSource(split, hps, data, training=training, seed=0)
    shapes, flops = [], 0.0
    for b in range(source.num_batches):
        batch = dict(zip(source.spec, source(b)))
        shapes.append(tuple(tuple(batch[k].shape) for k in source.spec))
        flops += batch_flops(batch, hps) if training else 0.0
    return shapes, flops


def count(data: utils.Dataset, hps, buckets: int) -> dict:
    """Programs of the training step and evaluation shapes of one epoch with `buckets` size classes."""
    hps = hps.replace(shape_buckets=buckets)
    train, flops = epoch_shapes(data.train, hps, data, training=True)
    evaluation = [s for split in (data.valid, data.test)
                  for s in epoch_shapes(split, hps, data, training=False)[0]]
    time_steps = sorted({s[3][1] - 1 for s in train})  # targets [B, T + 1, 5]
    return {"train_batches": len(train), "train_programs": len(set(train)),
            "eval_shapes": len(set(evaluation)), "flops": flops,
            "train_time_steps": time_steps if len(time_steps) <= 12 else [time_steps[0], time_steps[-1]]}


def main(argv: list | None = None) -> dict:
    """Parse the command line, count, print and return the JSON record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape_buckets", default="4",
                        help="size classes, or a comma list of settings to compare (0 = off)")
    parser.add_argument("--hparams", default="preset=paper", help="batch_size, bucket_batches, ...")
    parser.add_argument("--data_dir", default=os.path.join(REPO, "data"))
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"of {', '.join(DATASETS)}")
    parser.add_argument("--num_per_category", type=int, default=None, help="fewer sketches (tests)")
    args = parser.parse_args(argv)
    settings = [int(v) for v in args.shape_buckets.split(",")]
    base = hparams_lib.parse(args.hparams)
    if args.num_per_category:
        base = base.replace(num_per_category=args.num_per_category)
    start = time.perf_counter()
    out = {"hparams": args.hparams, "batch_size": base.batch_size, "bucket_batches": base.bucket_batches,
           "datasets": {}}
    for name in args.datasets.split(","):
        categories = DATASETS[name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the bundled files' clipped offsets are known
            data = utils.load_dataset(args.data_dir, categories, base.num_per_category, base.max_seq_len,
                                      base.max_strokes_num, base.max_stroke_len)
        hps = hparams_lib.fit_to(base, data, categories=categories)
        off = count(data, hps, 0)
        entry = {"caps": [data.max_seq_len + 1, data.max_strokes_num, data.max_stroke_len + 1],
                 "train_batches": off["train_batches"], "off": _public(off, off)}
        for buckets in settings:
            if buckets > 0:
                entry[f"shape_buckets={buckets}"] = _public(count(data, hps, buckets), off)
        out["datasets"][name] = entry
    out["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(out))
    return out


def _public(result: dict, off: dict) -> dict:
    """The printed part of `count`'s result, FLOPs as a ratio to the unrounded padding."""
    shown = {k: v for k, v in result.items() if k not in ("flops", "train_batches")}
    shown["flops_ratio"] = round(result["flops"] / off["flops"], 4)
    return shown


if __name__ == "__main__":
    main()
