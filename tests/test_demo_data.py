"""Tests of the procedural demo dataset: file format, invariants, determinism, caching, CLI."""
import os
import time

import numpy as np
import pytest

import demo_data

SMALL = {"n_train": 60, "n_valid": 20, "n_test": 20}


def _load(path: str) -> dict:
    """All splits of one `.npz`, loaded the way the training code loads QuickDraw files."""
    with np.load(path, allow_pickle=True, encoding="latin1") as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory) -> str:
    """A small demo dataset (seed 0) written once for the module."""
    out = str(tmp_path_factory.mktemp("demo_small"))
    assert demo_data.write_demo_dataset(out, seed=0, **SMALL) == list(demo_data.CATEGORIES)
    return out


def _all_sketches(data_dir: str) -> dict:
    """category -> list of every sketch of every split."""
    return {c: [s for arr in _load(os.path.join(data_dir, c + ".npz")).values() for s in arr]
            for c in demo_data.CATEGORIES}


def test_strokes_to_stroke3_hand_example():
    strokes = [np.array([[3, 4], [13, 4], [13, 9]]), np.array([[20, 20], [25, 20]])]
    expected = [[3, 4, 0], [10, 0, 0], [0, 5, 1], [7, 11, 0], [5, 0, 1]]
    out = demo_data.strokes_to_stroke3(strokes)
    assert out.dtype == np.int16
    np.testing.assert_array_equal(out, expected)
    back = demo_data.stroke3_to_strokes(out)
    assert len(back) == 2
    for got, want in zip(back, strokes):
        np.testing.assert_array_equal(got, want)


def test_stroke3_drops_repeats_inside_strokes_only():
    # A repeated point inside a stroke goes; a stroke starting where the last one ended stays.
    strokes = [np.array([[3, 4], [3, 4], [5, 4]]), np.array([[5, 4], [6, 4]])]
    out = demo_data.strokes_to_stroke3(strokes)
    np.testing.assert_array_equal(out, [[3, 4, 0], [2, 0, 1], [0, 0, 0], [1, 0, 1]])


def test_files_keys_dtypes_shapes(small_dir):
    assert sorted(os.listdir(small_dir)) == sorted(c + ".npz" for c in demo_data.CATEGORIES)
    for c in demo_data.CATEGORIES:
        data = _load(os.path.join(small_dir, c + ".npz"))
        assert set(data) == {"train", "valid", "test"}
        for split in demo_data.SPLITS:
            arr = data[split]
            assert arr.dtype == object and arr.ndim == 1
            assert len(arr) == SMALL["n_" + split]
            for s in arr:
                assert isinstance(s, np.ndarray) and s.dtype == np.int16
                assert s.ndim == 2 and s.shape[1] == 3


def test_sketch_invariants(small_dir):
    lengths = []
    for c, sketches in _all_sketches(small_dir).items():
        for s in sketches:
            assert set(np.unique(s[:, 2])) <= {0, 1}
            assert s[-1, 2] == 1, c
            strokes = demo_data.stroke3_to_strokes(s)
            assert 2 <= len(strokes) <= demo_data.MAX_STROKES, c
            assert min(len(st) for st in strokes) >= 2, c  # no lone dots
            span = np.ptp(np.cumsum(s[:, :2].astype(np.int64), axis=0), axis=0).max()
            assert 100 <= span <= 300, (c, span)  # QuickDraw scale
            lengths.append(len(s))
    lengths = np.array(lengths)
    assert lengths.min() >= 15 and lengths.max() <= demo_data.MAX_POINTS
    lo, hi = np.percentile(lengths, [10, 90])
    assert 25 <= lo and hi <= 70, (lo, hi)


def test_same_seed_gives_identical_bytes(small_dir, tmp_path):
    demo_data.write_demo_dataset(str(tmp_path), seed=0, **SMALL)
    for c in demo_data.CATEGORIES:
        with open(os.path.join(small_dir, c + ".npz"), "rb") as a, \
                open(os.path.join(tmp_path, c + ".npz"), "rb") as b:
            assert a.read() == b.read(), c


def test_different_seed_gives_different_sketches(small_dir, tmp_path):
    demo_data.write_demo_dataset(str(tmp_path), seed=1, **SMALL)
    a, b = _all_sketches(small_dir), _all_sketches(str(tmp_path))
    for c in demo_data.CATEGORIES:
        same = sum(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a[c], b[c]))
        assert same == 0, c


def test_generate_category_deterministic_and_validates():
    a = demo_data.generate_category("sun", 5, np.random.default_rng(7))
    b = demo_data.generate_category("sun", 5, np.random.default_rng(7))
    assert len(a) == 5 and all(np.array_equal(x, y) for x, y in zip(a, b))
    with pytest.raises(ValueError, match="giraffe"):
        demo_data.generate_category("giraffe", 1, np.random.default_rng(0))


def _features(sketch: np.ndarray) -> list[float]:
    """Stroke count, log aspect (w/h), point count, share of points in the longest stroke."""
    strokes = demo_data.stroke3_to_strokes(sketch)
    ext = np.ptp(np.cumsum(sketch[:, :2].astype(np.int64), axis=0), axis=0) + 1
    return [len(strokes), np.log(ext[0] / ext[1]), len(sketch),
            max(len(s) for s in strokes) / len(sketch)]


def test_categories_differ_measurably():
    feats = {c: np.array([_features(s) for s in
                          demo_data.generate_category(c, 200, np.random.default_rng([3, i]))])
             for i, c in enumerate(demo_data.CATEGORIES)}
    strokes = {c: f[:, 0].mean() for c, f in feats.items()}
    aspect = {c: np.exp(np.median(f[:, 1])) for c, f in feats.items()}
    assert strokes["sun"] > max(strokes["face"], strokes["tree"], strokes["car"]) + 2
    assert aspect["car"] > 1.5 and aspect["tree"] < 0.8
    assert 0.8 < aspect["sun"] < 1.25
    # A nearest-centroid classifier on these 4 numbers beats chance (0.2) by far.
    every = np.concatenate(list(feats.values()))
    mu, sd = every.mean(axis=0), every.std(axis=0)
    z = {c: (f - mu) / sd for c, f in feats.items()}
    centroids = np.stack([z[c][:100].mean(axis=0) for c in demo_data.CATEGORIES])
    correct = [np.argmin(((z[c][100:, None] - centroids) ** 2).sum(-1), axis=1) == i
               for i, c in enumerate(demo_data.CATEGORIES)]
    assert np.mean(correct) > 0.75


def test_default_sizes_are_fast(tmp_path):
    # CPU time: the test machine is shared, so wall time would also measure the neighbours.
    start = time.process_time()
    demo_data.write_demo_dataset(str(tmp_path))
    elapsed = time.process_time() - start
    assert elapsed < 10.0, elapsed
    data = _load(os.path.join(tmp_path, "car.npz"))
    assert [len(data[k]) for k in demo_data.SPLITS] == [1000, 100, 100]


def test_ensure_writes_once_then_reuses(tmp_path, monkeypatch):
    data_dir, cats = demo_data.ensure_demo_dataset(str(tmp_path), seed=2, **SMALL)
    assert cats == list(demo_data.CATEGORIES)
    assert os.path.basename(data_dir) == f"demo-v{demo_data.VERSION}-seed2-60-20-20"
    first = _load(os.path.join(data_dir, "face.npz"))

    def no_write(*args, **kwargs):
        raise AssertionError("dataset rewritten although it is complete")

    monkeypatch.setattr(demo_data, "write_demo_dataset", no_write)
    assert demo_data.ensure_demo_dataset(str(tmp_path), seed=2, **SMALL)[0] == data_dir
    monkeypatch.undo()
    os.remove(os.path.join(data_dir, "tree.npz"))
    demo_data.ensure_demo_dataset(str(tmp_path), seed=2, **SMALL)
    assert os.path.isfile(os.path.join(data_dir, "tree.npz"))
    again = _load(os.path.join(data_dir, "face.npz"))
    assert all(np.array_equal(x, y) for x, y in zip(first["train"], again["train"]))
    # Other seeds or sizes get their own folder.
    other = demo_data.ensure_demo_dataset(str(tmp_path), seed=2, n_train=30, n_valid=20, n_test=20)
    assert other[0] != data_dir


def test_ensure_uses_env_cache_and_default(tmp_path, monkeypatch):
    monkeypatch.setenv("SKETCHGLOC_CACHE", str(tmp_path))
    data_dir, _ = demo_data.ensure_demo_dataset(n_train=4, n_valid=2, n_test=2)
    assert os.path.dirname(data_dir) == str(tmp_path)
    monkeypatch.delenv("SKETCHGLOC_CACHE")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    assert demo_data.default_cache_dir() == os.path.join(repo, ".cache")


def test_ensure_rejects_unknown_size():
    with pytest.raises(TypeError, match="n_trian"):
        demo_data.ensure_demo_dataset("/nonexistent", n_trian=5)


def test_interrupted_write_leaves_no_half_file(tmp_path, monkeypatch):
    out = str(tmp_path / "old")
    demo_data.write_demo_dataset(out, seed=0, n_train=4, n_valid=2, n_test=2)
    with open(os.path.join(out, "face.npz"), "rb") as f:
        before = f.read()
    real_write = np.lib.format.write_array

    def write_then_crash(fp, array, *args, **kwargs):
        real_write(fp, array, *args, **kwargs)
        raise KeyboardInterrupt("simulated interruption")

    monkeypatch.setattr(np.lib.format, "write_array", write_then_crash)
    with pytest.raises(KeyboardInterrupt):
        demo_data.write_demo_dataset(out, seed=1, n_train=4, n_valid=2, n_test=2)
    fresh = str(tmp_path / "fresh")
    with pytest.raises(KeyboardInterrupt):
        demo_data.ensure_demo_dataset(fresh, seed=0, n_train=4, n_valid=2, n_test=2)
    monkeypatch.undo()
    assert sorted(os.listdir(out)) == sorted(c + ".npz" for c in demo_data.CATEGORIES)
    with open(os.path.join(out, "face.npz"), "rb") as f:
        assert f.read() == before  # the old complete file survives
    leftovers = [f for _, _, files in os.walk(fresh) for f in files]
    assert leftovers == []
    data_dir, _ = demo_data.ensure_demo_dataset(fresh, seed=0, n_train=4, n_valid=2, n_test=2)
    assert len(_load(os.path.join(data_dir, "sun.npz"))["train"]) == 4


def test_cli_writes_and_reports(tmp_path, capsys):
    out = str(tmp_path / "cli")
    assert demo_data.main(["--out", out, "--seed", "4", "--n_train", "5",
                           "--n_valid", "2", "--n_test", "3"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == len(demo_data.CATEGORIES)
    for c, line in zip(demo_data.CATEGORIES, printed):
        assert os.path.join(out, c + ".npz") in line and "train=5" in line
        assert [len(v) for v in _load(os.path.join(out, c + ".npz")).values()] == [5, 2, 3]
    with pytest.raises(SystemExit):
        demo_data.main([])


def test_cli_show_option(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(demo_data, "save_preview", lambda path, seed: calls.append((path, seed)))
    assert demo_data.main(["--show", "--seed", "3"]) == 0
    assert demo_data.main(["--show", str(tmp_path / "x.png")]) == 0
    assert calls == [("imgs/demo_data.png", 3), (str(tmp_path / "x.png"), 0)]
    assert not os.listdir(tmp_path)  # --show alone writes no dataset


def test_preview_png(tmp_path):
    pytest.importorskip("matplotlib")
    png = str(tmp_path / "sub" / "grid.png")
    demo_data.save_preview(png, seed=1, per_category=1)
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
