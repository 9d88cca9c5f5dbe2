"""Stroke pieces, the 9 grid relations and batch assembly (METHOD.md §2-5)."""
import os
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

import graph_builder as gb
import safe_npz
import utils
from conftest import REAL_DATA, strokes_of



def box(x0, x1, y0, y1):
    """A piece whose bounding box is [x0,x1]x[y0,y1] (its two corners)."""
    return np.array([[x0, y0], [x1, y1]], np.float32)


def cells(rel):
    """Set of marked relation indices of one [9] row."""
    return set(np.flatnonzero(rel).tolist())


def points(*strokes):
    """Absolute points [N,3] from strokes given as lists of (x, y); pen lifted at each end."""
    rows = []
    for stroke in strokes:
        for n, (x, y) in enumerate(stroke):
            rows.append((x, y, float(n == len(stroke) - 1)))
    return np.array(rows, np.float32)


# ------------------------------------------------------------ hand examples

def test_piece_right_of_another():
    rel = gb.grid_relations([box(0, 1, 0, 1), box(3, 4, 0, 1)], 2)
    assert cells(rel[0, 1]) == {7}  # column 2 (right), row 1 (same rows): k = 3*2 + 1
    assert cells(rel[1, 0]) == {1}  # seen from the right piece: column 0, row 1


def test_piece_below_left_of_another():
    rel = gb.grid_relations([box(0, 1, 0, 1), box(-5, -3, 4, 6)], 2)
    assert cells(rel[0, 1]) == {2}  # column 0, row 2
    assert cells(rel[1, 0]) == {6}  # column 2, row 0


def test_overlapping_pieces():
    rel = gb.grid_relations([box(0, 2, 0, 2), box(1, 3, 1, 3)], 2)
    assert cells(rel[0, 1]) == {4, 5, 7, 8}  # columns 1-2, rows 1-2
    assert cells(rel[1, 0]) == {0, 1, 3, 4}  # columns 0-1, rows 0-1


def test_containing_piece_reaches_all_cells_but_centre():
    rel = gb.grid_relations([box(0, 10, 0, 10), box(4, 5, 4, 5)], 2)
    assert cells(rel[1, 0]) == {0, 1, 2, 3, 5, 6, 7, 8}  # outline goes around the centre
    assert cells(rel[0, 1]) == {4}  # the small piece lies inside the big one's middle cell


def test_box_spanning_three_columns_only_keeps_centre():
    rel = gb.grid_relations([box(4, 5, 4, 5), box(0, 10, 4.5, 20)], 2)
    assert cells(rel[0, 1]) == {1, 2, 4, 5, 7, 8}  # columns 0-2, rows 1-2: not the full span


def test_degenerate_dot_and_line_boxes():
    dot = np.array([[5.0, 5.0]], np.float32)
    square = box(0, 10, 0, 10)
    horizontal = box(0, 10, 5, 5)
    vertical = box(5, 5, 0, 10)
    on_border = np.array([[10.0, 5.0]], np.float32)
    outside = np.array([[11.0, 5.0]], np.float32)
    rel = gb.grid_relations([dot, square, horizontal, vertical, on_border, outside], 6)
    assert np.isfinite(rel).all()
    assert cells(rel[0, 1]) == {0, 1, 2, 3, 5, 6, 7, 8}  # square around a dot
    assert cells(rel[1, 0]) == {4}
    assert cells(rel[2, 3]) == {3, 4, 5}  # vertical line crosses the horizontal one's grid: column 1
    assert cells(rel[3, 2]) == {1, 4, 7}  # and the other way round: row 1
    assert cells(rel[1, 4]) == {4}  # a coordinate equal to a border is in the middle column
    assert cells(rel[1, 5]) == {7}
    assert cells(rel[0, 0]) == {4}  # a dot sees itself in its (zero-size) centre


def test_self_relation_is_centre_only():
    pieces = [box(0, 1, 0, 2), box(3, 3, 0, 5), np.array([[7.0, 7.0]])]
    rel = gb.grid_relations(pieces, 5)
    for i in range(3):
        assert cells(rel[i, i]) == {4}


def test_padding_rows_and_columns_are_zero():
    rel = gb.grid_relations([box(0, 1, 0, 1), box(3, 4, 0, 1)], 4)
    assert rel.shape == (4, 4, 9) and rel.dtype == np.float32
    assert not rel[2:].any() and not rel[:, 2:].any()


def test_pieces_past_max_nodes_are_dropped():
    pieces = [box(0, 1, 0, 1), box(3, 4, 0, 1), box(-3, -2, 0, 1)]
    rel = gb.grid_relations(pieces, 2)
    assert rel.shape == (2, 2, 9)
    np.testing.assert_array_equal(rel, gb.grid_relations(pieces[:2], 2))


# ------------------------------------------------------------- invariants

def random_pieces(rng, n):
    """Pieces with random boxes, many sharing borders (coarse integer grid)."""
    return [rng.integers(0, 6, (rng.integers(1, 5), 2)).astype(np.float32) for _ in range(n)]


def test_invariants_on_random_pieces():
    rng = np.random.default_rng(0)
    for _ in range(30):
        pieces = random_pieces(rng, int(rng.integers(1, 12)))
        n = len(pieces)
        rel = gb.grid_relations(pieces, 12)
        assert (rel[:n, :n].sum(-1) >= 1).all()  # every real pair has a relation
        assert not rel[n:].any() and not rel[:, n:].any()
        np.testing.assert_array_equal(rel, gb.grid_relations_loop(pieces, 12))
        boxes = gb.piece_boxes(pieces)
        for i, j in zip(*np.nonzero(rel[:n, :n, 4] == 0)):
            # the centre is empty only when j spans the whole grid or misses the middle
            spans = (boxes[j, 0] < boxes[i, 0] and boxes[j, 1] > boxes[i, 1]
                     and boxes[j, 2] < boxes[i, 2] and boxes[j, 3] > boxes[i, 3])
            misses = (boxes[j, 1] < boxes[i, 0] or boxes[j, 0] > boxes[i, 1]
                      or boxes[j, 3] < boxes[i, 2] or boxes[j, 2] > boxes[i, 3])
            assert spans or misses
            if spans:
                assert rel[i, j].sum() == 8


def test_batch_relations_match_single_sketch_relations():
    rng = np.random.default_rng(1)
    sketches = [random_pieces(rng, int(rng.integers(1, 9))) for _ in range(7)]
    batch = gb.grid_relations_batch(sketches, 6)
    assert batch.shape == (7, 6, 6, 9)
    for b, pieces in enumerate(sketches):
        np.testing.assert_array_equal(batch[b], gb.grid_relations(pieces, 6))
    padded = gb.grid_relations_batch(sketches, 6, pad_to_batch=True)
    assert padded.shape[1] == min(6, max(len(p) for p in sketches))


# ---------------------------------------------------------------- pieces

def test_split_pieces_cuts_at_pen_lifts_and_piece_len():
    sketch = points([(i, 0) for i in range(8)], [(0, i) for i in range(2)])
    pieces = gb.split_pieces(sketch, 3)
    assert [len(p) for p in pieces] == [3, 3, 2, 2]
    np.testing.assert_array_equal(pieces[1], [[3, 0], [4, 0], [5, 0]])
    np.testing.assert_array_equal(pieces[3], [[0, 0], [0, 1]])


def test_stroke_of_exactly_piece_len_points_is_one_piece():
    sketch = points([(i, 0) for i in range(6)], [(i, 1) for i in range(7)])
    assert [len(p) for p in gb.split_pieces(sketch, 6)] == [6, 6, 1]


def test_trailing_points_without_pen_lift_form_a_last_piece():
    sketch = points([(0, 0), (1, 0)])
    tail = np.array([[5, 5, 0], [6, 5, 0], [7, 5, 0]], np.float32)
    pieces = gb.split_pieces(np.concatenate([sketch, tail]), 2)
    assert [len(p) for p in pieces] == [2, 2, 1]
    np.testing.assert_array_equal(pieces[-1], [[7, 5]])


def test_pieces_cover_every_point_once_in_order():
    rng = np.random.default_rng(2)
    sketch = np.column_stack([rng.normal(size=(50, 2)), rng.random(50) < 0.2]).astype(np.float32)
    pieces = gb.split_pieces(sketch, 4)
    np.testing.assert_array_equal(np.concatenate(pieces), sketch[:, :2])
    assert max(len(p) for p in pieces) <= 4


# ---------------------------------------------------------------- batches

def stroke3(*strokes):
    """Stroke-3 deltas of a sketch given as absolute strokes."""
    return utils.to_stroke3(points(*strokes))


def num_nodes(batch):
    """Nodes of every sketch of a batch (a kept node holds at least one point)."""
    return (batch["piece_lengths"] > 0).sum(axis=1)


def seq_lengths(batch):
    """Points of every sketch of a batch: the target rows before the end-of-sketch rows, S0 aside."""
    return (batch["targets"][:, 1:, 4] == 0).sum(axis=1)


def test_build_batch_shapes_padding_and_targets():
    a = stroke3([(0, 0), (1, 0), (2, 0)], [(0, 1), (0, 2)])  # 5 points, 2 pieces of len 3
    b = stroke3([(i, i) for i in range(7)])  # 7 points: pieces of 3, 3, 1
    batch = gb.build_batch([a, b], [3, 1], max_points=3, max_nodes=10, max_seq_len=9)
    assert batch["points"].shape == (2, 3, 3, 2)
    assert batch["relations"].shape == (2, 3, 3, 9)
    assert batch["targets"].shape == (2, 9, 5)  # S0 + the longest sketch's 7 points + 1 end row
    assert sorted(batch) == ["labels", "piece_lengths", "points", "relations", "targets"]
    np.testing.assert_array_equal(num_nodes(batch), [2, 3])
    np.testing.assert_array_equal(batch["piece_lengths"], [[3, 2, 0], [3, 3, 1]])
    np.testing.assert_array_equal(seq_lengths(batch), [5, 7])
    np.testing.assert_array_equal(batch["labels"], [3, 1])
    np.testing.assert_allclose(batch["points"][0, 1], [[0, 1], [0, 2], [0, 0]])
    np.testing.assert_allclose(batch["points"][1, 2], [[6, 6], [0, 0], [0, 0]])
    assert not batch["points"][0, 2].any() and not batch["relations"][0, 2].any()
    assert not batch["relations"][0, :, 2].any()
    for key, dtype in [("points", np.float32), ("relations", np.float32), ("targets", np.float32),
                       ("piece_lengths", np.int32), ("labels", np.int32)]:
        assert batch[key].dtype == dtype, key
    targets = batch["targets"][0]
    np.testing.assert_array_equal(targets[0], [0, 0, 1, 0, 0])  # S0
    np.testing.assert_allclose(targets[1:6, :2], [[0, 0], [1, 0], [2, 0], [0, 1], [0, 2]])
    np.testing.assert_array_equal(targets[1:6, 3], [0, 0, 1, 0, 1])  # p2 = pen lifted
    np.testing.assert_array_equal(targets[1:6, 2], 1 - targets[1:6, 3])
    np.testing.assert_array_equal(targets[6:], [[0, 0, 0, 0, 1]] * 3)
    np.testing.assert_array_equal(batch["targets"][1, 8], [0, 0, 0, 0, 1])  # the longest ends too


def test_every_sketch_of_a_batch_gets_an_end_of_sketch_target():
    # Hand-made batch: 2, 4 and 4 points. The two longest tie; each must still end.
    a = stroke3([(0, 0), (1, 1)])
    b = stroke3([(0, 0), (1, 0)], [(2, 2), (3, 2)])
    c = stroke3([(0, 0), (0, 1), (0, 2), (0, 3)])
    targets = gb.build_batch([a, b, c], [0, 1, 2], max_points=5, max_nodes=4, max_seq_len=4)["targets"]
    assert targets.shape == (3, 6, 5)  # S0, 4 point rows, 1 end row: one past max_seq_len, as asked
    end_rows = targets[:, 1:, 4].sum(axis=1)
    np.testing.assert_array_equal(end_rows, [3, 1, 1])
    np.testing.assert_array_equal(targets[:, -1], [[0, 0, 0, 0, 1]] * 3)
    # Every point row is a pen row and the end rows are all padding (p3 alone).
    np.testing.assert_array_equal(targets[1, 1:5, 2:4].sum(axis=1), [1, 1, 1, 1])
    np.testing.assert_array_equal(targets[1, 1:5, 3], [0, 1, 0, 1])


def test_build_batch_relations_equal_grid_relations_of_its_pieces():
    rng = np.random.default_rng(3)
    sketches = [np.column_stack([rng.normal(size=(n, 2)), rng.random(n) < 0.3]).astype(np.float32)
                for n in (3, 17, 40, 9)]
    for re_scale in (0.0, 0.5):
        batch = gb.build_batch(sketches, [0] * 4, max_points=4, max_nodes=8, max_seq_len=40,
                               re_scale=re_scale, rng=np.random.default_rng(4))
        for b in range(4):
            n = num_nodes(batch)[b]
            pieces = [batch["points"][b, k, :batch["piece_lengths"][b, k]] for k in range(n)]
            np.testing.assert_array_equal(batch["relations"][b], gb.grid_relations(pieces, 8))
            if re_scale == 0:
                expected = gb.split_pieces(utils.to_absolute(sketches[b]), 4)[:8]
                assert len(pieces) == len(expected)
                for got, want in zip(pieces, expected):
                    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
            # to_five pads to max_seq_len=40; the batch adds one end row past its longest (40).
            np.testing.assert_allclose(batch["targets"][b, :41],
                                       utils.to_five(utils.to_absolute(sketches[b]), 40), atol=1e-5)
            np.testing.assert_array_equal(batch["targets"][b, 41], [0, 0, 0, 0, 1])


def test_build_batch_without_batch_padding_uses_caps():
    a = stroke3([(i, 0) for i in range(20)])  # 4 pieces of 6 points at most
    batch = gb.build_batch([a], [0], max_points=6, max_nodes=3, max_seq_len=25, pad_to_batch=False)
    assert batch["points"].shape == (1, 3, 6, 2)
    assert batch["targets"].shape == (1, 26, 5)
    assert num_nodes(batch)[0] == 3  # the 4th piece is past the cap
    np.testing.assert_array_equal(batch["piece_lengths"][0], [6, 6, 6])
    assert seq_lengths(batch)[0] == 20  # the decoder still redraws the whole sketch


def test_shape_class_hand_examples():
    caps = (251, 62, 132)  # sheep: max_seq_len 250 + 1, node cap, points per node
    assert gb.shape_class((233, 41, 127), caps, 0) == (233, 41, 127)  # off: the batch's own
    # 4 classes: 233/251 needs class 4 (> 3/4), so every axis takes its 4th size, the cap.
    assert gb.shape_class((233, 41, 127), caps, 4) == caps
    # 60/251 and 15/62 fit class 1, 34/132 needs class 2 (> 33): all axes take class 2.
    assert gb.shape_class((60, 15, 34), caps, 4) == (126, 31, 66)
    assert gb.shape_class((1, 1, 1), caps, 1) == caps
    with pytest.raises(ValueError, match="exceed"):
        gb.shape_class((252, 1, 1), caps, 4)


def test_shape_buckets_pad_with_zeros_only():
    """A bucketed batch is the batch padded to its own longest, followed by zeros."""
    a = stroke3([(0, 0), (1, 0), (2, 0)], [(0, 1), (0, 2)])  # 5 points, 2 nodes of 3 and 2
    b = stroke3([(i, i) for i in range(7)])  # 7 points: nodes of 3, 3, 1
    kwargs = dict(max_points=3, max_nodes=10, max_seq_len=11, re_scale=0.3)
    own = gb.build_batch([a, b], [3, 1], rng=np.random.default_rng(5), **kwargs)
    big = gb.build_batch([a, b], [3, 1], rng=np.random.default_rng(5), shape_buckets=2, **kwargs)
    # caps (12, 10, 3); own (8, 3, 3): 8/12 needs class 2 of 2, so all the caps.
    assert big["targets"].shape == (2, 13, 5)
    assert big["points"].shape == (2, 10, 3, 2) and big["relations"].shape == (2, 10, 10, 9)
    assert big["piece_lengths"].shape == (2, 10)
    np.testing.assert_array_equal(big["targets"][:, :9], own["targets"])
    np.testing.assert_array_equal(big["targets"][:, 9:], 0)  # shape rows: no end-of-sketch flag
    np.testing.assert_array_equal(big["points"][:, :3], own["points"])
    np.testing.assert_array_equal(big["relations"][:, :3, :3], own["relations"])
    np.testing.assert_array_equal(big["piece_lengths"][:, :3], own["piece_lengths"])
    assert not big["points"][:, 3:].any() and not big["relations"][:, 3:].any()
    assert not big["relations"][:, :, 3:].any() and not big["piece_lengths"][:, 3:].any()
    np.testing.assert_array_equal(big["labels"], own["labels"])


def test_iterate_batches_with_shape_buckets_sees_two_shapes():
    # Sketches of 2..12 points in strokes of at most 3: own sizes vary from batch to batch.
    strokes = [strokes_of([3] * (i % 4) + [2], seed=i) for i in range(40)]
    split = utils.Split("train", strokes, np.zeros(40, np.int32))
    args = dict(training=False, re_scale=0.0, shuffle=True, max_seq_len=12, max_nodes=4,
                scale_factor=1.0)
    seen = [(b["targets"].shape, b["points"].shape) for b in gb.iterate_batches(
        split, hps(batch_size=2, shape_buckets=2), np.random.default_rng(0), **args)]
    plain = {(b["targets"].shape, b["points"].shape) for b in gb.iterate_batches(
        split, hps(batch_size=2), np.random.default_rng(0), **args)}
    # Caps: time 12 + 1, nodes 4, points 5 + 1. Class 1 of 2: 7 steps, 2 nodes, 3 points.
    assert set(seen) == {((2, 8, 5), (2, 2, 3, 2)), ((2, 14, 5), (2, 4, 6, 2))}
    assert len(plain) > 2


def test_build_batch_rejects_bad_arguments():
    a = stroke3([(i, 0) for i in range(5)])
    with pytest.raises(ValueError, match="max_seq_len"):
        gb.build_batch([a], [0], max_points=6, max_nodes=3, max_seq_len=4)
    with pytest.raises(ValueError, match="Generator"):
        gb.build_batch([a], [0], max_points=6, max_nodes=3, max_seq_len=5, re_scale=0.3)


def test_disruption_in_batch_moves_encoder_side_only():
    a = stroke3([(0, 0), (1, 0), (2, 0)], [(0, 1), (0, 2), (1, 2)], [(5, 5), (6, 5)])
    kwargs = dict(max_points=6, max_nodes=5, max_seq_len=8)
    calm = gb.build_batch([a], [0], **kwargs)
    moved = gb.build_batch([a], [0], re_scale=0.5, rng=np.random.default_rng(0), **kwargs)
    np.testing.assert_array_equal(moved["targets"], calm["targets"])
    np.testing.assert_array_equal(moved["points"][0, 0], calm["points"][0, 0])  # first stroke stays
    for k in (1, 2):
        shift = moved["points"][0, k] - calm["points"][0, k]
        n = calm["piece_lengths"][0, k]
        assert np.abs(shift[:n]).max() > 0
        np.testing.assert_allclose(shift[:n], np.broadcast_to(shift[0], shift[:n].shape), atol=1e-5)


# ------------------------------------------------- stroke nodes on real data

# Measured with the original's loader, one file at a time (max_stroke_len, max_strokes_num).
MEASURED_CAPS = {"aaron_sheep": (131, 62), "pig": (57, 23), "face": (61, 24), "radio": (45, 27),
                 "alarm clock": (40, 27)}


def real_files(folder: str) -> list:
    """Category names of the .npz files of a data folder."""
    return sorted(name[:-4] for name in os.listdir(folder) if name.endswith(".npz"))


def raw_sketches(folder: str, name: str) -> list:
    """Every sketch of train, valid and test of one file, raw units, float32."""
    data = safe_npz.read_npz(os.path.join(folder, name + ".npz"))
    return [np.asarray(s, np.float32) for split in utils.SPLITS for s in data[split]]


def assert_batch_matches_loop(sketches: list, max_stroke_len: int) -> None:
    """Nodes, lengths and relations of build_batch equal the per-point and per-pair loops."""
    for lo in range(0, len(sketches), 500):
        chunk = sketches[lo:lo + 500]
        batch = gb.build_batch(chunk, np.zeros(len(chunk)), max_points=max_stroke_len + 1,
                               max_nodes=10 ** 6, max_seq_len=10 ** 6)
        for b, sketch in enumerate(chunk):
            nodes = gb.split_nodes_loop(utils.to_absolute(sketch), max_stroke_len)
            n = len(nodes)
            assert num_nodes(batch)[b] == n
            assert batch["piece_lengths"][b, :n].tolist() == [len(node) for node in nodes]
            for k, node in enumerate(nodes):
                np.testing.assert_array_equal(batch["points"][b, k, :len(node)], node)
            np.testing.assert_array_equal(batch["relations"][b, :n, :n], gb.grid_relations_loop(nodes, n))


def test_real_files_are_all_checked(real_data):
    assert set(MEASURED_CAPS) == set(real_files(real_data))  # every file has its measured caps


@pytest.mark.parametrize("name", real_files(REAL_DATA) if os.path.isdir(REAL_DATA) else [])
def test_stroke_nodes_equal_reference_loop_on_every_sketch(real_data, name):
    """METHOD.md §4 on every sketch of every real file: the percentile caps, then nodes and relations."""
    sketches = raw_sketches(real_data, name)
    caps = gb.caps_loop(sketches)
    assert caps == MEASURED_CAPS[name]
    with warnings.catch_warnings():  # pig and radio hold a few offsets beyond +-1000, clipped
        warnings.simplefilter("ignore", utils.DataWarning)
        ds = utils.load_dataset(real_data, [name])
    assert (ds.max_stroke_len, ds.max_strokes_num) == caps
    assert_batch_matches_loop(sketches, caps[0])
    # The top-level variant's 6-point pieces, on a subset.
    assert_batch_matches_loop(sketches[:500], 5)


def test_reference_loop_cuts_long_strokes_and_keeps_a_trailing_run():
    points = np.zeros((9, 3), np.float32)
    points[:, 0] = np.arange(9)
    points[[3, 4], 2] = 1  # strokes of 4 and 1 points, then 4 points without a pen lift
    nodes = gb.split_nodes_loop(points, max_stroke_len=2)
    assert [len(n) for n in nodes] == [3, 1, 1, 3, 1]
    assert gb.caps_loop([utils.to_stroke3(points)]) == (4, 3)


def hps(**kwargs):
    """Minimal hyper-parameters for iterate_batches."""
    values = dict(batch_size=2, max_stroke_len=5, random_scale_factor=0.0, augment_stroke_prob=0.0)
    values.update(kwargs)
    return SimpleNamespace(**values)


# ---------------------------------------------------------------- batches

def small_split(n=7):
    strokes = [strokes_of([3 + i % 4, 2 + i % 3], seed=i) for i in range(n)]
    return utils.Split("train", strokes, np.arange(n, dtype=np.int32) % 3)


def test_iterate_batches_full_batches_in_order():
    split = small_split(7)
    batches = list(gb.iterate_batches(
        split, hps(batch_size=3), np.random.default_rng(0), training=False, re_scale=0.0,
        shuffle=False, max_seq_len=10, max_nodes=4, scale_factor=1.0))
    assert len(batches) == 2  # the incomplete last batch is dropped
    np.testing.assert_array_equal(batches[1]["labels"], split.labels[3:6])
    for b, batch in enumerate(batches):
        for k in range(3):
            s = split.strokes[3 * b + k]
            assert seq_lengths(batch)[k] == len(s)
            np.testing.assert_allclose(batch["targets"][k, 1:len(s) + 1, :2],
                                       utils.to_absolute(s)[:, :2], atol=1e-6)


def test_iterate_batches_shuffles_and_augments_reproducibly():
    split = small_split(8)
    args = dict(training=True, re_scale=0.3, shuffle=True, max_seq_len=10, max_nodes=4,
                scale_factor=1.0)
    settings = hps(batch_size=4, random_scale_factor=0.1, augment_stroke_prob=0.1)
    first = list(gb.iterate_batches(split, settings, np.random.default_rng(3), **args))
    again = list(gb.iterate_batches(split, settings, np.random.default_rng(3), **args))
    for a, b in zip(first, again):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    labels = np.concatenate([b["labels"] for b in first])
    assert sorted(labels.tolist()) == sorted(split.labels.tolist())
    assert labels.tolist() != split.labels.tolist()
    plain = list(gb.iterate_batches(split, hps(batch_size=4), np.random.default_rng(3),
                                    **dict(args, training=False, re_scale=0.0)))
    assert not np.allclose(first[0]["targets"], plain[0]["targets"])  # augmented targets



# ---- the --show command line ------------------------------------------------------------------

def test_show_index_that_is_not_a_number_is_a_usage_error(real_data, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        gb.main(["--show", os.path.join(real_data, "pig.npz"), "abc", "--out", str(tmp_path / "g.png")])
    assert info.value.code == 2
    assert capsys.readouterr().err == "error: --show NPZ INDEX: INDEX must be an integer, got 'abc'\n"
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("out, expected", [("FILE/g.png", "FILE is a file, not a folder"),
                                           ("DIR", "is a folder; name the .png file to write")])
def test_show_out_that_cannot_be_written_is_one_line(real_data, tmp_path, capsys, out, expected):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "pictures").mkdir()
    out = out.replace("FILE", str(tmp_path / "notes.txt")).replace("DIR", str(tmp_path / "pictures"))
    expected = expected.replace("FILE", str(tmp_path / "notes.txt"))
    with pytest.raises(SystemExit) as info:
        gb.main(["--show", os.path.join(real_data, "pig.npz"), "0", "--out", out])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err == f"error: --out {out}: {expected}\n"
    assert (tmp_path / "notes.txt").read_text() == "mine" and os.listdir(tmp_path / "pictures") == []


def test_show_prints_the_absolute_path_of_its_default_picture(real_data, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert gb.main(["--show", os.path.join(real_data, "pig.npz"), "0"]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'grid_graphs.png'}\n"
    assert os.path.getsize(tmp_path / "grid_graphs.png") > 0
