"""benchmarks/bench_shapes.py: programs per epoch with and without shape_buckets (no training)."""
import os
import sys

from conftest import REPO

sys.path.insert(0, os.path.join(REPO, "benchmarks"))

import bench_shapes  # noqa: E402


def test_one_size_class_gives_one_program(capsys):
    out = bench_shapes.main(["--shape_buckets", "1", "--datasets", "quickdraw4",
                             "--num_per_category", "200", "--hparams", "batch_size=40"])
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and printed[0].startswith("{")
    entry = out["datasets"]["quickdraw4"]
    assert entry["train_batches"] == 20  # 4 x 200 training sketches in batches of 40
    assert entry["shape_buckets=1"]["train_programs"] == 1
    assert entry["shape_buckets=1"]["train_time_steps"] == [entry["caps"][0]]
    assert entry["off"]["train_programs"] > 1  # every batch padded to its own longest
    assert entry["shape_buckets=1"]["flops_ratio"] > 1.0 == entry["off"]["flops_ratio"]
