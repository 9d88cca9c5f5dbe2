"""tools/explore.py and code_metrics.py: code metrics on hand-made codes, interpolation, the map."""
import json
import os

import numpy as np
import pytest

import code_metrics
import explore
import sample_abs
from conftest import REPO, obj_array, sketch, write_npz

PRETRAINED = os.path.join(REPO, "pretrained", "quickdraw4")


@pytest.fixture(scope="module")
def generator():
    """The shipped model, restored once for the module."""
    return sample_abs.SketchGenerator(PRETRAINED)


# ---------------------------------------------------------------- code_metrics

def clusters(per: int = 10, num: int = 4, spread: float = 0.01, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = np.eye(num, 6) * 10.0
    codes = np.concatenate([c + spread * rng.standard_normal((per, 6)) for c in centres])
    return codes, np.repeat(np.arange(num), per)


def test_well_separated_clusters_are_recognised_perfectly():
    codes, labels = clusters()
    m = code_metrics.code_metrics(codes, labels)
    assert m["knn_acc"] == 1.0 and m["silhouette"] > 0.99
    assert (m["k"], m["n"], m["chance"]) == (5, 40, 0.25)


def test_identical_codes_give_chance_accuracy_and_zero_silhouette():
    """All distances tie: the 5 lowest other indices vote, all of category 0 -> only category 0 is right."""
    labels = np.repeat(np.arange(4), 10)
    m = code_metrics.code_metrics(np.ones((40, 3)), labels)
    assert m["knn_acc"] == 0.25 and m["silhouette"] == 0.0


def test_knn_is_leave_one_out_and_breaks_ties_by_the_nearest_neighbour():
    # On a line: 0 at 0 and 1; 1 at 1.4 and 5. k=2 for point 1 (x=1): neighbours 1.4 (1) and 0 (0)
    # tie 1-1 -> the nearest (1.4, label 1) wins; without leave-one-out it would vote for itself.
    codes = np.array([[0.0], [1.0], [1.4], [5.0]])
    labels = np.array([0, 0, 1, 1])
    assert code_metrics.knn_predictions(codes, labels, k=2).tolist() == [0, 1, 0, 1]
    assert code_metrics.knn_accuracy(codes, labels, k=2) == 0.5


def test_silhouette_needs_two_categories_and_shapes_must_match():
    assert code_metrics.silhouette(np.zeros((3, 2)), np.zeros(3)) is None
    with pytest.raises(ValueError):
        code_metrics.code_metrics(np.zeros((3, 2)), np.zeros(4))


# ------------------------------------------------------------- interpolation

def test_lerp_and_slerp_end_at_both_codes():
    a, b = np.array([3.0, 0.0, 0.0]), np.array([0.0, 1.0, 1.0])
    for mode in ("lerp", "slerp"):
        codes = explore.interpolation_codes(a, b, 5, mode)
        assert codes.shape == (5, 3)
        np.testing.assert_allclose(codes[0], a, atol=1e-6)
        np.testing.assert_allclose(codes[-1], b, atol=1e-6)


def test_slerp_keeps_the_norm_on_the_arc_where_lerp_shrinks_it():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    mid_s = explore.slerp(a, b, [0.5])[0]
    mid_l = explore.lerp(a, b, [0.5])[0]
    np.testing.assert_allclose(mid_s, [np.sqrt(0.5), np.sqrt(0.5)], atol=1e-6)
    np.testing.assert_allclose(mid_l, [0.5, 0.5])
    # norms 2 and 4: the middle code has norm 3, at 45 degrees
    np.testing.assert_allclose(np.linalg.norm(explore.slerp(2 * a, 4 * b, [0.5])[0]), 3.0, rtol=1e-6)
    # parallel codes have no great circle: lerp
    np.testing.assert_allclose(explore.slerp(a, 3 * a, [0.5])[0], [2.0, 0.0])


@pytest.mark.parametrize("ref, parsed", [
    ("face:3", ("category", "face", 3)), ("alarm clock:0", ("category", "alarm clock", 0)),
    ("x/a.npz", ("npz", "x/a.npz", 0)), ("a.npz:4", ("npz", "a.npz", 4)), ("a.npy", ("npy", "a.npy", 0)),
])
def test_parse_ref(ref, parsed):
    assert explore.parse_ref(ref) == parsed


@pytest.mark.parametrize("ref", ["face", "face:-1", "a.npy:2", "face:x"])
def test_parse_ref_refuses(ref):
    with pytest.raises(explore.ExploreError):
        explore.parse_ref(ref)


def test_interpolate_writes_the_strip_and_svgs(generator, tmp_path, capsys):
    out = tmp_path / "out"
    result = explore.main(["interpolate", "--checkpoint", PRETRAINED, "--data_dir", "data", "--a", "face:3",
                           "--b", "pig:7", "--steps", "3", "--out", str(out)], generator=generator)
    names = sorted(os.listdir(out))
    assert "interpolate.png" in names and ".sketchgloc_manifest.json" in names
    assert sum(n.endswith(".svg") for n in names) == 6
    assert result["code_distance"] > 0 and all(len(v) == 3 for v in result["points"].values())
    assert "code distance" in capsys.readouterr().out


def test_interpolate_reads_npz_and_npy_files_and_modes(generator, tmp_path):
    raw = sketch(30, seed=1, scale=20)
    np.save(tmp_path / "a.npy", raw)
    write_npz(tmp_path / "b.npz", test=obj_array([sketch(9, 2), sketch(25, 3, scale=20)]))
    a, b = explore.load_refs([str(tmp_path / "a.npy"), f"{tmp_path / 'b.npz'}:1"], "data",
                             generator.hps, generator.scale_factor)
    np.testing.assert_allclose(a[:, :2] * generator.scale_factor, raw[:, :2], rtol=1e-5)
    assert len(b) == 25
    out = tmp_path / "out"
    explore.main(["interpolate", "--checkpoint", PRETRAINED, "--a", str(tmp_path / "a.npy"),
                  "--b", f"{tmp_path / 'b.npz'}:1", "--steps", "2", "--mode", "slerp", "--sample",
                  "--out", str(out)], generator=generator)
    assert sorted(n for n in os.listdir(out) if n.endswith(".svg")) == ["interp_slerp_0.svg",
                                                                        "interp_slerp_1.svg"]


def test_bad_input_is_one_error_line_and_the_users_file_is_kept(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "interpolate.png").write_text("mine")
    base = ["interpolate", "--checkpoint", PRETRAINED, "--data_dir", "data", "--out", str(out)]

    def fails(extra: list, code: int = 1) -> str:
        with pytest.raises(SystemExit) as exit_info:
            explore.main(base + extra)
        assert exit_info.value.code == code
        err = capsys.readouterr().err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
        return err

    assert "not written by sketchgloc" in fails(["--a", "face:3", "--b", "pig:1"])
    assert (out / "interpolate.png").read_text() == "mine"
    (out / "interpolate.png").unlink()
    assert "not a category" in fails(["--a", "cat:3", "--b", "pig:1"])
    assert "usable test sketches" in fails(["--a", "face:99999", "--b", "pig:1"])
    assert not os.listdir(out)
    bad = np.zeros((4, 3))
    bad[1, 0] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    assert "nan.npy" in fails(["--a", str(tmp_path / "nan.npy"), "--b", "pig:1"])
    assert "--steps" in fails(["--a", "face:1", "--b", "pig:1", "--steps", "1"], code=2)


def test_map_reports_metrics_of_both_sets(generator, tmp_path, capsys):
    out = tmp_path / "map"
    result = explore.main(["map", "--checkpoint", PRETRAINED, "--data_dir", "data", "--out", str(out),
                           "--sample_size", "6"], generator=generator)
    saved = json.loads((out / "map.json").read_text())
    assert (out / "map.png").stat().st_size > 1000
    for key in ("undisturbed", "disrupted"):
        assert saved[key]["n"] == 24 and 0 <= saved[key]["knn_acc"] <= 1
        assert saved[key] == result[key]
    assert saved["disrupted"]["re_scale"] == 0.3 and saved["counts"] == [6, 6, 6, 6]
    assert "5-NN category acc" in capsys.readouterr().out


def test_pca_projection_is_the_two_main_directions():
    """A cross of half-lengths 5 and 1 along (0.6, 0.8, 0) and (-0.8, 0.6, 0), shifted: the axes come back."""
    plane = np.array([[5.0, 0], [-5, 0], [0, 1], [0, -1]])
    codes = plane @ np.array([[0.6, 0.8, 0], [-0.8, 0.6, 0]]) + [1.0, 2.0, 3.0]
    emb = explore.project(codes, 0, "pca")
    np.testing.assert_allclose(np.abs(emb), np.abs(plane), atol=1e-9)
