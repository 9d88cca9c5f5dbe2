"""Issue 12, I/O side: nothing of the user's lost, provenance checked, bad paths refused up front.

Every CLI error here must be one line on stderr with a non-zero exit, and every
file of the user's must keep its bytes (compared by hash).
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import convert_quickdraw as cq
import fileio
import retrieval
import sample_abs
import sample_files
import sample_settings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER_FILES = {"3_7.png": b"my own picture", "overview_9.png": b"my overview", "rec.json": b'{"mine": 1}'}


@pytest.fixture(scope="module")
def samples(tiny_run, tmp_path_factory) -> str:
    """A sample folder of the tiny model (2 sketches per category, re_scale 0.1)."""
    out = str(tmp_path_factory.mktemp("samples") / "s")
    sample_abs.run(sample_settings.settings_with(sample_size=2, sample_output=out, re_scale=0.1,
                                                 checkpoint_path=tiny_run, demo=True))
    return out


def run_cli(script, *args, timeout=120):
    command = [sys.executable, *(["-m", script] if "." in script and not script.endswith(".py")
                                 else [os.path.join(REPO, script)]), *args]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=timeout)
    proc.seconds = time.perf_counter() - start
    return proc


def one_error_line(proc, *parts):
    """The process failed with exactly one `error:` line on stderr holding every part."""
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-2000:]
    for part in parts:
        assert part in lines[0], (part, lines[0])
    return lines[0]


def hashes(folder) -> dict:
    return {name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
            for name in sorted(os.listdir(folder)) if os.path.isfile(os.path.join(folder, name))}


def user_folder(path, files=USER_FILES) -> dict:
    os.makedirs(path, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)
    return hashes(path)


# ------------------------------------------------ row 2: never delete the user's files

def test_sample_refuses_a_folder_with_the_users_files(tiny_run, tmp_path):
    out = str(tmp_path / "mine")
    before = user_folder(out)
    proc = run_cli("sample_abs.py", "2", "0", out, "0", tiny_run, "0", "--demo")
    line = one_error_line(proc, out, "did not write", "3_7.png", "overview_9.png", "rec.json", "--overwrite")
    assert "removed" not in proc.stdout
    assert hashes(out) == before, line


def test_overwrite_replaces_sample_names_and_keeps_other_user_files(tiny_run, tmp_path):
    out = str(tmp_path / "mine")
    before = user_folder(out, {**USER_FILES, "notes.txt": b"keep me", "0_0.png": b"mine too"})
    sample_abs.run(sample_settings.settings_with(sample_size=1, sample_output=out, re_scale=0.0,
                                                 checkpoint_path=tiny_run, demo=True, overwrite=True))
    after = hashes(out)
    assert after["notes.txt"] == before["notes.txt"]  # not a sample-file name: untouched
    assert after["0_0.png"] != before["0_0.png"]  # a sample-file name: replaced, as --overwrite says
    assert "3_7.png" not in after and "rec.json" not in after  # sample-file names of no current output
    manifest = fileio.read_manifest(out)
    assert "notes.txt" not in manifest and {"0_0.png", "s_0_0.npy", "sample_meta.json"} <= manifest
    # Without --overwrite the folder is still refused: notes.txt is the user's.
    with pytest.raises(sample_abs.SampleError, match="notes.txt"):
        sample_abs.check_output(out)


def test_rerun_removes_only_what_the_earlier_run_wrote(tiny_run, samples, tmp_path):
    out = str(tmp_path / "s")
    shutil.copytree(samples, out)
    fileio.write_json(os.path.join(out, "ret.json"), {"stale": True})
    fileio.add_to_manifest(out, ["ret.json"])
    # A hard link from an earlier output to a file elsewhere: the rerun must not write through it.
    elsewhere = tmp_path / "elsewhere.png"
    os.link(os.path.join(out, "0_0.png"), elsewhere)
    before = elsewhere.read_bytes()
    sample_abs.run(sample_settings.settings_with(sample_size=1, sample_output=out, re_scale=0.1,
                                                 checkpoint_path=tiny_run, demo=True))
    assert elsewhere.read_bytes() == before and os.stat(elsewhere).st_nlink == 1
    names = set(os.listdir(out))
    assert "s_0_1.npy" not in names and "0_1.png" not in names  # stale sketches of sample_size 2
    assert "ret.json" not in names  # scored the earlier sketches
    assert fileio.read_manifest(out) == sample_files.planned_files([1] * len(json.load(
        open(os.path.join(out, "sample_meta.json")))["categories"]))
    assert names == fileio.read_manifest(out) | {fileio.MANIFEST_NAME}


def test_retrieval_and_rec_never_replace_a_users_json(samples, tiny_run, tmp_path):
    from sketch_a_net import evaluate as rec

    out = str(tmp_path / "s")
    shutil.copytree(samples, out)
    user_folder(out, {"ret.json": b"my numbers", "rec.json": b"my rec"})
    before = hashes(out)
    proc = run_cli("retrieval.py", out, tiny_run)
    one_error_line(proc, os.path.join(out, "ret.json"), "not written by sketchgloc")
    with pytest.raises(rec.RecError, match="rec.json: exists and was not written by sketchgloc"):
        rec.check_output(out)
    assert hashes(out) == before


def test_evaluate_refuses_an_out_folder_with_the_users_files(tiny_run, tmp_path):
    clf = fake_classifier(tmp_path / "clf", tiny_run)
    out = str(tmp_path / "eval")
    before = user_folder(out, {"results.md": b"my table"})
    proc = run_cli("evaluate.py", "--checkpoint", tiny_run, "--classifier", clf, "--demo", "--out", out)
    one_error_line(proc, out, "results.md", "--overwrite")
    assert hashes(out) == before and os.listdir(out) == ["results.md"]


def fake_classifier(folder, tiny_run, weights=True) -> str:
    """A classifier folder with the model's categories (and an empty weights index unless told)."""
    from checkpoints import load_config

    os.makedirs(folder, exist_ok=True)
    categories = load_config(tiny_run)[0].categories
    fileio.write_json(os.path.join(folder, "classifier.json"),
                      {"categories": list(categories), "checkpoint": "ckpt-1", "width_multiplier": 0.1,
                       "image_size": 48})
    if weights:
        open(os.path.join(folder, "ckpt-1.index"), "wb").close()
    return str(folder)


# ------------------------------------------------ row 3: provenance of sample folders

@pytest.fixture(scope="module")
def other_checkpoint(tiny_run, tmp_path_factory) -> str:
    """A training folder with the tiny model's config and other weights, as ckpt-1."""
    import tensorflow as tf

    import inference

    folder = tmp_path_factory.mktemp("other_run")
    shutil.copy(os.path.join(tiny_run, "model_config.json"), folder / "model_config.json")
    model = inference.load_model(tiny_run)[0]
    model.output_layer.w.assign_add(tf.fill(tf.shape(model.output_layer.w), 0.01))
    assert tf.train.Checkpoint(model=model).save(str(folder / "ckpt")).endswith("ckpt-1")
    return str(folder)


def test_retrieval_refuses_samples_of_another_checkpoint(samples, other_checkpoint, tiny_run, tiny_best,
                                                         tmp_path):
    out = str(tmp_path / "s")
    shutil.copytree(samples, out)
    before = hashes(out)
    # Same config and z_size, other weights: the user's mix-up of issue 12.
    proc = run_cli("retrieval.py", out, other_checkpoint, "--ckpt_id=1")
    line = one_error_line(proc, os.path.join(tiny_run, tiny_best), os.path.join(other_checkpoint, "ckpt-1"),
                          "checkpoint_sha256", "--force")
    assert "config_sha256" not in line  # the config is the same
    assert hashes(out) == before  # no ret.json

    proc = run_cli("retrieval.py", out, other_checkpoint, "--ckpt_id=1", "--force")
    assert proc.returncode == 0, proc.stderr[-2000:]
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "other_run0/ckpt-1" in warnings[0] and "--force" in warnings[0]
    assert "Top 1 Ret:" in proc.stdout
    assert json.load(open(os.path.join(out, "ret.json")))["checkpoint"].endswith("ckpt-1")
    assert "ret.json" in fileio.read_manifest(out)


def test_provenance_follows_a_copied_checkpoint_and_needs_the_hashes(samples, tiny_run, tiny_best, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in os.listdir(tiny_run):
        if name.startswith(tiny_best + ".") or name in ("checkpoint", "model_config.json"):
            shutil.copy(os.path.join(tiny_run, name), copy / name)
    retrieval.check_provenance(samples, str(copy))  # same weights and config elsewhere: accepted

    out = str(tmp_path / "s")
    shutil.copytree(samples, out)
    meta = json.load(open(os.path.join(out, "sample_meta.json")))
    for key in ("config_sha256", "checkpoint_sha256"):
        del meta[key]
    fileio.write_json(os.path.join(out, "sample_meta.json"), meta)
    with pytest.raises(retrieval.RetrievalError, match="record no checkpoint hashes"):
        retrieval.check_provenance(out, tiny_run)
    os.remove(os.path.join(out, "sample_meta.json"))
    with pytest.raises(retrieval.RetrievalError, match="sample_meta.json: cannot read"):
        retrieval.check_provenance(out, tiny_run)


def test_sample_meta_records_the_provenance(samples, tiny_run, tiny_best):
    import provenance

    meta = json.load(open(os.path.join(samples, "sample_meta.json")))
    best = os.path.join(tiny_run, tiny_best)
    assert meta["checkpoint_prefix"] == os.path.abspath(best)
    assert meta["checkpoint_sha256"] == hashlib.sha256(open(best + ".index", "rb").read()).hexdigest()
    # The config hash is the one retrieval.py computes from the folder.
    assert meta["config_sha256"] == provenance.checkpoint_provenance(tiny_run)["config_sha256"]
    assert meta["categories"] and meta["re_scale"] == 0.1


# ------------------------------------------------ row 6: clear messages

@pytest.mark.parametrize("args, message", [
    (["5", "0", "OUT", "-0.3", "CKPT", "0"], "re_scale must be >= 0, got -0.3"),
    (["-5", "0", "OUT", "0.3", "CKPT", "0", "--seed", "4"], "sample_size must be >= 1, got -5"),
    (["5", "0", "OUT", "0", "CKPT", "-1", "--nogreedy"], "ckpt_id must be >= 0, got -1"),
])
def test_negative_positional_numbers_are_named(tmp_path, args, message):
    args = [str(tmp_path / "o") if a == "OUT" else str(tmp_path) if a == "CKPT" else a for a in args]
    proc = run_cli("sample_abs.py", *args)
    assert proc.returncode == 2
    assert one_error_line(proc) == f"error: {message}"


def test_converter_says_an_empty_file_holds_no_drawings(tmp_path, capsys):
    empty = tmp_path / "full_simplified_cat.ndjson"
    empty.write_bytes(b"\n")
    assert cq.main([str(empty), "--out_dir", str(tmp_path / "out"), "--quiet",
                    "--valid", "0.1", "--test", "0.1"]) == 1
    err = capsys.readouterr().err
    assert f"error: {empty}: holds no drawings (empty input)" in err
    assert "fraction" not in err
    assert not os.path.exists(tmp_path / "out" / "cat.npz")


# ------------------------------------------------ row 7: fail fast on bad paths

@pytest.fixture
def a_file(tmp_path) -> str:
    path = tmp_path / "a_file"
    path.write_bytes(b"user data")
    return str(path)


def test_sample_output_that_is_a_file_or_under_one(tiny_run, a_file):
    for out, problem in ((a_file, "is a file, not a folder"),
                         (os.path.join(a_file, "sub"), "cannot create the folder")):
        proc = run_cli("sample_abs.py", "2", "0", out, "0", tiny_run, "0", "--demo")
        one_error_line(proc, out, problem)
        assert proc.seconds < 20  # refused before the model load and the generation
    assert open(a_file, "rb").read() == b"user data"


def test_evaluate_checks_outputs_and_classifier_weights_first(tiny_run, tmp_path, a_file):
    clf = fake_classifier(tmp_path / "clf", tiny_run)
    proc = run_cli("evaluate.py", "--checkpoint", tiny_run, "--classifier", clf, "--demo",
                   "--out", os.path.join(a_file, "eval"))
    one_error_line(proc, "a_file/eval", "cannot create the folder")
    no_weights = fake_classifier(tmp_path / "clf2", tiny_run, weights=False)
    out = tmp_path / "eval"
    proc = run_cli("evaluate.py", "--checkpoint", tiny_run, "--classifier", no_weights, "--demo",
                   "--out", str(out))
    one_error_line(proc, no_weights, "checkpoint ckpt-1 is missing")
    assert proc.seconds < 20 and not out.exists()  # nothing generated


def test_retrieval_checks_its_output_before_the_model(samples, tiny_run, tmp_path):
    out = str(tmp_path / "s")
    shutil.copytree(samples, out)
    os.mkdir(os.path.join(out, "ret.json"))  # a folder where ret.json would go
    proc = run_cli("retrieval.py", out, tiny_run)
    one_error_line(proc, "ret.json: exists and was not written by sketchgloc")


def test_export_and_converter_check_their_output_first(tiny_run, a_file, tmp_path, capsys):
    proc = run_cli("tools/export.py", "--checkpoint", tiny_run, "--out", os.path.join(a_file, "exp"))
    one_error_line(proc, "a_file/exp", "cannot create the folder")
    assert proc.seconds < 20

    src = tmp_path / "full_simplified_cat.ndjson"
    src.write_text(json.dumps({"drawing": [[[0, 10, 20], [0, 5, 0]]]}) + "\n")
    assert cq.main([str(src), "--out_dir", a_file, "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"error: {a_file}: is a file, not a folder"  # no counts: nothing was read
    assert open(a_file, "rb").read() == b"user data"


# ------------------------------------------------ row 10: exported model rejects NaN input

def test_exported_encode_strokes_rejects_non_finite_input(tiny_run, tmp_path):
    import tensorflow as tf

    import export

    out = str(tmp_path / "exp")
    export.export(tiny_run, out)
    loaded = tf.saved_model.load(out)
    strokes = np.zeros((2, 4, 3), np.float32)
    strokes[:, :, :2] = 0.5
    strokes[:, -1, 2] = 1
    lengths = tf.constant([4, 3], tf.int32)
    codes = loaded.signatures["encode_strokes"](strokes=tf.constant(strokes), lengths=lengths)["codes"]
    assert np.isfinite(codes.numpy()).all()
    strokes[1, 2, 0] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="encode_strokes: input 'strokes' holds NaN"):
        loaded.signatures["encode_strokes"](strokes=tf.constant(strokes), lengths=lengths)


# ------------------------------------------------ issue 21: crafted manifests and links in sample folders

PRETRAINED = os.path.join(REPO, "pretrained", "quickdraw4")


def tree_hashes(root) -> dict:
    """{relative path: sha256 or 'link -> target'} of everything under root."""
    out = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(base, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                out[rel] = "link -> " + os.readlink(path)
            elif os.path.isfile(path):
                out[rel] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return out


def crafted(out, files) -> None:
    os.makedirs(out, exist_ok=True)
    fileio.write_json(os.path.join(out, fileio.MANIFEST_NAME), {"written_by": "sketchgloc", "files": files})


def sample_cli(out, *extra):
    """sample_abs.py on the pretrained model and data/ (refused before any data or model is loaded)."""
    return run_cli("sample_abs.py", "2", "0", out, "0", PRETRAINED, "0", f"--data_dir={REPO}/data", *extra)


def test_a_crafted_manifest_removes_nothing_outside_its_folder(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"the user's")
    absolute = tmp_path / "elsewhere" / "path.txt"
    absolute.parent.mkdir()
    absolute.write_bytes(b"also the user's")
    out = str(tmp_path / "samples")
    crafted(out, ["../victim.txt", str(absolute), "0_1.png"])
    (tmp_path / "samples" / "0_1.png").write_bytes(b"listed, but the manifest is refused")
    before = tree_hashes(tmp_path)
    proc = sample_cli(out)
    one_error_line(proc, fileio.MANIFEST_NAME, "'../victim.txt'", "not a file name inside", "nothing removed")
    assert tree_hashes(tmp_path) == before
    # The absolute path alone is refused the same way, also with --overwrite.
    crafted(out, [str(absolute)])
    before = tree_hashes(tmp_path)
    proc = sample_cli(out, "--overwrite")
    one_error_line(proc, repr(str(absolute)), "not a file name inside")
    assert tree_hashes(tmp_path) == before


@pytest.mark.parametrize("entry, kind", [("sub", "a folder"), ("link.png", "a symbolic link"),
                                         (".", "not a file name"), ("a/../b", "not a file name"),
                                         (fileio.MANIFEST_NAME, "not a file name")])
def test_a_manifest_may_list_only_plain_files_of_its_folder(tmp_path, entry, kind):
    out = str(tmp_path / "samples")
    crafted(out, [entry, "0_0.png"])
    os.mkdir(os.path.join(out, "sub"))
    (tmp_path / "target.png").write_bytes(b"outside")
    os.symlink(tmp_path / "target.png", os.path.join(out, "link.png"))
    (tmp_path / "samples" / "0_0.png").write_bytes(b"listed")
    before = tree_hashes(tmp_path)
    settings = sample_settings.settings_with(sample_size=2, sample_output=out, checkpoint_path=PRETRAINED,
                                             data_dir=os.path.join(REPO, "data"))
    with pytest.raises(sample_abs.SampleError, match=f"lists {entry!r}, which is {kind}") as err:
        sample_abs.run(settings)
    assert len(str(err.value).splitlines()) == 1
    with pytest.raises(sample_abs.SampleError, match=kind):  # the step that removes files refuses too
        sample_abs.prepare_output(out, {"0_0.png"}, overwrite=True)
    assert tree_hashes(tmp_path) == before


@pytest.mark.parametrize("overwrite", [False, True])
def test_sample_file_names_that_are_links_are_never_written_through(tmp_path, overwrite):
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"the user's picture")
    out = str(tmp_path / "samples")
    os.makedirs(out)
    os.symlink(outside, os.path.join(out, "0_0.png"))
    if not overwrite:  # listed as ours by an earlier run's manifest
        crafted(out, ["0_0.png", "s_0_0.npy"])
    before = tree_hashes(tmp_path)
    proc = sample_cli(out, *(["--overwrite"] if overwrite else []))
    one_error_line(proc, out, "0_0.png", "a symbolic link")
    assert tree_hashes(tmp_path) == before
    with pytest.raises(sample_abs.SampleError, match="0_0.png: is a symbolic link"):
        sample_abs.fresh_path(out, "0_0.png")  # what every write of an output goes through
    assert outside.read_bytes() == b"the user's picture"
