"""plots.py: the pictures, and the `python graph_builder.py --show` command that draws grid graphs."""
import os

import numpy as np
import pytest

import graph_builder as gb
import plots
from conftest import obj_array, sketch, write_npz


def test_sketch_grid_and_loss_curve_write_pictures(tmp_path):
    points = np.array([[0, 0, 0], [1, 1, 1], [2, 0, 0], [3, 1, 1]], np.float32)
    plots.sketch_grid([[points, points]], ["input", "output"], str(tmp_path / "grid.png"))
    plots.loss_curve([{"step": 1, "train": 2.0}, {"step": 2, "train": 1.5, "valid": 1.7}],
                     str(tmp_path / "loss.png"))
    assert os.path.getsize(tmp_path / "grid.png") > 0 and os.path.getsize(tmp_path / "loss.png") > 0


def test_show_draws_the_grid_graphs_of_a_sketch(tmp_path, capsys):
    path = write_npz(tmp_path / "cat.npz", train=obj_array([sketch(12, seed=3)]))
    out = str(tmp_path / "g.png")
    assert gb.main(["--show", path, "0", "--out", out, "--max_stroke_len", "2"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    assert os.path.getsize(out) > 0


@pytest.mark.parametrize("args, status, message", [
    (["0", "--piece", "99"], 2, "--piece 99 out of range"),
    (["5"], 1, "split 'train': index 5 out of range 0..0"),
    (["0", "--split", "nope"], 1, "no split 'nope'"),
])
def test_show_reports_bad_arguments_as_errors(tmp_path, capsys, args, status, message):
    path = write_npz(tmp_path / "cat.npz", train=obj_array([sketch(12, seed=3)]))
    with pytest.raises(SystemExit) as excinfo:
        gb.main(["--show", path] + args + ["--out", str(tmp_path / "g.png")])
    assert excinfo.value.code == status
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not os.path.exists(tmp_path / "g.png")
