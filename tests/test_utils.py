"""utils: data loading, caps, conversions, augmentation and disruption."""
import logging

import numpy as np
import pytest

import graph_builder
import utils
from conftest import obj_array, sketch, strokes_of, write_npz
from utils import DataError, DataWarning


def test_absolute_and_stroke3_are_inverse():
    strokes = sketch(20).astype(np.float32)
    points = utils.to_absolute(strokes)
    np.testing.assert_allclose(points[:, :2], np.cumsum(strokes[:, :2], axis=0))
    np.testing.assert_array_equal(points[:, 2], strokes[:, 2])
    np.testing.assert_allclose(utils.to_stroke3(points), strokes, atol=1e-5)


def test_five_round_trip_and_cut_at_end_of_sketch():
    points = utils.to_absolute(sketch(6).astype(np.float32))
    seq = utils.to_five(points, 9)
    assert seq.shape == (10, 5)
    np.testing.assert_array_equal(seq[0], [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(seq[7:, 4], 1)
    np.testing.assert_allclose(utils.five_to_points(seq[1:]), points)
    early = seq[1:].copy()
    early[2] = [9, 9, 0, 0, 1]  # an end-of-sketch row cuts everything after it
    assert len(utils.five_to_points(early)) == 2
    with pytest.raises(ValueError):
        utils.to_five(points, 5)


# ---------------------------------------------------------------- loading

def test_load_dataset_statistics_and_normalisation(tmp_path):
    write_npz(tmp_path / "cat.npz")
    train = obj_array([sketch(12, 30, scale=2000), sketch(4, 31)])
    write_npz(tmp_path / "dog.npz", train=train)
    with pytest.warns(utils.DataWarning, match="clipped 13 offsets in 1 sketch"):  # scale=2000
        ds = utils.load_dataset(str(tmp_path), ["cat", "dog"], max_strokes_num=0, max_stroke_len=2)
    raw = [sketch(8 + i, i) for i in range(6)] + [sketch(12, 30, scale=2000), sketch(4, 31)]
    clipped = np.clip(np.concatenate(raw).astype(np.float64), -1000, 1000)
    assert ds.scale_factor == pytest.approx(np.std(clipped[:, :2]))
    assert ds.max_seq_len == 13  # longest over train (13), valid (9) and test (7)
    np.testing.assert_array_equal(ds.train.labels, [0] * 6 + [1] * 2)
    np.testing.assert_array_equal(ds.valid.labels, [0, 0, 1, 1])
    assert ds.train.strokes[6].dtype == np.float32
    np.testing.assert_allclose(ds.train.strokes[6][:, :2] * ds.scale_factor,
                               np.clip(raw[6][:, :2], -1000, 1000), rtol=1e-5)
    np.testing.assert_array_equal(ds.train.strokes[6][:, 2], raw[6][:, 2])
    counts = np.concatenate([graph_builder.pieces_per_sketch(s.strokes, 3)
                             for s in (ds.train, ds.valid, ds.test)])
    assert ds.max_strokes_num == int(np.ceil(np.percentile(counts, 99.9)))


def test_num_per_category_and_explicit_caps(tmp_path, caplog):
    write_npz(tmp_path / "cat.npz")
    with caplog.at_level(logging.WARNING, logger="utils"):
        ds = utils.load_dataset(str(tmp_path), ["cat"], num_per_category=3, max_seq_len=20,
                                max_strokes_num=2)
    assert len(ds.train.strokes) == 3 and len(ds.valid.strokes) == 2
    assert ds.max_seq_len == 20 and ds.max_strokes_num == 2
    counts = graph_builder.pieces_per_sketch(ds.train.strokes, 6)
    assert ds.cut_sketches["train"] == int(np.sum(counts > 2)) > 0
    assert "node cap 2" in caplog.text


def test_great_wall_accepts_quickdraw_file_name(tmp_path):
    write_npz(tmp_path / "The Great Wall of China.npz")
    ds = utils.load_dataset(str(tmp_path), ["The Great Wall"])
    assert ds.categories == ["The Great Wall"] and len(ds.train.strokes) == 6


def test_short_and_long_sketches_are_dropped_with_a_warning(tmp_path):
    train = obj_array([sketch(8), sketch(1), sketch(30, 1), sketch(9, 2), sketch(1, 3)])
    write_npz(tmp_path / "cat.npz", train=train)
    with pytest.warns(DataWarning) as record:
        ds = utils.load_dataset(str(tmp_path), ["cat"], max_seq_len=20)
    text = " | ".join(str(w.message) for w in record)
    assert "dropped 2 sketches with fewer than 2 points (sketches 1, 4)" in text
    assert "dropped 1 sketches with more than max_seq_len=20 points (sketches 2)" in text
    assert [len(s) for s in ds.train.strokes] == [8, 9]


def test_a_stray_huge_sketch_does_not_set_max_seq_len(tmp_path):
    # One 20000-point sketch among ordinary ones would make every decoder batch 20000 steps long.
    limit = utils.MAX_SKETCH_POINTS
    train = obj_array([sketch(8), sketch(20000, 1), sketch(limit, 2), sketch(limit + 1, 3), sketch(9, 4)])
    write_npz(tmp_path / "cat.npz", train=train)
    with pytest.warns(DataWarning) as record:
        ds = utils.load_dataset(str(tmp_path), ["cat"])
    (warning,) = [str(w.message) for w in record]
    assert warning == (f"{tmp_path / 'cat.npz'}, split 'train': dropped 2 sketches with more than {limit} "
                       "points (the limit when max_seq_len is computed; set max_seq_len to keep longer "
                       "ones) (sketches 1, 3)")
    assert [len(s) for s in ds.train.strokes] == [8, limit, 9] and ds.max_seq_len == limit
    # An explicit max_seq_len is the limit instead: the user asked for long sketches.
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        ds = utils.load_dataset(str(tmp_path), ["cat"], max_seq_len=20000)
    assert ds.max_seq_len == 20000 and len(ds.train.strokes) == 5


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_category_path_that_is_not_a_regular_file_is_named_so(tmp_path, kind):
    import os
    path = tmp_path / "x.npz"
    os.mkdir(path) if kind == "folder" else os.mkfifo(path)
    with pytest.raises(DataError) as info:  # a FIFO must not block the loader
        utils.load_dataset(str(tmp_path), ["x"])
    name = "a folder" if kind == "folder" else "a FIFO"
    assert str(info.value) == f"{path}: not a regular file ({name}); category 'x' needs a .npz file"


def test_real_sheep_statistics(real_data):
    ds = utils.load_dataset(real_data, ["aaron_sheep"])
    assert (len(ds.train.strokes), len(ds.valid.strokes), len(ds.test.strokes)) == (7400, 300, 300)
    assert ds.max_seq_len == 250  # as measured with the original code
    assert ds.scale_factor == pytest.approx(18.52, abs=0.01)
    # Measured with the original's loader: stroke nodes, 99.9th percentiles.
    assert (ds.max_stroke_len, ds.max_strokes_num) == (131, 62)
    counts = graph_builder.pieces_per_sketch(ds.train.strokes, ds.node_points)
    assert ds.max_strokes_num < counts.max()  # the 99.9th percentile cuts a few sketches
    assert ds.cut_sketches["train"] == int(np.sum(counts > ds.max_strokes_num)) == 7


# -------------------------------------------------------------- bad input

def one_line_error(excinfo, *parts):
    message = str(excinfo.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, (part, message)


def test_missing_file_lists_existing_files(tmp_path):
    write_npz(tmp_path / "cat.npz")
    write_npz(tmp_path / "dog.npz")
    with pytest.raises(DataError) as excinfo:
        utils.load_dataset(str(tmp_path), ["cat", "bird"])
    one_line_error(excinfo, "bird.npz", "not found", "cat.npz, dog.npz")


def test_missing_split_key(tmp_path):
    write_npz(tmp_path / "cat.npz", valid="omit")
    with pytest.raises(DataError) as excinfo:
        utils.load_dataset(str(tmp_path), ["cat"])
    one_line_error(excinfo, "cat.npz", "split 'valid'", "missing", "test, train")


def test_split_that_is_not_an_object_array(tmp_path):
    write_npz(tmp_path / "cat.npz", test=np.zeros((4, 3), np.int16))
    with pytest.raises(DataError) as excinfo:
        utils.load_dataset(str(tmp_path), ["cat"])
    one_line_error(excinfo, "cat.npz", "split 'test'", "object array", "(4, 3)")


def test_sketch_that_is_not_n_by_3(tmp_path):
    bad = obj_array([sketch(5), np.zeros((5, 2), np.int16), sketch(6)])
    write_npz(tmp_path / "cat.npz", valid=bad)
    with pytest.raises(DataError) as excinfo:
        utils.load_dataset(str(tmp_path), ["cat"])
    one_line_error(excinfo, "cat.npz", "split 'valid'", "sketch 1", "[N,3]", "(5, 2)")


def test_non_finite_value(tmp_path):
    bad = sketch(7, 1).astype(np.float32)
    bad[4, 1] = np.nan
    write_npz(tmp_path / "cat.npz", train=obj_array([sketch(5), sketch(6), bad]))
    with pytest.raises(DataError) as excinfo:
        utils.load_dataset(str(tmp_path), ["cat"])
    one_line_error(excinfo, "cat.npz", "split 'train'", "sketch 2", "non-finite", "point 4")


def test_bad_pen_state(tmp_path):
    bad = sketch(7, 1)
    bad[2, 2] = 3
    write_npz(tmp_path / "cat.npz", test=obj_array([bad]))
    with pytest.raises(DataError) as excinfo:
        utils.load_dataset(str(tmp_path), ["cat"])
    one_line_error(excinfo, "split 'test'", "sketch 0", "pen_lifted")


def test_empty_sketch(tmp_path):
    write_npz(tmp_path / "cat.npz", train=obj_array([sketch(5), np.zeros((0, 3), np.int16)]))
    with pytest.raises(DataError) as excinfo:
        utils.load_dataset(str(tmp_path), ["cat"])
    one_line_error(excinfo, "cat.npz", "split 'train'", "sketch 1", "empty")


@pytest.mark.parametrize("content", [b"this is not a zip archive\n", b""])
def test_file_that_is_not_an_npz(tmp_path, content):
    (tmp_path / "cat.npz").write_bytes(content)
    with pytest.raises(DataError) as excinfo:
        utils.load_dataset(str(tmp_path), ["cat"])
    one_line_error(excinfo, "cat.npz", "not an .npz")


def test_npy_file_named_npz(tmp_path):
    with open(tmp_path / "cat.npz", "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(DataError) as excinfo:
        utils.load_dataset(str(tmp_path), ["cat"])
    one_line_error(excinfo, "cat.npz", "not an .npz")


# ----------------------------------------------------------- augmentation



def test_no_augmentation_without_augment_stroke_prob():
    """The original augments (scaling included) only when augment_stroke_prob > 0."""
    strokes = strokes_of([10, 10])
    np.testing.assert_array_equal(utils.augment(strokes, np.random.default_rng(0), 0.1, 0.0, 1.0),
                                  strokes)


def test_random_scale_multiplies_each_axis():
    strokes = strokes_of([10, 10])
    # A tiny drop probability: no point is dropped, only the first point is shifted.
    out = utils.augment(strokes, np.random.default_rng(0), 0.1, 1e-12, 1.0)
    assert len(out) == len(strokes)
    ratio = out[1:, :2] / strokes[1:, :2]
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[0], ratio.shape), rtol=1e-5)
    assert np.all(np.abs(ratio[0] - 1) <= 0.1) and ratio[0, 0] != ratio[0, 1]
    np.testing.assert_array_equal(out[:, 2], strokes[:, 2])


def test_shift_bounds_include_the_origin():
    """A sketch right of the origin: the offset range is [-0.8 * 24, 0.8 * (48 - maxx)] (pixels)."""
    strokes = np.zeros((4, 3), np.float32)
    strokes[:, 0] = [10.0, 2.0, 2.0, 2.0]  # absolute x 10..16 -> pixels 34..40 (scale 1, + 24)
    strokes[-1, 2] = 1
    offsets = []
    rng = np.random.default_rng(0)
    for _ in range(2000):
        flat = strokes.copy()
        utils._shift(flat, np.array([4]), rng, 1.0)
        offsets.append(flat[0, 0] - strokes[0, 0])
    low, high = -0.8 * 24, 0.8 * (48 - 40)  # without the origin, low would be -0.8 * 34
    assert min(offsets) >= low - 1e-4 and max(offsets) <= high + 1e-4
    assert min(offsets) < low + 0.5 and max(offsets) > high - 0.5


def test_point_dropping_keeps_stroke_ends_and_positions():
    strokes = strokes_of([12, 3, 9, 6])
    points = utils.to_absolute(strokes)
    out = utils.augment(strokes, np.random.default_rng(1), 0.0, 0.5, 18.0)
    new = utils.to_absolute(out)
    shift = new[0, :2] - points[0, :2]  # the canvas shift moves the whole sketch
    # Match every kept point to an original one: absolute positions do not change.
    kept = [int(np.argmin(np.abs(points[:, :2] - (p[:2] - shift)).sum(1))) for p in new]
    np.testing.assert_allclose(new[:, :2] - shift, points[kept, :2], atol=1e-4)
    np.testing.assert_array_equal(new[:, 2], points[kept, 2])
    assert kept == sorted(set(kept))
    pos = utils.position_in_run(utils.run_starts(points[:, 2] > 0.5, np.array([len(points)])))
    must_keep = (pos < 3) | (points[:, 2] > 0.5)
    assert set(np.flatnonzero(must_keep)) <= set(kept)
    assert len(kept) < len(points)  # with p=0.5 some of the 12 droppable points go


def test_node_counts_equal_the_node_layout_and_the_reference_loop():
    strokes = [strokes_of([7, 1, 3], seed=1), strokes_of([2], seed=2), strokes_of([13, 6], seed=3)]
    flat, lengths = utils.flatten(strokes)
    for max_points in (1, 2, 6, 50):
        counts = utils.node_counts(flat[:, 2] > 0.5, lengths, max_points)
        np.testing.assert_array_equal(counts, graph_builder.pieces_per_sketch(strokes, max_points))
        loop = [len(graph_builder.split_nodes_loop(utils.to_absolute(s), max_points - 1)) for s in strokes]
        np.testing.assert_array_equal(counts, loop)
    with pytest.raises(ValueError, match="at least 1 point"):
        utils.node_counts(flat[:, 2] > 0.5, lengths, 0)


def test_point_dropping_with_probability_one_drops_every_droppable_point():
    strokes = strokes_of([8, 2, 5])
    lengths = np.array([15])
    out, out_lengths = utils.augment_flat(strokes, lengths, np.random.default_rng(0), 0.0, 1.0, 1.0)
    # per stroke: first 3 and the end point stay -> 4 + 2 + 4 points
    assert out_lengths.tolist() == [10] and len(out) == 10


def test_shift_keeps_small_sketch_on_the_canvas():
    strokes = strokes_of([10, 10], seed=3) * 0.5
    scale = 5.0  # pixels per normalised unit
    for seed in range(20):
        out = utils.augment(strokes, np.random.default_rng(seed), 0.0, 1e-9, scale)
        pixels = utils.to_absolute(out)[:, :2] * scale + 24
        assert pixels.min() >= -1e-4 and pixels.max() <= 48 + 1e-4
        np.testing.assert_allclose(out[1:], strokes[1:])  # only the first point moves


def test_augmentation_is_reproducible_and_batched_like_single():
    strokes = strokes_of([7, 9, 4])
    a = utils.augment(strokes, np.random.default_rng(5), 0.1, 0.2, 18.0)
    b = utils.augment(strokes, np.random.default_rng(5), 0.1, 0.2, 18.0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, utils.augment(strokes, np.random.default_rng(6), 0.1, 0.2, 18.0))


# ------------------------------------------------------------- disruption

def test_disrupt_moves_whole_strokes_but_not_the_first():
    points = utils.to_absolute(strokes_of([5, 4, 6, 3], seed=4))
    out = utils.disrupt(points, 0.3, np.random.default_rng(0))
    move = out[:, :2] - points[:, :2]
    np.testing.assert_array_equal(out[:, 2], points[:, 2])
    np.testing.assert_allclose(move[:5], 0)
    for start, stop in [(5, 9), (9, 15), (15, 18)]:
        np.testing.assert_allclose(move[start:stop], np.broadcast_to(move[start], (stop - start, 2)),
                                   atol=1e-5)
        assert np.abs(move[start]).max() > 0
    np.testing.assert_array_equal(utils.disrupt(points, 0.0, np.random.default_rng(0)), points)


def test_disrupt_offsets_scale_with_bound_and_re_scale():
    points = utils.to_absolute(strokes_of([2] * 2001, seed=5))
    low = np.minimum(points[:, :2].min(0), 0)
    high = np.maximum(points[:, :2].max(0), 0)
    bound = (high - low).max()
    moves = (utils.disrupt(points, 0.2, np.random.default_rng(1)) - points)[2::2, :2]
    z = moves / (bound * 0.2)
    assert abs(z.mean()) < 0.1 and abs(z.std() - 1) < 0.05  # N(0,1) * bound * re_scale
