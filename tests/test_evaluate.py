"""evaluate.py: the results table, argument checks, and the whole train -> sample -> Rec/Ret path."""
import json
import os
import subprocess
import sys

import pytest

import evaluate
import utils

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fake_results():
    rows = [{"task": evaluate.task_name(r), "re_scale": r, "rec": rec, "top_1": t1, "top_10": t10,
             "top_50": 1.0} for r, rec, t1, t10 in [(0.0, 0.9, 0.5, 0.75), (0.3, 0.4, 0.125, 0.5)]]
    return {"settings": rows, "chance": evaluate.chance_levels(4, 80), "categories": list("abcd"),
            "sample_size": 20, "num_codes": 80, "greedy": True, "temperature": 0.24, "seed": 0,
            "checkpoint": "run/ckpt-7"}


def test_table_has_a_row_per_setting_and_the_chance_levels():
    lines = evaluate.results_table(fake_results()).splitlines()
    assert lines[0] == "Decoding: greedy."
    lines = lines[2:]
    assert lines[0] == "| Task | re_scale | Rec (%) | Top-1 Ret (%) | Top-10 Ret (%) | Top-50 Ret (%) |"
    assert lines[2] == "| controllable synthesis | 0 | 90.00 | 50.00 | 75.00 | 100.00 |"
    assert lines[3] == "| reorganization | 0.3 | 40.00 | 12.50 | 50.00 | 100.00 |"
    # Rec chance 1/4 categories; Top-k chance k/80 codes.
    assert lines[4] == "| chance level | - | 25.00 | 1.25 | 12.50 | 62.50 |"
    assert "80 codes ranked" in lines[6] and "greedy" in lines[6]


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
    assert results["num_codes"] == 2 * len(categories)
    assert results["chance"] == {"rec": 1 / len(categories), "top_1": 0.1, "top_10": 1.0, "top_50": 1.0}
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
