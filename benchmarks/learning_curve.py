"""Validation loss at fixed steps, to compare learning with the original code.

Default: sheep, batch 100, enc 64 / dec 128 hyper / z 32, recurrent dropout on,
random_scale_factor and augment_stroke_prob 0.1, learning rate held at 1e-3
(decay_rate=1.0, what the original effectively does). Prints one JSON line.
The original code measured 1258 at step 0, 371 at step 100, 293 at step 200.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import hparams as hparams_lib  # noqa: E402
from bench_train import load  # noqa: E402
from distribute import configure  # noqa: E402
from train import Trainer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hparams", default="preset=small,decay_rate=1.0")
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--categories", default="aaron_sheep")
    parser.add_argument("--checkpoints", default="0,100,200")
    args = parser.parse_args()
    hps = hparams_lib.parse(args.hparams)
    shards = configure(hps.batch_size, hps.dec_rnn_size)  # as train.py does
    data, categories = load(args.data_dir, args.categories.split(","), hps)
    hps = hparams_lib.fit_to(hps, data, categories=categories)
    marks = [int(s) for s in args.checkpoints.split(",")]
    curve, start = {}, time.perf_counter()
    with tempfile.TemporaryDirectory() as log_root:
        trainer = Trainer(hps, data, log_root, verbose=0, decoder_shards=shards)
        batches = iter(trainer.batches(data.train, True, seed=hps.seed).repeat())
        for step in range(marks[-1] + 1):
            if step in marks:
                curve[step] = round(trainer.evaluate(data.valid), 1)
                print(f"step {step}: validation loss {curve[step]}", file=sys.stderr, flush=True)
            if step < marks[-1]:
                trainer.train_step(next(batches))
    print(json.dumps({"valid_loss": curve, "hparams": args.hparams, "data": ",".join(categories),
                      "seconds": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
    main()
