"""Generation speed: batched tf.while_loop sampler vs. one sketch at a time; one JSON line.

* batched: `inference.Sampler.generate` on `--codes` codes at once (one
  compiled loop for the whole batch, as sample_abs.py runs it);
* one at a time: each sketch alone (batch of 1), one call of a compiled
  decoder step per pen step plus numpy greedy choice, as the original
  sampler did with one `sess.run` per step.

Untrained weights by default (`--checkpoint` takes a training folder instead).
Unless `--allow_end`, the end-of-sketch logit is pushed down so that every
sketch runs the full `--max_len` steps and both modes do the same work;
`steps` reports the mean length actually decoded.

    python benchmarks/bench_sample.py [--codes 500] [--max_len 100] [--single 10]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import hparams as hparams_lib  # noqa: E402
from model import SketchGloc  # noqa: E402
from inference import Sampler, load_model  # noqa: E402


def build_model(args: argparse.Namespace):
    """(model, description): restored from --checkpoint or freshly initialised small preset."""
    if args.checkpoint:
        model, _, _, prefix = load_model(args.checkpoint)
        return model, prefix
    tf.random.set_seed(0)
    hps = hparams_lib.parse(f"preset={args.preset},max_seq_len={args.max_len},max_strokes_num=25")
    return SketchGloc(hps), f"untrained preset={args.preset}"


def block_end_of_sketch(model) -> None:
    """Make the end-of-sketch pen state (logit index 2) never the most probable."""
    bias = model.output_layer.b
    bias.assign(tf.tensor_scatter_nd_update(bias, [[2]], [-1e4]))


def time_batched(sampler: Sampler, codes: np.ndarray, max_len: int, repeats: int) -> tuple:
    """(sketches per second, mean decoded steps) of the batched greedy sampler."""
    sampler.generate(codes[:2], max_len)  # trace once outside the timing
    best, steps = float("inf"), 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        _, lengths = sampler.generate(codes, max_len)
        best = min(best, time.perf_counter() - start)
        steps = float(np.mean(lengths))
    return len(codes) / best, steps


def one_at_a_time(model, max_len: int):
    """A greedy generator of single sketches driven step by step from Python."""
    z = model.hps.z_size
    state_size = model.cell.state_size

    @tf.function(input_signature=[tf.TensorSpec([1, 5]), tf.TensorSpec([1, z]),
                                  tf.TensorSpec([1, state_size])])
    def step(x, y, state):
        params, state = model.decode_step(x, y, state)
        return params["log_pi"], params["mu_x"], params["mu_y"], params["pen_logits"], state

    init = tf.function(model.initial_state, input_signature=[tf.TensorSpec([1, z])])

    def generate(code: np.ndarray) -> int:
        y = tf.constant(code[None, :], tf.float32)
        state = init(y)
        x = np.array([[0.0, 0.0, 1.0, 0.0, 0.0]], np.float32)
        for t in range(max_len):
            log_pi, mu_x, mu_y, pen_logits, state = step(tf.constant(x), y, state)
            k = int(np.argmax(log_pi.numpy()[0]))
            pen = int(np.argmax(pen_logits.numpy()[0]))
            x = np.zeros((1, 5), np.float32)
            x[0, 0], x[0, 1], x[0, 2 + pen] = mu_x.numpy()[0, k], mu_y.numpy()[0, k], 1.0
            if pen == 2:
                return t
        return max_len

    return generate


def time_single(model, codes: np.ndarray, max_len: int) -> tuple:
    """(sketches per second, mean decoded steps) generating each sketch alone."""
    generate = one_at_a_time(model, max_len)
    generate(codes[0])  # trace
    start = time.perf_counter()
    steps = [generate(code) for code in codes]
    return len(codes) / (time.perf_counter() - start), float(np.mean(steps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=500, help="sketches generated in one batch")
    parser.add_argument("--max_len", type=int, default=100, help="decoder steps")
    parser.add_argument("--single", type=int, default=10, help="sketches timed one at a time")
    parser.add_argument("--repeats", type=int, default=3, help="batched runs (best is kept)")
    parser.add_argument("--preset", default="small", help="hparams preset of the untrained model")
    parser.add_argument("--checkpoint", default="", help="training folder to restore instead")
    parser.add_argument("--allow_end", action="store_true", help="let sketches end early")
    args = parser.parse_args()

    model, source = build_model(args)
    if not args.allow_end:
        block_end_of_sketch(model)
    codes = np.random.default_rng(0).normal(size=(args.codes, model.hps.z_size)).astype(np.float32)
    batched, batched_steps = time_batched(Sampler(model), codes, args.max_len, args.repeats)
    single, single_steps = time_single(model, codes[:args.single], args.max_len)
    hps = model.hps
    print(json.dumps({
        "benchmark": "sample", "model": source, "dec_model": hps.dec_model,
        "dec_rnn_size": hps.dec_rnn_size, "z_size": hps.z_size, "max_len": args.max_len,
        "batch": args.codes, "batched_sketches_per_sec": round(batched, 2),
        "batched_steps": batched_steps, "single_sketches": args.single,
        "single_sketches_per_sec": round(single, 3), "single_steps": single_steps,
        "speedup": round(batched / single, 1), "cpu_threads": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
