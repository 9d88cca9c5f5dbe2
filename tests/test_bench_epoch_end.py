"""benchmarks/bench_epoch_end.py: one epoch of each pipeline per round, timed, on a tiny model."""
import json
import os
import sys

from conftest import REPO, TINY

sys.path.insert(0, os.path.join(REPO, "benchmarks"))

import bench_epoch_end  # noqa: E402


def test_each_round_times_one_epoch_of_each_pipeline(capsys):
    out = bench_epoch_end.main(["--hparams", f"num_graphs=1,re_scale=0.3,{TINY}",
                                "--rounds", "2", "--steps", "2"])
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and json.loads(printed[0]) == out
    for name in ("autotune", "fixed"):
        run = out[name]
        assert len(run["epoch_s"]) == len(run["tail_s"]) == 2
        assert all(0 <= tail <= epoch for tail, epoch in zip(run["tail_s"], run["epoch_s"]))
        assert min(run["epoch_s"]) <= run["median_epoch_s"] <= max(run["epoch_s"])
