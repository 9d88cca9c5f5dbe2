"""sample_abs.py: seeds, normalisation, the written files, CLI errors."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import checkpoints
import fileio
import hparams
import retrieval
import sample_abs
import sample_settings
import utils

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# `tiny_run` (conftest): the session's tiny demo model; enough to restore, encode and
# generate, its quality does not matter here.


def no_config(folder) -> str:
    return f"error: {folder}: no model_config.json (not a training --log_root folder)"


def run_cli(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, os.path.join(REPO, script), *args], capture_output=True,
                          text=True, cwd=REPO, timeout=120)


def error_lines(proc: subprocess.CompletedProcess) -> list:
    return [line for line in proc.stderr.splitlines() if line.strip()]


# ---------------------------------------------------------- generation

def test_chunk_seeds_are_distinct_int32():
    seeds = {sample_abs.chunk_seed(s, k) for s in range(3) for k in range(50)}
    assert len(seeds) == 150
    assert all(0 <= s < 2 ** 31 for s in seeds)
    # Pinned: a generated sample folder must be the same in every version and process.
    assert (sample_abs.chunk_seed(4, 2), sample_abs.chunk_seed(0, 0)) == (1441495223, 1484405855)


# --------------------------------------------------------- pure functions

def test_cut_sequence_keeps_the_end_row():
    seq = np.zeros((6, 5), np.float32)
    seq[:, 2] = 1
    seq[2:, 2], seq[2:, 4] = 0, 1
    assert sample_abs.cut_sequence(seq, 2).shape == (3, 5)  # two points + the end row
    assert sample_abs.cut_sequence(seq, 6).shape == (6, 5)  # never ended: all rows
    assert len(utils.five_to_points(sample_abs.cut_sequence(seq, 2))) == 2


def test_categories_for_dataset_ids():
    hps = hparams.parse("categories=[x,y]")
    assert sample_abs.categories_for(0, hps) == ["x", "y"]
    assert sample_abs.categories_for(2, hps)[8] == "The Great Wall"
    with pytest.raises(sample_abs.SampleError):
        sample_abs.categories_for(4, hps)


def write_npz(path, test_sketches, n_train=3):
    train_set = [np.array([[3, 4, 0], [-3, 0, 1]], np.int16)] * n_train
    arrays = {"train": train_set, "valid": train_set[:1], "test": test_sketches}
    obj = {k: np.empty(len(v), object) for k, v in arrays.items()}
    for k, v in arrays.items():
        obj[k][:] = v
    np.savez(path, **obj)


def test_test_sketches_use_the_checkpoint_scale_factor(tmp_path):
    long_one = np.ones((12, 3), np.int16)  # longer than max_seq_len: dropped by the loader
    tests = [np.array([[10, 0, 0], [0, 20, 1]], np.int16), long_one,
             np.array([[2, 2, 0], [2, -6, 1]], np.int16), np.array([[4, -8, 0], [6, 2, 1]], np.int16),
             np.array([[1, 1, 0], [1, 1, 1]], np.int16)]
    write_npz(tmp_path / "a.npz", tests)
    write_npz(tmp_path / "b.npz", tests[3:])
    hps = hparams.parse("num_per_category=100,max_seq_len=10,max_strokes_num=4")
    with pytest.warns(utils.DataWarning):
        got = sample_abs.load_test_sketches(str(tmp_path), ["a", "b"], 3, hps, scale_factor=4.0)
    assert [len(g) for g in got] == [3, 2]
    # The first usable test sketches in file order, divided by 4 (not by the data's own std).
    np.testing.assert_allclose(got[0][0], [[2.5, 0, 0], [0, 5, 1]], rtol=1e-6)
    np.testing.assert_allclose(got[0][1], [[0.5, 0.5, 0], [0.5, -1.5, 1]], rtol=1e-6)
    np.testing.assert_allclose(got[1][0], [[1, -2, 0], [1.5, 0.5, 1]], rtol=1e-6)


def test_disruption_moves_whole_strokes_but_not_the_first():
    sketch = np.array([[1, 0, 0], [1, 0, 1], [0, 2, 0], [0, 1, 1], [3, 0, 1]], np.float32)
    assert sample_abs.disrupt_strokes([sketch], 0.0, np.random.default_rng(0))[0] is sketch
    moved = utils.to_absolute(sample_abs.disrupt_strokes([sketch], 0.5, np.random.default_rng(0))[0])
    orig = utils.to_absolute(sketch)
    np.testing.assert_allclose(moved[:2], orig[:2], atol=1e-6)
    shift = moved[2:4, :2] - orig[2:4, :2]
    np.testing.assert_allclose(shift[0], shift[1], atol=1e-5)  # one offset per stroke
    assert np.abs(shift[0]).max() > 0
    np.testing.assert_array_equal(moved[:, 2], orig[:, 2])


def test_each_category_draws_its_own_disruption_from_the_seed():
    """Category c uses rng([seed, c]): the same sketch moves differently in two categories."""
    sketch = np.array([[1, 0, 0], [1, 0, 1], [0, 2, 0], [0, 1, 1], [3, 0, 1]], np.float32)
    first, second = sample_abs.disrupt_categories([[sketch], [sketch]], 0.5, seed=3)
    expected = sample_abs.disrupt_strokes([sketch], 0.5, np.random.default_rng([3, 1]))
    np.testing.assert_array_equal(second[0], expected[0])
    assert not np.allclose(first[0], second[0])
    assert sample_abs.disrupt_categories([[sketch]], 0.0, seed=3)[0][0] is sketch


def test_svg_has_one_element_per_stroke(tmp_path):
    points = np.array([[0, 0, 0], [10, 0, 0], [10, 5, 1], [3, 3, 1]], np.float32)
    path = str(tmp_path / "x.svg")
    sample_abs.write_svg(points, path)
    text = open(path).read()
    assert text.count("<polyline") == 1 and text.count("<circle") == 1
    assert 'width="48"' in text and 'height="48"' in text
    coords = [float(v) for pair in text.split('points="')[1].split('"')[0].split() for v in pair.split(",")]
    assert min(coords) >= 1.5 - 1e-6 and max(coords) <= 46.5 + 1e-6  # fitted inside the margin
    assert max(coords) == pytest.approx(46.5)


def test_an_earlier_run_is_cleared_but_nothing_else(tmp_path):
    ours = ["s_0_12.npy", "code_3_0.npy", "1_2.svg", "10_0.png", "overview_2.png", "sample_meta.json",
            "ret.json", "rec.json"]
    others = ["notes.txt", "s_a_1.npy", "my_0_1.png", "overview.png", "0_1.npy", "results.json"]
    for name in ours + others:
        (tmp_path / name).write_text("x")
    # Only what the manifest lists is sketchgloc's; the folder holds other files: refused.
    fileio.write_manifest(str(tmp_path), ours)
    with pytest.raises(sample_abs.SampleError, match="holds files sketchgloc did not write"):
        sample_abs.prepare_output(str(tmp_path), {"s_0_0.npy"})
    for name in others:
        os.remove(tmp_path / name)
    planned = {"s_0_12.npy", "sample_meta.json", "s_0_0.npy"}
    assert sample_abs.prepare_output(str(tmp_path), planned) == len(ours) - 2
    assert sorted(os.listdir(tmp_path)) == sorted(["s_0_12.npy", "sample_meta.json", fileio.MANIFEST_NAME])
    assert fileio.read_manifest(str(tmp_path)) == set(ours) | planned  # until the run completes


# ------------------------------------------------------------ the pipeline

def test_sample_folder_round_trips_through_retrieval(tiny_run, tiny_best, tmp_path):
    out = str(tmp_path / "samples")
    settings = sample_settings.settings_with(sample_size=3, sample_output=out, re_scale=0.3,
                                             checkpoint_path=tiny_run, demo=True)
    meta = sample_abs.run(settings)
    hps, extras = checkpoints.load_config(tiny_run)
    cats = hps.categories
    assert meta["categories"] == cats and meta["counts"] == [3] * len(cats)
    saved = json.load(open(os.path.join(out, "sample_meta.json")))
    assert saved["re_scale"] == 0.3 and saved["checkpoint"] == os.path.join(tiny_run, tiny_best)
    names = set(os.listdir(out))
    for c in range(len(cats)):
        assert f"overview_{c}.png" in names
        for i in range(3):
            assert {f"{c}_{i}.svg", f"{c}_{i}.png", f"code_{c}_{i}.npy", f"s_{c}_{i}.npy"} <= names
            seq = np.load(os.path.join(out, f"s_{c}_{i}.npy"))
            assert seq.ndim == 2 and seq.shape[1] == 5 and len(seq) <= hps.max_seq_len
            assert np.all(seq[:-1, 4] == 0)  # only the last row may be the end row
    assert f"{len(cats)}_0.svg" not in names and "code_0_3.npy" not in names

    # code_<c>_<i> is the code of the undisturbed original (re_scale 0.3 was used for generating).
    generator = sample_abs.SketchGenerator(tiny_run)
    assert generator.encoder._encoder is generator.sampler.encode  # one compiled encoder per model
    data_dir = sample_abs.demo_data_dir()
    originals = sample_abs.load_test_sketches(data_dir, cats, 3, hps, extras["scale_factor"])
    codes = generator.encode([s for group in originals for s in group])
    saved_codes = np.stack([np.load(os.path.join(out, f"code_{c}_{i}.npy"))
                            for c in range(len(cats)) for i in range(3)])
    np.testing.assert_allclose(saved_codes, codes, atol=1e-5)

    ret = retrieval.run(out, tiny_run, encoder=generator.encoder, verbose=False)
    assert ret["num_generated"] == ret["num_codes"] == 3 * len(cats)
    assert 0 <= ret["top_1"] <= ret["top_10"] <= ret["top_50"] == 1.0  # 15 codes < 50
    assert json.load(open(os.path.join(out, "ret.json")))["top_1"] == ret["top_1"]

    # Replacing the generations by the originals themselves must retrieve every one first.
    for c, group in enumerate(originals):
        for i, strokes in enumerate(group):
            points = utils.to_absolute(strokes)
            np.save(os.path.join(out, f"s_{c}_{i}.npy"), utils.to_five(points, len(points))[1:])
    perfect = retrieval.run(out, tiny_run, encoder=generator.encoder, verbose=False)
    assert perfect["top_1"] == 1.0


# -------------------------------------------------------------------- CLI

@pytest.mark.parametrize("args, message", [
    (["3", "0", "out"], "expected 6 positional arguments"),
    (["3", "0", "out", "x", "ckpt", "0"], "re_scale must be a number"),
    (["3", "5", "out", "0", "ckpt", "0"], "dataset_id must be"),
    ([], "sample_output is required"),
])
def test_usage_errors_are_one_line(args, message):
    proc = run_cli("sample_abs.py", *args)
    assert proc.returncode == 2
    assert len(error_lines(proc)) == 1 and message in proc.stderr and "Traceback" not in proc.stderr


def test_checkpoint_folder_without_config_is_one_line(tmp_path):
    proc = run_cli("sample_abs.py", "3", "0", str(tmp_path / "out"), "0", str(tmp_path), "0")
    assert proc.returncode == 1
    assert error_lines(proc) == [no_config(tmp_path)]


def test_unconditional_generation_decodes_seeded_normal_codes(tiny_run, tmp_path):
    """z ~ N(0, I), seeded; temperature 0.24 sampling by default (the stroke variant's sampler)."""
    out = tmp_path / "free"
    meta = sample_abs.run(sample_settings.settings_with(sample_size=4, sample_output=str(out),
                                                        checkpoint_path=tiny_run, unconditional=True))
    assert meta["unconditional"] and meta["counts"] == [4]
    assert not meta["greedy"] and meta["temperature"] == 0.24
    codes = np.stack([np.load(out / f"code_0_{i}.npy") for i in range(4)])
    want = np.random.default_rng([0, 1]).standard_normal((4, 8)).astype(np.float32)
    np.testing.assert_array_equal(codes, want)
    for i in range(4):
        assert (out / f"0_{i}.png").exists() and (out / f"s_0_{i}.npy").exists()
    assert (out / "overview_0.png").exists() and not (out / "0_4.png").exists()
