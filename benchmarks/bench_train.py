"""End-to-end training speed: one JSON line with sketches/s, step time, FLOPs and MFU.

FLOPs are counted analytically as 2 * (multiply-adds) of the matrix products of
the forward pass on the actual padded batch shapes (piece encoder over the real
pieces' true lengths, GCN: A_k V over the padded node count and W1, W2 over the
rows it computes, those of nodes with a neighbour in graph k; decoder over the
batch's padded time steps, output layer included; element-wise work ignored), times 3
for forward + backward (the usual 1 + 2 rule). `peak_gflops` is a 2048^3
float32 matmul timed in the same process; mfu = achieved / peak.

`--variants "jit_compile=True,shape_buckets=4;precision=mixed_bfloat16"` compares
`--hparams` (variant A, "") with each variant (extra hparams on top of it) in one
process: every variant gets its own trainer and warm-up (for XLA: the compilations),
then `--rounds` rounds time `--steps` steps of each in turn (A, B, C, A, B, C, ...),
so that a change of the machine's load hits all alike. One JSON line: per variant
the sketches/s of every round, their median, and the shapes first seen (compiled,
under jit_compile) during the timed rounds, which should be 0.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402

import hparams as hparams_lib  # noqa: E402
import utils  # noqa: E402
from distribute import STRATEGIES, configure, make_strategy  # noqa: E402
from train import Trainer  # noqa: E402

SHEEP = os.path.join(os.path.dirname(__file__), "..", "data")


def cell_flops(kind: str, units: int, inputs: int, hps) -> float:
    """Multiply-adds of one step of a recurrent cell."""
    main = (inputs + units) * 4 * units
    if kind != "hyper":
        return main
    hyper = hps.hyper_num_units
    emb = hps.hyper_embedding_size
    hyper_cell = (inputs + units + hyper) * 4 * hyper
    scaling = hyper * emb * 12 + emb * units * 12  # 8 scale + 4 bias embeddings
    return main + hyper_cell + scaling


def batch_flops(batch: dict, hps) -> float:
    """Forward + backward FLOPs of one training step on this padded batch."""
    b, s = batch["piece_lengths"].shape
    steps = batch["targets"].shape[1] - 1
    e, d, z = hps.enc_rnn_size, hps.dec_rnn_size, hps.z_size
    encoder = 2 * batch["piece_lengths"].sum() * cell_flops(hps.enc_model, e, 2, hps)
    width = 2 * e
    adj = batch["relations"] if hps.num_graphs == 9 else batch["relations"].max(-1, keepdims=True)
    active_rows = (adj.max(axis=2) > 0).sum()  # rows that go through W1, W2 (grid_encoder.py)
    gcn = b * hps.num_graphs * s * s * width + active_rows * 2 * width * width
    heads = b * (2 * width * z + z * cell_flops(hps.dec_model, d, 5 + z, hps) / d)
    decoder = b * steps * (cell_flops(hps.dec_model, d, 5 + z, hps) + d * (3 + 6 * hps.dec_num_mixture))
    return 3 * 2 * float(encoder + gcn + heads + decoder)


def peak_gflops(n: int = 2048, repeats: int = 5, parallel: int = 1) -> float:
    """Measured float32 matmul throughput of this machine (GFLOP/s).

    `parallel` independent matmuls at once, so that every core is busy also when
    the CPU layout (distribute.configure) gives each op a share of the cores.
    """
    a = [tf.random.normal([n, n]) for _ in range(parallel)]
    mm = tf.function(lambda xs: [tf.matmul(x, x) for x in xs])
    [y.numpy() for y in mm(a)]
    start = time.perf_counter()
    for _ in range(repeats):
        [y.numpy() for y in mm(a)]
    return 2 * n ** 3 * repeats * parallel / (time.perf_counter() - start) / 1e9


def load(data_dir: str | None, categories: list, hps):
    """The sheep data when present, else the demo dataset."""
    if data_dir is None and os.path.exists(os.path.join(SHEEP, "aaron_sheep.npz")):
        data_dir, categories = SHEEP, ["aaron_sheep"]
    elif data_dir is None:
        import demo_data
        data_dir, categories = demo_data.ensure_demo_dataset()
    data = utils.load_dataset(data_dir, categories, hps.num_per_category, hps.max_seq_len,
                              hps.max_strokes_num, hps.max_stroke_len)
    return data, categories


def measure(trainer: Trainer, steps: int, warmup: int) -> dict:
    """Time `steps` end-to-end steps after `warmup` steps, on the training input path itself.

    `wait` is the time spent getting the next (distributed) batch from the pipeline that
    Trainer.run_epoch uses; FLOPs are counted afterwards on the same batches, outside the timing.
    """
    batches = iter(trainer.train_batches(seed=0, repeat=True))
    for _ in range(warmup):
        trainer.train_step(next(batches)).numpy()
    wait, seen = 0.0, []
    start = time.perf_counter()
    for _ in range(steps):
        t0 = time.perf_counter()
        batch = next(batches)
        wait += time.perf_counter() - t0
        trainer.train_step(batch).numpy()
        seen.append(batch)
    elapsed = time.perf_counter() - start
    strategy = trainer.learner.strategy
    flops = 0.0
    for batch in seen:
        for part in strategy.experimental_local_results(batch):
            flops += batch_flops({k: v.numpy() for k, v in part.items()}, trainer.hps)
    return {"elapsed": elapsed, "flops": flops, "wait": wait}


def device() -> str:
    """The first GPU's name, else "cpu"."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "cpu"
    return tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)


def shapes_of(batch) -> tuple:
    """The shapes of a batch's arrays: one XLA program per distinct value."""
    return tuple(tuple(v.shape) for v in tf.nest.flatten(batch))


def compare(hps, data, variants: list, args, strategy, shards: int) -> dict:
    """Variants A (hps), B, ... measured alternately after each one's warm-up (see the docstring)."""
    trainers, iterators, seen, rounds = [], [], [], []
    with tempfile.TemporaryDirectory() as log_root:
        for i, extra in enumerate(variants):
            variant = hparams_lib.parse(extra, base=hps)
            trainer = Trainer(variant, data, os.path.join(log_root, str(i)), verbose=0,
                              strategy=strategy, decoder_shards=shards)
            batches = iter(trainer.train_batches(seed=0, repeat=True))
            shapes, start = set(), time.perf_counter()
            record = {"rates": [], "new_shapes": 0}
            try:
                for _ in range(args.warmup):
                    batch = next(batches)
                    shapes.add(shapes_of(batch))
                    trainer.train_step(batch).numpy()
            except tf.errors.OpError as err:  # e.g. an op XLA cannot compile: reported, not fatal
                record["error"] = f"{type(err).__name__}: {err.message.splitlines()[0]}"
            record["warmup_s"] = round(time.perf_counter() - start, 1)
            trainers.append(trainer)
            iterators.append(batches)
            seen.append(shapes)
            rounds.append(record)
        for _ in range(args.rounds):
            for trainer, batches, shapes, record in zip(trainers, iterators, seen, rounds):
                if "error" in record:
                    continue
                start = time.perf_counter()
                for _ in range(args.steps):
                    batch = next(batches)
                    key = shapes_of(batch)
                    record["new_shapes"] += key not in shapes
                    shapes.add(key)
                    trainer.train_step(batch).numpy()
                elapsed = time.perf_counter() - start
                record["rates"].append(round(args.steps * hps.batch_size / elapsed, 2))
    out = []
    for extra, record in zip(variants, rounds):
        rates = sorted(record["rates"])
        out.append({"extra": extra, "sketches_per_sec": rates[len(rates) // 2] if rates else None,
                    "rounds": record["rates"], "warmup_s": record["warmup_s"],
                    "new_shapes_in_timing": record["new_shapes"],
                    **({"error": record["error"]} if "error" in record else {})})
    return {"variants": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hparams", default="preset=small")
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--categories", default="aaron_sheep")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--input_pipeline", action="store_true", help="also report the input-wait fraction")
    parser.add_argument("--strategy", default="default", choices=STRATEGIES)
    parser.add_argument("--no_cpu_layout", action="store_true",
                        help="keep TensorFlow's default threads (train.py --nocpu_layout)")
    parser.add_argument("--variants", default=None,
                        help="';'-separated extra hparams measured alternately with --hparams")
    parser.add_argument("--rounds", type=int, default=3, help="alternations with --variants")
    args = parser.parse_args()
    hps = hparams_lib.parse(args.hparams)
    shards = 1 if args.no_cpu_layout else configure(  # as train.py does
        hps.batch_size, hps.dec_rnn_size, strategy=args.strategy)
    strategy = make_strategy(args.strategy)
    data, categories = load(args.data_dir, args.categories.split(","), hps)
    hps = hparams_lib.fit_to(hps, data, categories=categories)
    if args.variants is not None:
        result = compare(hps, data, [""] + args.variants.split(";"), args, strategy, shards)
        result.update({"hparams": args.hparams, "batch_size": hps.batch_size, "data": ",".join(categories),
                       "steps": args.steps, "warmup": args.warmup, "device": device(),
                       "tensorflow": tf.__version__, "cpu_threads": os.cpu_count(),
                       "decoder_shards": shards,
                       "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)})
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as log_root:
        trainer = Trainer(hps, data, log_root, verbose=0, strategy=strategy, decoder_shards=shards)
        result = measure(trainer, args.steps, args.warmup)
    sketches = args.steps * hps.batch_size
    rate = sketches / result["elapsed"]
    peak = peak_gflops(parallel=shards)
    per_sketch = result["flops"] / sketches
    out = {
        "sketches_per_sec": round(rate, 2), "step_ms": round(1000 * result["elapsed"] / args.steps, 1),
        "batch_size": hps.batch_size, "hparams": args.hparams, "data": ",".join(categories),
        "jit_compile": hps.jit_compile, "precision": hps.precision,
        "flops_per_sketch": round(per_sketch), "peak_gflops": round(peak, 1),
        "mfu": round(per_sketch * rate / (peak * 1e9), 4),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
        "cpu_threads": os.cpu_count(), "strategy": args.strategy, "device": device(),
        "replicas": strategy.num_replicas_in_sync, "decoder_shards": shards,
        "max_stroke_len": hps.max_stroke_len, "max_strokes_num": hps.max_strokes_num,
    }
    if args.input_pipeline:
        out["input_wait_fraction"] = round(result["wait"] / result["elapsed"], 4)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
