"""Throughput of batch preparation and speed-up of the vectorised grid relations.

Prints one JSON line. Data: data/aaron_sheep.npz, else the demo data
set of demo_data.py. Timings are best-of-several passes: the machine is shared,
and the best pass is the one least disturbed by other processes.
"""
from __future__ import annotations

import json
import os
import sys
import time
from types import SimpleNamespace

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import graph_builder  # noqa: E402
import utils  # noqa: E402

BATCH_SIZE = 100
RE_SCALE = 0.3
GRID_SKETCHES = 500


def data_location() -> tuple[str, list, str]:
    """(data_dir, categories, description) of the benchmark data."""
    real = os.path.join(REPO, "data")
    if os.path.exists(os.path.join(real, "aaron_sheep.npz")):
        return real, ["aaron_sheep"], "data/aaron_sheep.npz"
    try:
        from demo_data import ensure_demo_dataset
    except ImportError:
        raise SystemExit("no data: data/aaron_sheep.npz is absent and demo_data.py is missing")
    data_dir, categories = ensure_demo_dataset()
    return data_dir, list(categories), f"demo data {data_dir}"


def best_time(fn, repeats: int) -> tuple[float, object]:
    """Fastest of `repeats` calls and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def batch_throughput(ds: utils.Dataset, epochs: int) -> dict:
    """Sketches/s of iterate_batches with augmentation and disruption (best and mean epoch)."""
    hps = SimpleNamespace(batch_size=BATCH_SIZE, max_stroke_len=ds.max_stroke_len,
                          random_scale_factor=0.1, augment_stroke_prob=0.1)
    rng = np.random.default_rng(0)
    rates = []
    for _ in range(epochs):
        count, start = 0, time.perf_counter()
        for batch in graph_builder.iterate_batches(
                ds.train, hps, rng, training=True, re_scale=RE_SCALE, shuffle=True,
                max_seq_len=ds.max_seq_len, max_nodes=ds.max_strokes_num,
                scale_factor=ds.scale_factor):
            count += len(batch["labels"])
        rates.append(count / (time.perf_counter() - start))
    return {"sketches_per_sec": round(max(rates)), "sketches_per_sec_mean": round(float(np.mean(rates)))}


def grid_speedup(ds: utils.Dataset) -> dict:
    """Loop reference vs grid_relations on the first GRID_SKETCHES training sketches."""
    sketches = [graph_builder.split_pieces(utils.to_absolute(s), ds.node_points)
                for s in ds.train.strokes[:GRID_SKETCHES]]
    cap = ds.max_strokes_num
    loop_s, expected = best_time(lambda: [graph_builder.grid_relations_loop(p, cap) for p in sketches], 2)
    per_call_s, single = best_time(lambda: [graph_builder.grid_relations(p, cap) for p in sketches], 3)
    # As in training: batches of BATCH_SIZE sketches, every one padded to the node cap.
    batched_s, batched = best_time(lambda: [
        graph_builder.grid_relations_batch(sketches[i:i + BATCH_SIZE], cap)
        for i in range(0, len(sketches), BATCH_SIZE)], 5)
    batched = np.concatenate(batched)
    # The classification of all pairs alone, without writing the dense float32 output.
    kept = [p[:cap] for p in sketches]
    boxes = graph_builder.piece_boxes([piece for p in kept for piece in p])
    counts = np.array([len(p) for p in kept])
    codes_s, _ = best_time(lambda: graph_builder.pair_codes(boxes, counts, cap), 5)
    if not all(np.array_equal(e, s) and np.array_equal(e, b)
               for e, s, b in zip(expected, single, batched)):
        raise SystemExit("grid_relations differs from the loop reference")
    return {"grid_relations_speedup_vs_loop": round(loop_s / batched_s, 1),
            "grid_relations_per_call_speedup_vs_loop": round(loop_s / per_call_s, 1),
            "grid_pair_codes_speedup_vs_loop": round(loop_s / codes_s, 1),
            "grid_loop_ms": round(loop_s * 1e3, 1), "grid_batched_ms": round(batched_s * 1e3, 2),
            "grid_sketches": len(sketches)}


def main() -> None:
    """Run both measurements and print one JSON line."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max_stroke_len", type=int, default=-1,
                        help="-1: stroke nodes (computed cap, the default); 5: 6-point pieces")
    args = parser.parse_args()
    data_dir, categories, description = data_location()
    ds = utils.load_dataset(data_dir, categories, max_stroke_len=args.max_stroke_len)
    result = {"batch_size": BATCH_SIZE, "re_scale": RE_SCALE, "data": description,
              "max_stroke_len": ds.max_stroke_len, "max_strokes_num": ds.max_strokes_num}
    result.update(batch_throughput(ds, epochs=5))
    result.update(grid_speedup(ds))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
