"""tools/reproduce.py: what a study runs, its table, and which runs a rerun skips."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import reproduce  # noqa: E402


def fake_result(rec: float) -> dict:
    rows = [{"re_scale": r, "rec": rec, "top_1": 0.01, "top_10": 0.1, "top_50": 0.5} for r in (0.0, 0.3)]
    return {"settings": rows, "greedy": False, "checkpoint": "runs/x/ckpt-7",
            "chance": {"rec": 0.25, "top_1": 0.0025, "top_10": 0.025, "top_50": 0.125}}


def test_list_prints_every_run_with_its_hparams(capsys):
    assert reproduce.main(["--study", "small_encoder", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    study = reproduce.STUDIES["small_encoder"]
    assert lines == [f"{r.name}: {study.hparams},{r.hparams}" for r in study.runs]
    assert [r.name for r in study.runs] == ["enc64", "enc128", "enc256"]
    assert reproduce.main(["--study", "claims", "--list"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("shipped (after every run, from enc256_s0; packed into pretrained/quickdraw4): ")
    assert last.endswith("enc_rnn_size=256,seed=0,num_steps=10000")


def test_table_has_a_row_per_run_and_setting_and_marks_missing_runs():
    study = reproduce.STUDIES["small_encoder"]
    text = reproduce.table(study, {"enc64": fake_result(0.5), "enc256": fake_result(0.75)})
    lines = text.splitlines()
    assert lines[2] == "| stroke nodes, encoder 64 | 0 | 50.0 | 1.0 | 10.0 | 50.0 |"
    assert lines[4] == "| stroke nodes, encoder 128 | (not run yet) | | | | |"
    assert lines[6] == "| stroke nodes, encoder 256 | 0.3 | 75.0 | 1.0 | 10.0 | 50.0 |"
    assert lines[-1] == "| chance level | - | 25.0 | 0.2 | 2.5 | 12.5 |"


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """The runner working in tmp_path, with a stand-in data folder and classifier."""
    monkeypatch.setattr(reproduce, "REPO", str(tmp_path))
    monkeypatch.setattr(reproduce, "data_dir", lambda study: "data")
    monkeypatch.setattr(reproduce, "classifier", lambda *a: "clf")
    return tmp_path


def test_a_rerun_skips_finished_runs_and_redoes_changed_ones(in_tmp, monkeypatch):
    """A result recorded with the study's hparams is kept; one from other hparams is redone."""
    study, tmp_path = reproduce.STUDIES["small_encoder"], in_tmp
    done = []
    monkeypatch.setattr(reproduce, "train", lambda study, name, *a: str(tmp_path / "runs" / name))
    monkeypatch.setattr(reproduce, "evaluate", lambda study, name, *a: done.append(name) or fake_result(0.5))
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


def test_the_shipped_model_continues_its_run_once_after_the_study_and_is_packed_once(in_tmp, monkeypatch):
    """The ship stage copies its study run, trains it on, evaluates and packs it; a rerun skips it."""
    study, tmp_path = reproduce.STUDIES["claims"], in_tmp
    calls = []
    monkeypatch.setattr(reproduce, "train",
                        lambda study, name, hparams, *a: calls.append(("train", name, hparams)))
    monkeypatch.setattr(reproduce, "evaluate",
                        lambda study, name, *a: calls.append(("eval", name)) or fake_result(0.5))
    monkeypatch.setattr(reproduce, "stage", lambda title, command, log: calls.append((title,)))
    monkeypatch.setattr(reproduce, "update_readme", lambda *a: False)
    base = tmp_path / "runs" / "claims" / study.ship.run
    (base / "evaluation").mkdir(parents=True)
    (base / "model_config.json").write_text("{}")
    (base / "ckpt-1.index").write_text("")
    old_picture = tmp_path / "results" / "claims" / "pictures" / "shipped.png"
    old_picture.parent.mkdir(parents=True)
    old_picture.write_text("drawn from an earlier evaluation")
    assert reproduce.main(["--study", "claims"]) == 0
    assert not old_picture.exists()  # the new evaluation's samples are drawn when they exist
    shipped = tmp_path / "runs" / "claims" / "shipped"
    assert (shipped / "ckpt-1.index").exists() and not (shipped / "evaluation").exists()
    hparams = ("preset=small,num_steps=3000,save_every=1,decay_rate=0.9999,early_stop_patience=10,"
               "re_scale=0.3,enc_rnn_size=256,seed=0,num_steps=10000")
    assert ("train", "shipped", hparams) in calls
    # after every model of the study, in seed order, so that a partial study stays balanced
    assert calls[-3:] == [("train", "shipped", hparams), ("eval", "shipped"), ("pack shipped",)]
    assert len(calls) == 2 * len(study.runs) + 3
    (tmp_path / study.ship.out).mkdir(parents=True)
    (tmp_path / study.ship.out / "ckpt-7.index").write_text("")  # packed from the evaluated checkpoint
    calls.clear()
    assert reproduce.main(["--study", "claims"]) == 0
    assert calls == []
    summary = (tmp_path / "results" / "claims" / "results.md").read_text()
    assert f"| shipped: {study.ship.run} trained on to {study.ship.num_steps} steps | 0 | 50.0 |" in summary


def test_a_shipped_model_whose_run_is_gone_trains_from_step_0(in_tmp, monkeypatch, capsys):
    """On a fresh machine (no runs/) the ship stage trains the same config from scratch."""
    study, tmp_path = reproduce.STUDIES["claims"], in_tmp
    trained = []
    monkeypatch.setattr(reproduce, "train", lambda study, name, hparams, *a: trained.append(name))
    monkeypatch.setattr(reproduce, "evaluate", lambda *a: fake_result(0.5))
    out = tmp_path / "results" / "claims"
    out.mkdir(parents=True)
    reproduce.trained_result(study, "shipped", "preset=small", str(tmp_path / "runs"), "data", {},
                             str(out), start_from="enc256_s0")
    assert trained == ["shipped"] and "trains from step 0" in capsys.readouterr().out


def test_a_pin_goes_to_every_run_that_does_not_set_its_key():
    study = reproduce.STUDIES["claims"]
    runs = {r.name: study.hparams_of(r) for r in study.runs}
    assert runs["g9_rs0.3_s0"] == ("preset=small,num_steps=3000,save_every=1,decay_rate=0.9999,"
                                   "early_stop_patience=10,enc_rnn_size=128,re_scale=0.3,seed=0")
    assert "128" not in runs["enc256_s0"] and "128" not in runs["enc64_s1"]


def test_a_pin_holding_a_list_is_dropped_whole_when_the_run_sets_its_key():
    study = reproduce.Study(categories=("pig",), hparams="preset=small", runs=(),
                            pinned="categories=['pig','face'],enc_rnn_size=128")
    run = reproduce.Run("r", "categories=['cat'],seed=0", "r")
    assert study.hparams_of(run) == "preset=small,enc_rnn_size=128,categories=['cat'],seed=0"


WANTED = "preset=small,num_steps=3000,enc_rnn_size=128,re_scale=0.3,seed=0"


@pytest.mark.parametrize("recorded, pinned, kept", [
    # recorded when `small` had a 128-unit encoder, before the pin existed
    ("preset=small,num_steps=3000,re_scale=0.3,seed=0", "enc_rnn_size=128", True),
    # ... which, read without the pin, now means the new preset's 256 units
    ("preset=small,num_steps=3000,re_scale=0.3,seed=0", "", False),
    (WANTED, "enc_rnn_size=128", True),
    ("preset=small,re_scale=0.3,seed=0,num_steps=3000,enc_rnn_size=128", "", True),  # another order
    ("preset=small,num_steps=1000,re_scale=0.3,seed=0", "enc_rnn_size=128", False),
    ("preset=small,enc_rnn_size=64,num_steps=3000,re_scale=0.3,seed=0", "enc_rnn_size=128", False),
    ("preset=small,no_such_key=1,num_steps=3000,re_scale=0.3,seed=0", "enc_rnn_size=128", False),
])
def test_finished_compares_resolved_hparams_read_with_the_pins(tmp_path, recorded, pinned, kept):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"run_hparams": recorded}))
    assert (reproduce.finished(str(path), WANTED, pinned) is not None) == kept


def test_loss_curves_of_every_run_go_into_results_and_one_plot(tmp_path):
    """keep_losses copies a run's losses.json; plot_losses draws the kept curves."""
    study = reproduce.STUDIES["quickdraw4"]
    runs, out = tmp_path / "runs", tmp_path / "results"
    (runs / "strokes9_rs0").mkdir(parents=True)
    records = [{"step": 80, "train": 2.0, "valid": 1.5}, {"step": 160, "train": 1.0, "valid": 0.5}]
    (runs / "strokes9_rs0" / "losses.json").write_text(json.dumps(records))
    reproduce.keep_losses(str(runs), "strokes9_rs0", str(out))
    reproduce.keep_losses(str(runs), "strokes1_rs0", str(out))  # not trained: nothing to keep
    assert json.loads((out / "losses" / "strokes9_rs0.json").read_text()) == records
    assert sorted(os.listdir(out / "losses")) == ["strokes9_rs0.json"]
    reproduce.plot_losses(study, str(out))
    assert (out / "loss_curves.png").stat().st_size > 1000


def test_a_later_session_takes_the_shipped_classifier(tmp_path, monkeypatch):
    """Without runs/, the study evaluates with the classifier packed beside the shipped model."""
    study = reproduce.STUDIES["claims"]
    monkeypatch.setattr(reproduce, "REPO", str(tmp_path))
    monkeypatch.setattr(reproduce, "stage", lambda *a: pytest.fail("the classifier was trained again"))
    packed = tmp_path / study.classifier_from
    packed.mkdir(parents=True)
    (packed / "classifier.json").write_text('{"checkpoint": "classifier-7"}')
    out = reproduce.classifier(study, str(tmp_path / "runs"), "data", {})
    assert out == str(tmp_path / "runs" / "classifier")
    copied = tmp_path / "runs" / "classifier" / "classifier.json"
    assert copied.read_text() == '{"checkpoint": "classifier-7"}'


def test_commit_is_dirty_for_code_changes_but_not_for_the_studys_own_outputs(tmp_path):
    """Rewriting results/, pretrained/ and the README (as every study stage does) leaves it clean."""
    import subprocess

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                       check=True, capture_output=True)
    for name in ("train.py", "README.md", "results/q/results.md", "pretrained/q/config.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("a")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "x")
    head = reproduce.commit(str(tmp_path))
    assert len(head) >= 7 and "+" not in head
    (tmp_path / "results/q/results.md").write_text("b")
    (tmp_path / "pretrained/q/config.json").write_text("b")
    (tmp_path / "README.md").write_text("b")
    assert reproduce.commit(str(tmp_path)) == head
    (tmp_path / "train.py").write_text("b")
    assert reproduce.commit(str(tmp_path)) == head + "+changes"


def test_stage_saves_its_time_while_it_runs_and_stops_the_study_when_it_fails(tmp_path, monkeypatch, capfd):
    """A killed study keeps the time its running stage had spent; a failed stage is timed, then stops it."""
    monkeypatch.setattr(reproduce, "REPO", str(tmp_path))
    path = str(tmp_path / "stage_seconds.json")
    log = reproduce.StageTimes(path)
    log.add("train a", 5.0)  # an earlier, killed part of the same stage
    # The child reads the file while it runs: the time saved so far must already exceed the 5 s before.
    peek = (f"import json,time; time.sleep(0.5); "
            f"print('seen', json.load(open({path!r}))['train a'], flush=True)")
    reproduce.stage("train a", [sys.executable, "-c", peek], log, heartbeat_s=0.1)
    seen = float(capfd.readouterr().out.split("seen ")[1].split()[0])
    saved = json.load(open(path))["train a"]
    assert 5.0 < seen <= saved and 5.5 <= saved < 60.0
    with pytest.raises(SystemExit, match="'fail b' failed"):
        reproduce.stage("fail b", [sys.executable, "-c", "import sys; sys.exit(3)"], log, heartbeat_s=0.1)
    assert "fail b" in json.load(open(path))
