"""convert_quickdraw.py: QuickDraw ndjson (simplified, raw) and .bin -> sketch-rnn .npz.

Run as a script for the conversion-time measurement (not a test):
    python tests/test_convert_quickdraw.py --bench 10000
"""
import io
import json
import math
import os
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:  # run as a script (the measurement); pytest's conftest does this too
    sys.path[:0] = [REPO, os.path.join(REPO, "tools")]

import convert_quickdraw as cq  # noqa: E402
import demo_data  # noqa: E402
import utils  # noqa: E402
# One simplified drawing, worked by hand: the middle point of the first stroke is
# collinear (RDP removes it), the second stroke is a vertical line.
HAND = [[[10, 20, 30], [5, 5, 5]], [[0, 0], [0, 10]]]
HAND_STROKE3 = [[10, 5, 0], [20, 0, 1], [-30, -5, 0], [0, 10, 1]]
# A raw drawing: x spans 10..520 and y 20..420, so normalising subtracts (10, 20) and
# multiplies by 255/510 = 0.5: points (0,0) (100,0.4) (255,200) | (255,200) (255,0).
RAW = [[[10.0, 210.0, 520.0], [20.0, 20.8, 420.0], [0, 15, 40]],
       [[520.0, 520.0], [420.0, 20.0], [90, 120]]]
RAW_STROKE3 = [[0, 0, 0], [100, 0, 0], [155, 200, 1], [0, 0, 0], [0, -200, 1]]


# ----------------------------------------------------------------- file writers

def record(drawing, recognized=True, word="widget", key_id=1):
    """A QuickDraw ndjson object."""
    return {"word": word, "countrycode": "DE", "timestamp": "2017-03-01 20:41:36.70725 UTC",
            "recognized": recognized, "key_id": str(key_id), "drawing": drawing}


def write_ndjson(path, records):
    """One JSON object (or a given raw line) per line."""
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return str(path)


def bin_record(drawing, recognized=True, key_id=1):
    """The binary form of one simplified drawing (Google's documented layout)."""
    out = struct.pack("<Q2sBIH", key_id, b"DE", int(recognized), 1488400896, len(drawing))
    for xs, ys in drawing:
        out += struct.pack("<H", len(xs)) + bytes(xs) + bytes(ys)
    return out


def write_bin(path, drawings, recognized=None, tail=b""):
    """A .bin file of the drawings, plus optional trailing bytes."""
    recognized = recognized or [True] * len(drawings)
    with open(path, "wb") as f:
        for i, (d, r) in enumerate(zip(drawings, recognized)):
            f.write(bin_record(d, r, key_id=i))
        f.write(tail)
    return str(path)


def simplified_drawings(n, seed=0):
    """n simplified-format drawings (ints in 0-255) made from the demo generator's sketches."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        name = demo_data.CATEGORIES[i % len(demo_data.CATEGORIES)]
        strokes = demo_data.stroke3_to_strokes(demo_data.generate_category(name, 1, rng)[0])
        pts = np.concatenate(strokes)
        low, span = pts.min(axis=0), max(np.ptp(pts, axis=0).max(), 1)
        out.append([[np.rint((s[:, 0] - low[0]) * 255 / span).astype(int).tolist(),
                     np.rint((s[:, 1] - low[1]) * 255 / span).astype(int).tolist()]
                    for s in strokes])
    return out


def raw_drawings(n, seed=0):
    """n raw-format drawings: the simplified ones on a ~400-600 px canvas, densified to ~6 px
    steps (QuickDraw's raw files hold ~300 points and ~8 kB per drawing), float coordinates
    with hand jitter, and timestamps."""
    rng = np.random.default_rng(seed)
    out = []
    for drawing in simplified_drawings(n, seed):
        offset, scale, t = rng.uniform(0, 300, 2), rng.uniform(1.5, 2.5), 0.0
        strokes = []
        for xs, ys in drawing:
            pts = np.column_stack([xs, ys]) * scale + offset
            if len(pts) > 1:
                seg = np.hypot(*np.diff(pts, axis=0).T)
                arc = np.r_[0.0, np.cumsum(seg)]
                s = np.linspace(0.0, arc[-1], max(2, int(arc[-1] / 6.0)))
                pts = np.column_stack([np.interp(s, arc, pts[:, 0]), np.interp(s, arc, pts[:, 1])])
            pts = pts + rng.normal(0.0, 0.3, pts.shape)
            ts = t + np.arange(len(pts)) * 16.0
            t = ts[-1] + 300.0
            strokes.append([np.round(pts[:, 0], 3).tolist(), np.round(pts[:, 1], 3).tolist(),
                            ts.astype(int).tolist()])
        out.append(strokes)
    return out


def convert_one(path, **options):
    """Convert one file without a progress line -> (sketches, counts)."""
    return cq.convert_files([path], cq.Options(**options), progress=False)


def balanced(counts):
    """Every record read is accounted for exactly once."""
    return counts.read == (counts.converted + counts.too_long + counts.too_short
                           + counts.not_recognized + counts.bad_total)


# ------------------------------------------------------------------ formats

def test_simplified_ndjson_hand_example(tmp_path):
    path = write_ndjson(tmp_path / "full_simplified_widget.ndjson",
                        [record(HAND), record([[[7, 9], [3, 1]]])])
    sketches, counts = convert_one(path)
    assert len(sketches) == 2 and all(s.dtype == np.int16 for s in sketches)
    np.testing.assert_array_equal(sketches[0], HAND_STROKE3)
    np.testing.assert_array_equal(sketches[1], [[7, 3, 0], [2, -2, 1]])
    assert (counts.read, counts.converted, counts.bad_total) == (2, 2, 0)
    # epsilon 0 keeps the collinear point.
    kept, _ = convert_one(path, epsilon=0)
    np.testing.assert_array_equal(kept[0], [[10, 5, 0], [10, 0, 0], [10, 0, 1], [-30, -5, 0],
                                            [0, 10, 1]])


def test_raw_ndjson_is_normalised_to_255(tmp_path):
    path = write_ndjson(tmp_path / "full_raw_widget.ndjson", [record(RAW)])
    (sketch,), counts = convert_one(path)
    np.testing.assert_array_equal(sketch, RAW_STROKE3)
    absolute = np.cumsum(sketch[:, :2], axis=0)
    assert absolute.min() == 0 and absolute.max() == 255
    # never: original coordinates, rounded; the (210, 20.8) point is 123 px off the chord.
    (kept,), _ = convert_one(path, normalize="never")
    np.testing.assert_array_equal(kept, [[10, 20, 0], [200, 1, 0], [310, 399, 1], [0, 0, 0],
                                         [0, -400, 1]])


def test_simplified_input_normalised_only_when_asked(tmp_path):
    simple = record([[[10, 60], [20, 20]], [[60], [30]]])
    path = write_ndjson(tmp_path / "w.ndjson", [simple, record(RAW)])  # one batch, mixed
    (auto, raw), _ = convert_one(path)
    np.testing.assert_array_equal(auto, [[10, 20, 0], [50, 0, 1], [0, 10, 1]])
    np.testing.assert_array_equal(raw, RAW_STROKE3)
    (always, _), _ = convert_one(path, normalize="always")  # 50 px wide -> 255
    np.testing.assert_array_equal(always, [[0, 0, 0], [255, 0, 1], [0, 51, 1]])


def test_bin_round_trip_hand_example(tmp_path):
    path = write_bin(tmp_path / "widget.bin", [HAND, [[[7, 9], [3, 1]]]])
    assert os.path.getsize(path) == 2 * 17 + (2 + 6) + (2 + 4) + (2 + 4)
    sketches, counts = convert_one(path)
    np.testing.assert_array_equal(sketches[0], HAND_STROKE3)
    np.testing.assert_array_equal(sketches[1], [[7, 3, 0], [2, -2, 1]])
    assert (counts.read, counts.converted) == (2, 2)


def test_bin_and_ndjson_of_the_same_drawings_agree(tmp_path):
    drawings = simplified_drawings(30, seed=3)
    from_bin, _ = convert_one(write_bin(tmp_path / "a.bin", drawings))
    from_json, _ = convert_one(write_ndjson(tmp_path / "a.ndjson", [record(d) for d in drawings]))
    assert len(from_bin) == len(from_json) == 30
    for a, b in zip(from_bin, from_json):
        np.testing.assert_array_equal(a, b)


def test_stroke3_invariants_on_raw_drawings(tmp_path):
    drawings = raw_drawings(20, seed=1)
    path = write_ndjson(tmp_path / "r.ndjson", [record(d) for d in drawings])
    sketches, counts = convert_one(path, max_len=0)
    assert counts.converted == 20
    for drawing, sketch in zip(drawings, sketches):
        pen = sketch[:, 2]
        assert set(np.unique(pen)) <= {0, 1} and pen[-1] == 1
        assert pen.sum() == len(drawing)  # one pen lift per stroke
        absolute = np.cumsum(sketch[:, :2].astype(np.int64), axis=0)
        # On the 0-255 canvas; RDP may drop an extreme point lying within epsilon of a chord.
        assert absolute.min() >= 0 and absolute.max() <= 255 and np.ptp(absolute) >= 252
        assert len(sketch) < sum(len(s[0]) for s in drawing)  # RDP simplified the dense strokes
        ends = np.flatnonzero(pen)[:-1]
        inner = np.ones(len(sketch), bool)
        inner[0], inner[ends + 1] = False, False  # a stroke's first point may repeat the last
        assert np.all(np.any(sketch[inner, :2] != 0, axis=1))  # no repeated point in a stroke


def test_detect_format_and_category_name(tmp_path):
    json_no_ext = write_ndjson(tmp_path / "cat_a", [record(HAND)])
    bin_no_ext = write_bin(tmp_path / "cat_b", [HAND])
    assert cq.detect_format(json_no_ext) == "ndjson"
    assert cq.detect_format(bin_no_ext) == "bin"
    assert convert_one(bin_no_ext)[1].converted == 1
    assert cq.category_name("/x/full_simplified_The Great Wall of China.ndjson") == \
        "The Great Wall of China"
    assert cq.category_name("full_raw_cat.ndjson") == "cat"
    assert cq.category_name("dir/alarm clock.bin") == "alarm clock"


# ---------------------------------------------------------------------- RDP

def reference_rdp(points, eps):
    """Plain recursive RDP: split at the first farthest point; a chord of equal ends measures
    the distance to that point."""
    if len(points) < 3:
        return list(points)
    (ax, ay), (bx, by) = points[0], points[-1]
    dx, dy = bx - ax, by - ay
    norm = math.hypot(dx, dy)
    best, index = -1.0, 0
    for i in range(1, len(points) - 1):
        px, py = points[i]
        if norm > 0:
            d = abs(dx * (ay - py) - (ax - px) * dy) / norm
        else:
            d = math.hypot(px - ax, py - ay)
        if d > best:
            best, index = d, i
    if best > eps:
        return reference_rdp(points[:index + 1], eps)[:-1] + reference_rdp(points[index:], eps)
    return [points[0], points[-1]]


def test_rdp_removes_collinear_points_and_keeps_corners():
    line = np.array([[0, 0], [1, 0], [2, 0], [3, 0.5], [4, 0], [10, 0]], float)
    np.testing.assert_array_equal(cq.rdp(line, 2.0), [[0, 0], [10, 0]])
    np.testing.assert_array_equal(cq.rdp(line, 0.3), line[[0, 2, 3, 4, 5]])  # (1, 0) is on a chord
    corner = np.array([[0, 0], [5, 0], [10, 0], [10, 5], [10, 10]], float)
    np.testing.assert_array_equal(cq.rdp(corner, 2.0), [[0, 0], [10, 0], [10, 10]])
    # A point exactly epsilon away is dropped: only farther points split.
    bump = np.array([[0, 0], [5, 2], [10, 0]], float)
    np.testing.assert_array_equal(cq.rdp(bump, 2.0), bump[[0, 2]])
    np.testing.assert_array_equal(cq.rdp(bump, 1.9), bump)
    # Two farthest points tie (both 2 away): the first splits, then the second is 1.1 off.
    tie = np.array([[0, 0], [1, 2], [3, 2], [4, 0]], float)
    np.testing.assert_array_equal(cq.rdp(tie, 1.5), tie[[0, 1, 3]])
    # Closed square: first == last, the far corner decides first.
    square = np.array([[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]], float)
    np.testing.assert_array_equal(cq.rdp(square, 1.0), square)
    np.testing.assert_array_equal(cq.rdp(square, 0.0), square)
    np.testing.assert_array_equal(cq.rdp(square[:1], 2.0), square[:1])


def test_flat_rdp_equals_recursive_rdp_per_polyline():
    rng = np.random.default_rng(7)
    lengths = rng.integers(1, 60, 40)
    walks = [np.cumsum(rng.normal(0, 3, (n, 2)), axis=0) for n in lengths]
    lengths[3] = 6
    walks[3] = np.tile([[5.0, 5.0]], (6, 1))  # a stroke of one repeated point
    flat = np.concatenate(walks)
    for eps in (0.5, 2.0, 6.0):
        mask = cq.rdp_mask(flat, lengths, eps)
        kept_per = np.add.reduceat(mask.astype(int), np.cumsum(lengths) - lengths)
        got = np.split(flat[mask], np.cumsum(kept_per)[:-1])
        for walk, kept in zip(walks, got):
            expected = reference_rdp([tuple(p) for p in walk.tolist()], eps)
            np.testing.assert_array_equal(kept, np.array(expected).reshape(-1, 2))


# --------------------------------------------------------- filters and counts

def test_max_len_drops_and_counts(tmp_path):
    def zigzag(n):
        return [[[20 * (i % 2) for i in range(n)], [10 * i for i in range(n)]]]
    path = write_ndjson(tmp_path / "w.ndjson", [record(zigzag(5)), record(zigzag(12)),
                                               record(zigzag(10)), record([[[3], [4]]])])
    sketches, counts = convert_one(path, max_len=10)
    assert [len(s) for s in sketches] == [5, 10]
    assert (counts.too_long, counts.too_short, counts.converted) == (1, 1, 2) and balanced(counts)
    _, unlimited = convert_one(path, max_len=0)
    assert (unlimited.too_long, unlimited.converted) == (0, 3)


def test_recognized_only(tmp_path):
    records = [record(HAND, recognized=r) for r in (True, False, True, False, False)]
    path = write_ndjson(tmp_path / "w.ndjson", records)
    _, every = convert_one(path)
    assert (every.converted, every.not_recognized) == (5, 0)
    _, only = convert_one(path, recognized_only=True)
    assert (only.converted, only.not_recognized) == (2, 3) and balanced(only)
    bin_path = write_bin(tmp_path / "w.bin", [HAND] * 5, [True, False, True, False, False])
    _, from_bin = convert_one(bin_path, recognized_only=True)
    assert (from_bin.converted, from_bin.not_recognized) == (2, 3)


def test_bad_ndjson_records_are_counted_not_fatal(tmp_path):
    lines = [record(HAND),
             '{"word": "widget", "drawing": [[[1, 2], [3',  # cut line
             json.dumps({"word": "widget"}),
             "",  # blank lines are not records
             record([[[1, 2, 3], [4, 5]]]),
             record([[[1, 2], [3, 4]], [[], []]]),
             record([[["a", 2], [3, 4]]]),
             "[1, 2, 3]",
             record([[[1, 2], [3, 4], [5, 6], [7, 8]]]),
             record([[[1, 2]]]),
             {"word": "widget", "drawing": HAND},  # no 'recognized': fine unless recognized_only
             b"\xff\xfe{}".decode("latin1"),
             record(HAND)]
    path = write_ndjson(tmp_path / "w.ndjson", lines)
    sketches, counts = convert_one(path)
    assert len(sketches) == counts.converted == 3
    assert counts.read == 12 and counts.bad_total == 9 and balanced(counts)
    assert counts.bad["invalid JSON"] == 2
    assert counts.bad["missing key 'drawing'"] == 1
    assert counts.bad["x/y length mismatch"] == 1
    assert counts.bad["empty stroke"] == 1
    assert counts.bad["non-numeric coordinates"] == 1
    assert counts.bad["not a JSON object"] == 1
    assert counts.bad["malformed stroke"] == 2
    assert counts.bad_examples[0].endswith(":2: invalid JSON")
    _, strict = convert_one(path, recognized_only=True)
    assert strict.bad["missing key 'recognized'"] == 1 and strict.converted == 2


def test_bad_bin_records_are_counted_not_fatal(tmp_path):
    good = bin_record(HAND)
    empty_stroke = struct.pack("<Q2sBIH", 9, b"US", 1, 0, 2) + struct.pack("<H", 0) + \
        struct.pack("<H", 2) + bytes([1, 2, 3, 4])
    path = tmp_path / "w.bin"
    path.write_bytes(good + empty_stroke + good + good[:-3])  # last record truncated
    sketches, counts = convert_one(str(path))
    assert len(sketches) == 2
    assert counts.read == 4 and balanced(counts)
    assert counts.bad == {"empty stroke": 1, "truncated binary record": 1}
    path.write_bytes(good + good[:10])  # truncated inside the header
    _, counts = convert_one(str(path))
    assert (counts.converted, counts.bad["truncated binary record"]) == (1, 1)


def test_out_of_int16_range_is_bad_not_wrapped(tmp_path):
    far = record([[[0, 40000], [0, 0], [0, 1]]])
    path = write_ndjson(tmp_path / "w.ndjson", [far, record(RAW)])
    sketches, counts = convert_one(path, normalize="never")
    assert counts.bad["coordinates out of int16 range"] == 1 and len(sketches) == 1
    assert balanced(counts)


# -------------------------------------------------------------------- splits

def test_split_sizes_fractions_and_seed():
    sketches = [np.full((2, 3), i, np.int16) for i in range(100)]
    def ids(parts):
        return {k: [int(s[0, 0]) for s in v] for k, v in parts.items()}
    a = ids(cq.split_sketches(sketches, seed=1, valid=10, test=15))
    assert [len(a[k]) for k in cq.SPLITS] == [75, 10, 15]
    assert sorted(a["train"] + a["valid"] + a["test"]) == list(range(100))
    assert a == ids(cq.split_sketches(sketches, seed=1, valid=10, test=15))
    assert a != ids(cq.split_sketches(sketches, seed=2, valid=10, test=15))
    frac = ids(cq.split_sketches(sketches, seed=1, valid=0.1, test=0.05, max_train=30))
    assert [len(frac[k]) for k in cq.SPLITS] == [30, 10, 5]
    with pytest.raises(cq.ConvertError, match="only 100 drawings"):
        cq.split_sketches(sketches, valid=50, test=50)
    with pytest.raises(cq.ConvertError, match="count or a fraction"):
        cq.split_sketches(sketches, valid=2.5, test=1)


def test_cli_writes_a_file_the_loader_reads_and_is_reproducible(tmp_path, capsys):
    records = [record(d, recognized=i % 7 != 0) for i, d in enumerate(simplified_drawings(40))]
    src = write_ndjson(tmp_path / "full_simplified_The Great Wall of China.ndjson", records)
    args = [src, "--valid", "5", "--test", "0.2", "--seed", "3", "--recognized_only", "--quiet"]
    assert cq.main(args + ["--out_dir", str(tmp_path / "a")]) == 0
    out = capsys.readouterr()
    assert "converted 34" in out.err and "6 not recognized" in out.err
    assert "train=22, valid=5, test=7" in out.out
    assert cq.main(args + ["--out_dir", str(tmp_path / "b")]) == 0
    name = "The Great Wall of China.npz"
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    data = utils.load_dataset(str(tmp_path / "a"), ["The Great Wall"])
    assert [len(s.strokes) for s in (data.train, data.valid, data.test)] == [22, 5, 7]
    with np.load(tmp_path / "a" / name, allow_pickle=True, encoding="latin1") as f:
        assert all(s.dtype == np.int16 and s.shape[1] == 3 for k in cq.SPLITS for s in f[k])
    # Too few drawings for the asked splits: a one-line error, the counts, exit status 1.
    assert cq.main([src, "--out_dir", str(tmp_path / "c"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "error: only 40 drawings converted" in err and "converted 40" in err


def test_cli_needs_a_category_for_differently_named_inputs(tmp_path, capsys):
    a = write_ndjson(tmp_path / "a.ndjson", [record(HAND)] * 6)
    b = write_bin(tmp_path / "b.bin", [HAND] * 6)
    assert cq.main([a, b, "--out_dir", str(tmp_path), "--quiet"]) == 1
    assert "give --category" in capsys.readouterr().err
    assert cq.main([a, b, "--out_dir", str(tmp_path), "--category", "both", "--quiet",
                    "--valid", "2", "--test", "2"]) == 0
    with np.load(tmp_path / "both.npz", allow_pickle=True) as f:
        assert [len(f[k]) for k in cq.SPLITS] == [8, 2, 2]


def test_an_existing_output_is_replaced_only_with_overwrite(tmp_path, capsys):
    src = write_ndjson(tmp_path / "full_simplified_cat.ndjson", [record(HAND)] * 8)
    out = tmp_path / "data"
    out.mkdir()
    (out / "cat.npz").write_bytes(b"the user's own cat.npz")
    args = [src, "--out_dir", str(out), "--valid", "2", "--test", "2", "--quiet"]
    assert cq.main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {out / 'cat.npz'}: exists; not replaced (pass --overwrite to replace it)"]
    assert (out / "cat.npz").read_bytes() == b"the user's own cat.npz"
    # Also through a link: replaced, the file it points to untouched.
    os.remove(out / "cat.npz")
    (tmp_path / "elsewhere.npz").write_bytes(b"linked")
    os.symlink(tmp_path / "elsewhere.npz", out / "cat.npz")
    assert cq.main(args) == 1
    assert cq.main(args + ["--overwrite"]) == 0
    assert (tmp_path / "elsewhere.npz").read_bytes() == b"linked" and not os.path.islink(out / "cat.npz")
    assert len(utils.load_dataset(str(out), ["cat"]).test.labels) == 2


@pytest.mark.parametrize("category", ["../escaped", "a/b", "..", ".hidden", "", "a\\b"])
def test_a_category_that_is_not_a_plain_file_name_is_refused(tmp_path, capsys, category):
    src = write_ndjson(tmp_path / "full_simplified_cat.ndjson", [record(HAND)] * 8)
    out = tmp_path / "deep" / "data"
    assert cq.main([src, "--out_dir", str(out), "--category", category, "--valid", "2", "--test", "2",
                    "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: bad category name {category!r}: the output must be a file directly inside "
                   "--out_dir (no path separators, not starting with '.')"]
    assert sorted(os.listdir(tmp_path)) == ["full_simplified_cat.ndjson"]  # nothing written anywhere


def test_progress_line_reports_bytes_and_rate():
    stream = io.StringIO()
    bar = cq.Progress(2_000_000, stream=stream)
    bar.update(500_000, 1234, force=True)
    bar.close()
    line = stream.getvalue()
    assert "25.0%" in line and "0.5/2.0 MB" in line and "1,234 drawings" in line
    assert "drawings/s" in line
    silent = io.StringIO()
    cq.Progress(10, enabled=False, stream=silent).update(5, 1, force=True)
    assert silent.getvalue() == ""


def test_two_training_steps_on_a_converted_file(tmp_path):
    import train

    records = [record(d) for d in simplified_drawings(60, seed=5)]
    src = write_ndjson(tmp_path / "full_simplified_widget.ndjson", records)
    data_dir = str(tmp_path / "data")
    assert cq.main([src, "--out_dir", data_dir, "--valid", "10", "--test", "10", "--quiet"]) == 0
    history = train.run("enc_rnn_size=8,dec_rnn_size=16,z_size=8,hyper_num_units=16,"
                        "hyper_embedding_size=4,batch_size=10,num_steps=2,save_every=1,"
                        "categories=[widget]", data_dir, str(tmp_path / "run"), False, False,
                        verbose=0)
    assert history["step"] == 2 and np.isfinite(history["best_valid"])


# -------------------------------------------------------------- measurement

def _bench(n: int) -> None:
    """Time the command line on generated n-drawing simplified and raw ndjson files."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for kind, make in (("simplified", simplified_drawings), ("raw", raw_drawings)):
            path = write_ndjson(os.path.join(tmp, f"full_{kind}_bench.ndjson"),
                                [record(d, key_id=i) for i, d in enumerate(make(n, seed=11))])
            cmd = [sys.executable, os.path.join(REPO, "tools", "convert_quickdraw.py"), path,
                   "--out_dir", os.path.join(tmp, kind), "--quiet"]
            start = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - start
            print(f"{kind}: {n} drawings, {os.path.getsize(path) / 1e6:.1f} MB, "
                  f"{wall:.2f} s wall (process incl. imports)\n  " +
                  done.stderr.strip().replace("\n", "\n  ") + "\n  " + done.stdout.strip())


if __name__ == "__main__":
    _bench(int(sys.argv[sys.argv.index("--bench") + 1]) if "--bench" in sys.argv else 10000)
