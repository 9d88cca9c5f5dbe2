"""export.py: the SavedModel runs without the repository and matches the model, graph_builder and Sampler."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import checkpoints
import export
import graph_builder
import inference
import train
import utils

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHORT_LEN = 5

# Runs in a fresh interpreter whose sys.path holds only the standard places: the
# SavedModel alone must be enough. Inputs and outputs travel as .npy files.
LOADER = """
import importlib.util, os, sys
import numpy as np
import tensorflow as tf
assert importlib.util.find_spec("graph_builder") is None, "the repository is importable"
m = tf.saved_model.load("export")
x = {name[:-4]: np.load(os.path.join("in", name)) for name in os.listdir("in")}
sig = m.signatures
outs = {
    "encode": sig["encode"](points=tf.constant(x["points"]), piece_lengths=tf.constant(x["piece_lengths"]),
                            relations=tf.constant(x["relations"])),
    "encode_strokes": sig["encode_strokes"](strokes=tf.constant(x["strokes"]),
                                            lengths=tf.constant(x["lengths"])),
    "generate": sig["generate"](codes=tf.constant(x["codes"])),
    "generate_max_len": sig["generate_max_len"](codes=tf.constant(x["codes"]), max_len=tf.constant(%d)),
    "attr_generate": m.generate(tf.constant(x["codes"])),
}
os.makedirs("out")
for name, result in outs.items():
    for key, value in result.items():
        np.save(os.path.join("out", name + "." + key + ".npy"), value.numpy())
np.save("out/scale_factor.npy", m.scale_factor.numpy())
np.save("out/signatures.npy", np.array(sorted(sig)))
""" % SHORT_LEN


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory) -> tuple:
    """(training folder, export folder) of the session's tiny demo model (conftest)."""
    out = tmp_path_factory.mktemp("export") / "export"
    export.export(tiny_run, str(out))
    return tiny_run, str(out)


@pytest.fixture(scope="module")
def restored(exported):
    """(model, hps, extras) restored from the training folder, as sample_abs does."""
    model, hps, extras, _ = inference.load_model(exported[0])
    return model, hps, extras


def demo_sketches(hps, count: int = 7) -> list:
    """Test sketches of the demo data of several lengths, normalised."""
    _, demo_dir = train.resolve("", None, True)
    data = utils.load_dataset(demo_dir, hps.categories, 60, hps.max_seq_len, hps.max_strokes_num,
                              hps.max_stroke_len)
    strokes = data.test.strokes
    order = np.argsort([len(s) for s in strokes])
    return [strokes[i] for i in order[np.linspace(0, len(order) - 1, count).astype(int)]]


def pad(strokes: list) -> tuple:
    """Zero-padded [B, N, 3] stroke-3 and lengths [B]."""
    lengths = np.array([len(s) for s in strokes], np.int32)
    out = np.zeros((len(strokes), lengths.max(), 3), np.float32)
    for i, s in enumerate(strokes):
        out[i, :len(s)] = s
    return out, lengths


def batch_of(strokes: list, hps, max_nodes: int | None = None) -> dict:
    return graph_builder.build_batch(strokes, np.zeros(len(strokes), np.int32),
                                     max_points=hps.max_stroke_len + 1,
                                     max_nodes=max_nodes or hps.max_strokes_num,
                                     max_seq_len=hps.max_seq_len)


def tf_graph(strokes: list, max_points: int, max_nodes: int) -> dict:
    padded, lengths = pad(strokes)
    out = export.strokes_to_graph(tf.constant(padded), tf.constant(lengths), max_points, max_nodes,
                                  graph_builder.CELLS)
    return {k: v.numpy() for k, v in out.items()}


# ------------------------------------------------------- TF graph building

def test_strokes_to_graph_hand_worked():
    # Absolute (0,0) (1,0) (2,0)^ (2,2) (3,2)^ with pieces of 2: [p0 p1] [p2] [p3 p4].
    sketch = np.array([[0, 0, 0], [1, 0, 0], [1, 0, 1], [0, 2, 0], [1, 0, 1]], np.float32)
    got = tf_graph([sketch, sketch[:2]], max_points=2, max_nodes=10)
    np.testing.assert_array_equal(got["piece_lengths"], [[2, 1, 2], [2, 0, 0]])
    np.testing.assert_array_equal(got["points"][0, 2], [[2, 2], [3, 2]])
    np.testing.assert_array_equal(got["points"][0, 1], [[2, 0], [0, 0]])
    # Around piece 0 (x 0..1, y 0..0): piece 1 at (2,0) is right/middle -> cell 3*2+1.
    assert np.flatnonzero(got["relations"][0, 0, 1]).tolist() == [7]
    assert np.flatnonzero(got["relations"][0, 0, 2]).tolist() == [8]  # (2..3, 2): right/below
    assert not got["relations"][1, :, 1:].any() and not got["relations"][1, 1:].any()


@pytest.mark.parametrize("max_nodes", [None, 3])
def test_strokes_to_graph_matches_build_batch(restored, max_nodes):
    _, hps, _ = restored
    strokes = demo_sketches(hps)
    want = batch_of(strokes, hps, max_nodes)
    got = tf_graph(strokes, hps.max_stroke_len + 1, max_nodes or hps.max_strokes_num)
    assert want["piece_lengths"].shape[1] > 1
    for key in ("points", "piece_lengths", "relations"):
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


# --------------------------------------------------------- the SavedModel

@pytest.fixture(scope="module")
def loaded_outputs(exported, restored, tmp_path_factory) -> tuple:
    """(inputs, outputs) of the SavedModel run by a subprocess without the repository."""
    model, hps, _ = restored
    strokes = demo_sketches(hps)
    batch = batch_of(strokes, hps)
    padded, lengths = pad(strokes)
    codes = model.encode(batch)[0].numpy()
    inputs = dict(points=batch["points"], piece_lengths=batch["piece_lengths"],
                  relations=batch["relations"], strokes=padded, lengths=lengths, codes=codes)
    work = tmp_path_factory.mktemp("loader")
    os.symlink(exported[1], work / "export")
    os.makedirs(work / "in")
    for name, value in inputs.items():
        np.save(work / "in" / f"{name}.npy", value)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", LOADER], cwd=work, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outputs = {name[:-4]: np.load(work / "out" / name) for name in os.listdir(work / "out")}
    return inputs, outputs


def test_loaded_codes_equal_model_codes(loaded_outputs):
    inputs, outputs = loaded_outputs
    assert np.abs(inputs["codes"]).max() > 0
    np.testing.assert_array_equal(outputs["encode.codes"], inputs["codes"])
    np.testing.assert_array_equal(outputs["encode_strokes.codes"], inputs["codes"])


@pytest.mark.parametrize("name,max_len", [("generate", None), ("generate_max_len", SHORT_LEN)])
def test_loaded_generation_equals_sampler(loaded_outputs, restored, name, max_len):
    inputs, outputs = loaded_outputs
    model, hps, _ = restored
    max_len = max_len or hps.max_seq_len
    seq, lengths = inference.Sampler(model).generate(inputs["codes"], max_len, greedy=True)
    np.testing.assert_array_equal(outputs[f"{name}.sequences"], seq)
    np.testing.assert_array_equal(outputs[f"{name}.lengths"], lengths)
    strokes = outputs[f"{name}.strokes"]
    assert strokes.shape == (len(seq), max_len, 3)
    for i in range(len(seq)):
        want = utils.to_stroke3(utils.five_to_points(seq[i]))
        np.testing.assert_array_equal(strokes[i, :lengths[i]], want)
        assert not strokes[i, lengths[i]:].any()


def test_loaded_attribute_generate_matches_signature(loaded_outputs):
    # m.generate(codes) is the signature's function called directly; TF optimises that call
    # path differently, which moves some coordinates by an ulp (no other difference).
    outputs = loaded_outputs[1]
    np.testing.assert_array_equal(outputs["attr_generate.lengths"], outputs["generate.lengths"])
    for key in ("sequences", "strokes"):
        np.testing.assert_allclose(outputs[f"attr_generate.{key}"], outputs[f"generate.{key}"],
                                   rtol=0, atol=1e-5)


def test_export_writes_config(exported, restored, loaded_outputs):
    _, hps, extras = restored
    with open(os.path.join(exported[1], checkpoints.CONFIG_NAME)) as f:
        config = json.load(f)
    assert config["scale_factor"] == extras["scale_factor"] > 0
    assert config["max_seq_len"] == hps.max_seq_len and config["z_size"] == 8
    assert loaded_outputs[1]["scale_factor"] == np.float32(extras["scale_factor"])
    assert loaded_outputs[1]["signatures"].tolist() == sorted(export.SIGNATURES)


# --------------------------------------------------------------------- CLI

def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", "export.py"), *args],
                          capture_output=True, text=True, cwd=REPO, timeout=120)


def test_cli_folder_without_config(tmp_path):
    proc = run_cli("--checkpoint", str(tmp_path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path}: no model_config.json (not a training --log_root folder)"]
    assert not (tmp_path / "out").exists()


def test_cli_refuses_non_empty_out(tiny_trained_copy):
    run = str(tiny_trained_copy[0])  # a copy: were the refusal missing, the export would write into it
    proc = run_cli("--checkpoint", run, "--out", run)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {run}: holds files sketchgloc did not write (")
    assert lines[0].endswith("; use an empty folder or pass --overwrite")


# ---- issue 21: an export never replaces the user's files ----------------------------------------

PRETRAINED = os.path.join(REPO, "pretrained", "quickdraw4")


def test_an_export_records_its_files_so_a_rerun_may_replace_them(exported):
    import fileio

    out = exported[1]
    assert {"saved_model.pb", "variables", checkpoints.CONFIG_NAME} <= fileio.read_manifest(out)
    assert fileio.foreign_files(out) == []
    export.check_out(out)  # a second export into the same folder is accepted, without --overwrite


def test_a_users_saved_model_is_never_replaced(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "saved_model.pb").write_bytes(b"the user's own SavedModel")
    (out / "variables").mkdir()
    with pytest.raises(SystemExit) as exit_:
        export.main(["--checkpoint", PRETRAINED, "--out", str(out)])
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {out}: holds files sketchgloc did not write (saved_model.pb, variables); "
                   "use an empty folder or pass --overwrite"]
    assert (out / "saved_model.pb").read_bytes() == b"the user's own SavedModel"
    assert sorted(os.listdir(out)) == ["saved_model.pb", "variables"]  # not even a manifest
    export.check_out(str(out), overwrite=True)  # what --overwrite allows
