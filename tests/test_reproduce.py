"""tools/reproduce.py: what a study runs, its table, and which runs a rerun skips."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import reproduce  # noqa: E402


def fake_result(rec: float) -> dict:
    rows = [{"re_scale": r, "rec": rec, "top_1": 0.01, "top_10": 0.1, "top_50": 0.5} for r in (0.0, 0.3)]
    return {"settings": rows, "greedy": False,
            "chance": {"rec": 0.25, "top_1": 0.0025, "top_10": 0.025, "top_50": 0.125}}


def test_list_prints_every_run_with_its_hparams(capsys):
    assert reproduce.main(["--study", "small_encoder", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    study = reproduce.STUDIES["small_encoder"]
    assert lines == [f"{r.name}: {study.hparams},{r.hparams}" for r in study.runs]
    assert [r.name for r in study.runs] == ["enc64", "enc128", "enc256"]


def test_table_has_a_row_per_run_and_setting_and_marks_missing_runs():
    study = reproduce.STUDIES["small_encoder"]
    text = reproduce.table(study, {"enc64": fake_result(0.5), "enc256": fake_result(0.75)})
    lines = text.splitlines()
    assert lines[2] == "| stroke nodes, encoder 64 | 0 | 50.0 | 1.0 | 10.0 | 50.0 |"
    assert lines[4] == "| stroke nodes, encoder 128 | (not run yet) | | | | |"
    assert lines[6] == "| stroke nodes, encoder 256 | 0.3 | 75.0 | 1.0 | 10.0 | 50.0 |"
    assert lines[-1] == "| chance level | - | 25.0 | 0.2 | 2.5 | 12.5 |"


def test_a_rerun_skips_finished_runs_and_redoes_changed_ones(tmp_path, monkeypatch):
    """A result recorded with the study's hparams is kept; one from other hparams is redone."""
    study = reproduce.STUDIES["small_encoder"]
    monkeypatch.setattr(reproduce, "REPO", str(tmp_path))
    monkeypatch.setattr(reproduce, "data_dir", lambda: "data")
    monkeypatch.setattr(reproduce, "classifier", lambda *a: "clf")
    done = []
    monkeypatch.setattr(reproduce, "train_and_evaluate",
                        lambda study, run, *a: done.append(run.name) or fake_result(0.5))
    out = tmp_path / "results" / "small_encoder"
    out.mkdir(parents=True)
    kept = dict(fake_result(0.9), run_hparams=f"{study.hparams},{study.runs[0].hparams}")
    (out / "enc64.json").write_text(json.dumps(kept))
    (out / "enc128.json").write_text(json.dumps(dict(fake_result(0.9), run_hparams="num_steps=1")))
    assert reproduce.main(["--study", "small_encoder"]) == 0
    assert done == ["enc128", "enc256"]
    summary = json.loads((out / "results.json").read_text())
    assert summary["results"]["enc64"]["settings"][0]["rec"] == 0.9
    assert summary["command"] == "python tools/reproduce.py --study small_encoder"
    assert "| stroke nodes, encoder 128 | 0 | 50.0 |" in (out / "results.md").read_text()
