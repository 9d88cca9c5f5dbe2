"""evaluate.py: the results table, argument checks, and the whole train -> sample -> Rec/Ret path."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import evaluate
import utils

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fake_results():
    rows = [{"task": evaluate.task_name(r), "re_scale": r, "rec": rec, "top_1": t1, "top_10": t10,
             "top_50": 1.0, "knn_acc": knn}
            for r, rec, t1, t10, knn in [(0.0, 0.9, 0.5, 0.75, 0.8), (0.3, 0.4, 0.125, 0.5, 0.7)]]
    return {"settings": rows, "chance": evaluate.chance_levels(4, 80), "categories": list("abcd"),
            "sample_size": 20, "num_codes": 80, "greedy": True, "temperature": 0.24, "seed": 0,
            "checkpoint": "run/ckpt-7"}


def test_table_has_a_row_per_setting_and_the_chance_levels():
    lines = evaluate.results_table(fake_results()).splitlines()
    assert lines[0] == "Decoding: greedy."
    lines = lines[2:]
    assert lines[0] == ("| Task | re_scale | Rec (%) | Top-1 Ret (%) | Top-10 Ret (%) | Top-50 Ret (%) "
                        "| kNN acc (%) |")
    assert lines[2] == "| controllable synthesis | 0 | 90.00 | 50.00 | 75.00 | 100.00 | 80.00 |"
    assert lines[3] == "| reorganization | 0.3 | 40.00 | 12.50 | 50.00 | 100.00 | 70.00 |"
    # Rec and kNN chance 1/4 categories; Top-k chance k/80 codes.
    assert lines[4] == "| chance level | - | 25.00 | 1.25 | 12.50 | 62.50 | 25.00 |"
    assert "80 codes ranked" in lines[6] and "greedy" in lines[6]
    assert "Per category" not in "\n".join(lines)  # no per-category numbers in these results


def test_per_category_table_follows_the_main_table():
    results = fake_results()
    for row, scale in zip(results["settings"], (1.0, 0.5)):
        row["per_category"] = {name: {"rec": 0.5 * scale, "top_1": 0.25 * scale, "top_10": scale}
                               for name in "abc"}
    lines = evaluate.results_table(results).split("Per category:")[1].strip().splitlines()
    assert lines[0] == "| Category | re_scale | Rec (%) | Top-1 Ret (%) | Top-10 Ret (%) |"
    assert lines[2:4] == ["| a | 0 | 50.00 | 25.00 | 100.00 |", "| a | 0.3 | 25.00 | 12.50 | 50.00 |"]
    assert lines[-1] == "| d | 0.3 | - | - | - |"  # a category without numbers
    assert len(lines) == 2 + 4 * 2


def test_results_without_knn_show_a_dash():
    results = fake_results()
    del results["settings"][0]["knn_acc"], results["chance"]["knn_acc"]
    lines = evaluate.results_table(results).splitlines()
    assert lines[4].endswith("| 100.00 | - |") and lines[6].endswith("| 62.50 | - |")


def test_per_category_retrieval_ranks_each_categorys_generations(tmp_path):
    """Originals c0: (0,0), (10,0); c1: (0,10), (10,10). s_0_1's code (1,0) is nearest to code_0_0."""
    originals = {(0, 0): [0, 0], (0, 1): [10, 0], (1, 0): [0, 10], (1, 1): [10, 10]}
    for (c, i), code in originals.items():
        np.save(tmp_path / f"code_{c}_{i}.npy", np.array(code, np.float32))
        np.save(tmp_path / f"s_{c}_{i}.npy", np.zeros((2, 5), np.float32))
    generated = np.array([[0, 0], [1, 0], [0, 10], [10, 10]], np.float32)
    got = evaluate.per_category_retrieval(str(tmp_path), generated, 2, ["x", "y"])
    assert got == {"x": {"top_1": 0.5, "top_10": 1.0}, "y": {"top_1": 1.0, "top_10": 1.0}}


class SumEncoder:
    """Code = the sum of a sketch's offsets (its end point); records its calls."""

    checkpoint = "fake"

    def encode(self, strokes, batch_size=256):
        return np.array([np.asarray(s)[:, :2].sum(0) for s in strokes], np.float32)


def test_input_knn_accuracy_and_the_recording_encoder():
    far = [[np.array([[50.0 + i, 0, 1]], np.float32) for i in range(6)],
           [np.array([[-50.0 - i, 0, 1]], np.float32) for i in range(6)]]
    assert evaluate.input_knn_accuracy(SumEncoder(), far, 0.0, 0) == 1.0
    mixed = [[np.array([[float(i), 0, 1]], np.float32) for i in range(0, 12, 2)],
             [np.array([[float(i), 0, 1]], np.float32) for i in range(1, 12, 2)]]
    assert evaluate.input_knn_accuracy(SumEncoder(), mixed, 0.0, 0) < 0.5  # interleaved categories
    recorder = evaluate.RecordingEncoder(SumEncoder())
    codes = recorder.encode(far[0])
    assert recorder.codes is codes and recorder.checkpoint == "fake"


def test_table_states_temperature_decoding():
    results = dict(fake_results(), greedy=False, seed=3)
    assert evaluate.results_table(results).splitlines()[0] == "Decoding: temperature 0.24 (seed 3)."


def test_re_scales_are_parsed_and_checked():
    assert evaluate.parse_re_scales("0, 0.1,0.3") == [0.0, 0.1, 0.3]
    for bad in ("", "0,x", "-0.1"):
        with pytest.raises(evaluate.EvaluationError):
            evaluate.parse_re_scales(bad)


def no_config(folder) -> str:
    return f"error: {folder}: no model_config.json (not a training --log_root folder)"


def run_cli(*args, timeout=240):
    return subprocess.run([sys.executable, os.path.join(REPO, "evaluate.py"), *args],
                          capture_output=True, text=True, cwd=REPO, timeout=timeout)


def test_missing_folders_are_one_line_errors(tmp_path):
    proc = run_cli("--checkpoint", str(tmp_path), "--classifier", str(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.strip() == no_config(tmp_path)
    proc = run_cli("--classifier", str(tmp_path))
    assert proc.returncode == 2 and proc.stderr.strip() == "error: --checkpoint is required"


def test_end_to_end_train_sample_retrieve_classify(tiny_run, tmp_path):
    """Tiny model and classifier; evaluate.py at the three settings through its CLI."""
    from sketch_a_net.train import train_classifier
    import demo_data

    data_dir, categories = demo_data.ensure_demo_dataset()
    data = utils.load_dataset(data_dir, categories, num_per_category=30)
    train_classifier([utils.to_absolute(s) for s in data.train.strokes], data.train.labels,
                     [utils.to_absolute(s) for s in data.valid.strokes], data.valid.labels,
                     categories, str(tmp_path / "cls"), epochs=1, width_multiplier=0.1, verbose=0)

    out = tmp_path / "eval"
    proc = run_cli("--checkpoint", tiny_run, "--classifier", str(tmp_path / "cls"), "--demo",
                   "--sample_size", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.load(open(out / "results.json"))
    assert [row["re_scale"] for row in results["settings"]] == [0.0, 0.1, 0.3]
    for row in results["settings"]:
        assert 0 <= row["knn_acc"] <= 1 and sorted(row["per_category"]) == sorted(categories)
        assert all(0 <= v["top_10"] <= 1 for v in row["per_category"].values())
    assert "Per category:" in (out / "results.md").read_text()
    assert results["num_codes"] == 2 * len(categories)
    assert results["chance"] == {"rec": 1 / len(categories), "top_1": 0.1, "top_10": 1.0, "top_50": 1.0,
                                 "knn_acc": 1 / len(categories)}
    for row in results["settings"]:
        folder = row["sample_dir"]
        ret = json.load(open(os.path.join(folder, "ret.json")))
        rec = json.load(open(os.path.join(folder, "rec.json")))
        assert row["rec"] == rec["rec"] and rec["n"] == 2 * len(categories)
        assert [row[f"top_{k}"] for k in (1, 10, 50)] == [ret[f"top_{k}"] for k in (1, 10, 50)]
        assert row["top_10"] == 1.0  # 10 codes: every original is among the 10 nearest
    table = open(out / "results.md").read()
    assert table == evaluate.results_table(results)
    assert table in proc.stdout
