"""Sketch data: loading the checked splits, conversions, caps, normalisation, augmentation, disruption.

METHOD.md §1 (data, augmentation), §2 (stroke-3 and 5-D sequences), §3
(disruption) and §4's caps. Numpy only. Batches work on a *flat* layout: the
points of many sketches concatenated into one `[N, 3]` array plus a `lengths`
vector, so that every per-sketch or per-stroke operation is one vectorised
numpy call (`np.*.reduceat`, `np.repeat`, `np.cumsum`) instead of a Python loop.
Reading and checking an .npz file is `safe_npz`'s job; the layout of graph
nodes and the batches are `graph_builder`'s.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from typing import Sequence

import numpy as np

from safe_npz import SPLITS, DataError, DataWarning, check_split, read_splits

log = logging.getLogger(__name__)

CANVAS = 48.0  # side of the pixel canvas the augmentation shift keeps sketches on
# QuickDraw names the file differently from the category of the paper.
FILE_ALIASES = {"The Great Wall": ("The Great Wall of China",)}
# Longest sketch (points) kept when max_seq_len is computed from the data. sketch-rnn's files stop
# at 250 points; one stray sketch of 20000 would set max_seq_len and the decoder's length to it.
MAX_SKETCH_POINTS = 1000



@dataclasses.dataclass
class Split:
    """One split of all categories: stroke-3 sketches (normalised) and labels."""

    name: str
    strokes: list
    labels: np.ndarray


@dataclasses.dataclass
class Dataset:
    """The loaded data set and the statistics the model must keep."""

    categories: list
    train: Split
    valid: Split
    test: Split
    scale_factor: float
    max_seq_len: int
    max_strokes_num: int
    max_stroke_len: int
    cut_sketches: dict = dataclasses.field(default_factory=dict)  # split -> sketches over the node cap

    @property
    def node_points(self) -> int:
        """Most points a graph node holds (max_stroke_len + 1)."""
        return self.max_stroke_len + 1


# ---------------------------------------------------------------- conversions

def to_absolute(strokes: np.ndarray) -> np.ndarray:
    """Stroke-3 deltas -> absolute (x, y, pen_lifted) points."""
    strokes = np.asarray(strokes)
    out = np.array(strokes, dtype=np.result_type(strokes.dtype, np.float32))
    out[:, :2] = np.cumsum(strokes[:, :2], axis=0, dtype=np.float64)
    return out


def to_stroke3(points: np.ndarray) -> np.ndarray:
    """Absolute (x, y, pen_lifted) points -> stroke-3 deltas (inverse of to_absolute)."""
    points = np.asarray(points)
    out = np.array(points, dtype=np.result_type(points.dtype, np.float32))
    out[:, :2] = np.diff(points[:, :2].astype(np.float64), axis=0, prepend=0.0)
    return out


def to_five(points: np.ndarray, max_seq_len: int) -> np.ndarray:
    """Absolute points [N,3] -> 5-D sequence [max_seq_len+1, 5] with S0 prepended (METHOD.md §2)."""
    n = len(points)
    if n > max_seq_len:
        raise ValueError(f"sketch of {n} points is longer than max_seq_len={max_seq_len}")
    seq = np.zeros((max_seq_len + 1, 5), np.float32)
    seq[0, 2] = 1.0
    pen = np.asarray(points)[:, 2] > 0.5
    seq[1:n + 1, :2] = np.asarray(points)[:, :2]
    seq[1:n + 1, 2] = ~pen
    seq[1:n + 1, 3] = pen
    seq[n + 1:, 4] = 1.0
    return seq


def load_five(path: str) -> np.ndarray:
    """A generated absolute 5-D sequence [T, 5] saved as .npy; DataError when unreadable or misshapen."""
    try:
        seq = np.load(path)
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: unreadable ({err})") from None
    if seq.ndim != 2 or seq.shape[1] != 5:
        raise DataError(f"{path}: expected an absolute 5-D sequence [T, 5], got shape {seq.shape}")
    return seq


def five_to_points(seq: np.ndarray) -> np.ndarray:
    """Absolute 5-D rows -> absolute (x, y, pen_lifted), cut before the first end-of-sketch row.

    The pen state of a row is its largest pen entry, so soft (non one-hot)
    decoder outputs are read the same way as one-hot ones.
    """
    seq = np.asarray(seq, np.float32)
    state = np.argmax(seq[:, 2:5], axis=1)
    ends = np.flatnonzero(state == 2)
    n = int(ends[0]) if len(ends) else len(seq)
    out = np.zeros((n, 3), np.float32)
    out[:, :2] = seq[:n, :2]
    out[:, 2] = state[:n] == 1
    return out


# ------------------------------------------------------------- flat helpers

def flatten(strokes: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """List of [n_i, 3] arrays -> (concatenated [N, 3] float32, lengths int64 [B])."""
    lengths = np.fromiter((len(s) for s in strokes), dtype=np.int64, count=len(strokes))
    if not len(strokes):
        return np.zeros((0, 3), np.float32), lengths
    return np.concatenate(strokes).astype(np.float32, copy=False), lengths


def offsets(lengths: np.ndarray) -> np.ndarray:
    """Index of the first point of every sketch in the flat layout."""
    out = np.zeros(len(lengths), np.int64)
    np.cumsum(lengths[:-1], out=out[1:])
    return out


def run_starts(pen: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Boolean [N]: True where a pen stroke starts (sketch start or after a pen lift)."""
    flag = np.empty(len(pen), bool)
    flag[0:1] = True
    flag[1:] = pen[:-1]
    flag[offsets(lengths)] = True
    return flag


def position_in_run(start_flag: np.ndarray) -> np.ndarray:
    """Index of every point inside its run, runs starting where start_flag is True."""
    idx = np.arange(len(start_flag))
    return idx - np.maximum.accumulate(np.where(start_flag, idx, 0))


def absolute_flat(deltas: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Flat stroke-3 (dx, dy) [N, 2] -> absolute float64 positions, restarting per sketch."""
    total = np.cumsum(deltas, axis=0, dtype=np.float64)
    first = offsets(lengths)
    base = total[first] - deltas[first]
    return total - np.repeat(base, lengths, axis=0)



def node_starts(pen: np.ndarray, lengths: np.ndarray, max_points: int) -> np.ndarray:
    """Boolean [N]: True where a graph node starts: a pen stroke's start, then every max_points points."""
    return position_in_run(run_starts(pen, lengths)) % max_points == 0


def node_counts(pen: np.ndarray, lengths: np.ndarray, max_points: int) -> np.ndarray:
    """Graph nodes of every flat sketch (METHOD.md §4; their layout is graph_builder.piece_layout)."""
    if max_points < 1:
        raise ValueError(f"a node needs room for at least 1 point, got max_points={max_points}")
    if len(pen) == 0:
        return np.zeros(len(lengths), np.int64)
    if np.any(lengths < 1):
        raise ValueError("every sketch needs at least one point")
    return np.add.reduceat(node_starts(pen, lengths, max_points).astype(np.int64), offsets(lengths))


def stroke_lengths(pen: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Points of every pen stroke of flat sketches, in order (a trailing run counts as a stroke)."""
    if len(pen) == 0:
        return np.zeros(0, np.int64)
    start = np.flatnonzero(run_starts(pen, lengths))
    return np.diff(start, append=len(pen))


def strokes_per_sketch(pen: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Number of pen strokes of every flat sketch."""
    if len(pen) == 0:
        return np.zeros(len(lengths), np.int64)
    return np.add.reduceat(run_starts(pen, lengths).astype(np.int64), offsets(lengths))


def percentile_999(values: np.ndarray) -> int:
    """The original's cap: element int(0.999 * n) of the sorted values (METHOD.md §4)."""
    values = np.sort(np.asarray(values))
    if not len(values):
        raise ValueError("no values to take a percentile of")
    return int(values[int(0.999 * len(values))])


# ------------------------------------------------------------------ loading

def _category_file(data_dir: str, category: str) -> str:
    """Path of a category's .npz; DataError listing the existing files if none."""
    for name in (category,) + FILE_ALIASES.get(category, ()):
        path = os.path.join(data_dir, name + ".npz")
        if os.path.isfile(path):
            return path
        if os.path.exists(path):  # a folder, a FIFO, a device: reading it would fail or block
            raise DataError(f"{path}: not a regular file ({_file_kind(path)}); category '{category}' "
                            "needs a .npz file")
    try:
        present = sorted(f for f in os.listdir(data_dir) if f.endswith(".npz"))
    except OSError:
        raise DataError(f"{data_dir}: data directory not found (category '{category}')") from None
    raise DataError(f"{os.path.join(data_dir, category + '.npz')}: file not found; "
                    f".npz files in {data_dir}: {', '.join(present) or 'none'}")


def _file_kind(path: str) -> str:
    """'a folder', 'a FIFO', ... for messages about a path that is not a regular file."""
    import stat

    mode = os.stat(path).st_mode
    for test, kind in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return kind
    return "not a file"


def _filter(where: str, flat: np.ndarray, lengths: np.ndarray,
            max_seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Drop too short and too long sketches (over max_seq_len, or MAX_SKETCH_POINTS when it is computed),
    with counted warnings."""
    short = lengths < 2
    long = lengths > (max_seq_len or MAX_SKETCH_POINTS)
    too_long = (f"more than max_seq_len={max_seq_len} points" if max_seq_len else
                f"more than {MAX_SKETCH_POINTS} points (the limit when max_seq_len is computed; "
                "set max_seq_len to keep longer ones)")
    for bad, reason in ((short, "fewer than 2 points"), (long, too_long)):
        if bad.any():
            dropped = np.flatnonzero(bad)
            shown = ", ".join(map(str, dropped[:10])) + (", ..." if len(dropped) > 10 else "")
            warnings.warn(f"{where}: dropped {len(dropped)} sketches with {reason} "
                          f"(sketches {shown})", DataWarning, stacklevel=3)
    keep = ~(short | long)
    if keep.all():
        return flat, lengths
    return flat[np.repeat(keep, lengths)], lengths[keep]


def load_dataset(data_dir: str, categories: list, num_per_category: int = 70000,
                 max_seq_len: int = -1, max_strokes_num: int = -1,
                 max_stroke_len: int = -1) -> Dataset:
    """Load, check, filter and normalise the `<category>.npz` files (METHOD.md §1 and §4).

    A value <= 0 for max_seq_len or max_strokes_num, and -1 for max_stroke_len,
    means "computed from the loaded data" (train + valid + test), as the original does.
    """
    if isinstance(categories, str):
        categories = [categories]
    if not categories:
        raise DataError(f"{data_dir}: no categories given")
    if max_stroke_len == 0 or max_stroke_len < -1:
        raise DataError(f"max_stroke_len must be -1 (computed) or >= 1, got {max_stroke_len}")
    parts = {s: [] for s in SPLITS}  # split -> [(flat, lengths, label)]
    for label, category in enumerate(categories):
        path = _category_file(data_dir, category)
        for split, arr in read_splits(path, num_per_category).items():
            where = f"{path}, split '{split}'"
            flat, lengths = check_split(path, split, arr)
            flat, lengths = _filter(where, flat, lengths, max(max_seq_len, 0))
            parts[split].append((flat, lengths, label))
    merged = {s: _merge(parts[s]) for s in SPLITS}
    _refuse_empty_splits(data_dir, categories, merged)
    caps, nodes = data_caps(merged, max_seq_len, max_stroke_len, max_strokes_num)
    scale_factor = _scale_factor(data_dir, merged["train"][0])
    splits = {}
    for s in SPLITS:
        flat, lengths, labels = merged[s]
        flat[:, :2] /= scale_factor
        strokes = np.split(flat, np.cumsum(lengths)[:-1]) if len(lengths) else []
        splits[s] = Split(s, strokes, labels)
    cut = _cut_counts(merged, nodes, caps["max_strokes_num"])
    return Dataset(list(categories), splits["train"], splits["valid"], splits["test"],
                   scale_factor, cut_sketches=cut, **caps)


def data_caps(merged: dict, max_seq_len: int, max_stroke_len: int,
              max_strokes_num: int) -> tuple[dict, np.ndarray]:
    """The caps, each computed unless given, and the nodes of every sketch (METHOD.md §1, §4).

    Returns ({max_seq_len, max_stroke_len, max_strokes_num}, node counts of the
    sketches of all splits in SPLITS order, nodes of max_stroke_len + 1 points).
    `merged` maps a split to (flat points, lengths, ...). The node cap counts pen
    strokes, as the original does, when max_stroke_len is computed; with an explicit
    max_stroke_len (e.g. 5, the 6-point pieces) it counts nodes, so that long
    sketches do not lose their last pieces (a documented difference).
    """
    pen = np.concatenate([merged[s][0][:, 2] > 0.5 for s in SPLITS])
    lengths = np.concatenate([merged[s][1] for s in SPLITS])
    if max_seq_len <= 0:
        max_seq_len = int(lengths.max())
    computed_nodes = max_stroke_len == -1
    if computed_nodes:
        max_stroke_len = percentile_999(stroke_lengths(pen, lengths))
    nodes = node_counts(pen, lengths, max_stroke_len + 1)
    if max_strokes_num <= 0:
        max_strokes_num = percentile_999(strokes_per_sketch(pen, lengths) if computed_nodes else nodes)
    return {"max_seq_len": int(max_seq_len), "max_stroke_len": int(max_stroke_len),
            "max_strokes_num": int(max_strokes_num)}, nodes


def _refuse_empty_splits(data_dir: str, categories: list, merged: dict) -> None:
    """DataError naming the split and its files when a split holds no usable sketch at all.

    Training needs at least one sketch of each split: an empty validation or test
    split would give no loss to select or report checkpoints with.
    """
    for split in SPLITS:
        if not len(merged[split][1]):
            files = ", ".join(_category_file(data_dir, c) for c in categories)
            raise DataError(f"{files}, split '{split}': no usable sketches (empty, or every sketch "
                            f"dropped as too short or too long) for {categories}")


def _merge(parts: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate the per-category (flat, lengths, label) parts of one split."""
    flat = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, 3), np.float32)
    lengths = np.concatenate([p[1] for p in parts]).astype(np.int64)
    labels = np.concatenate([np.full(len(p[1]), p[2], np.int32) for p in parts])
    return flat, lengths, labels


def _scale_factor(data_dir: str, train_flat: np.ndarray) -> float:
    """Std of all dx and dy of the training split (one scalar)."""
    scale = float(np.std(train_flat[:, :2].astype(np.float64)))
    if not np.isfinite(scale) or scale <= 0:
        raise DataError(f"{data_dir}, split 'train': all offsets are equal, cannot normalise")
    return scale


def _cut_counts(merged: dict, nodes: np.ndarray, cap: int) -> dict:
    """Sketches per split with more nodes than the cap (they lose their last nodes); logged."""
    per_split = np.split(nodes, np.cumsum([len(merged[s][1]) for s in SPLITS])[:-1])
    cut = {s: int(np.sum(n > cap)) for s, n in zip(SPLITS, per_split)}
    if any(cut.values()):
        log.warning("node cap %d nodes: %s sketches have more nodes and lose their last ones",
                    cap, ", ".join(f"{n} {s}" for s, n in cut.items()))
    return cut


# ------------------------------------------------------------- augmentation

def augment_flat(flat: np.ndarray, lengths: np.ndarray, rng: np.random.Generator,
                 random_scale_factor: float, augment_stroke_prob: float,
                 scale_factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Training augmentation (METHOD.md §1) of flat stroke-3 sketches; returns (flat, lengths)."""
    out = np.array(flat, np.float32)
    lengths = np.asarray(lengths, np.int64)
    if augment_stroke_prob <= 0:  # the original augments only when this is set, scaling included
        return out, lengths
    if random_scale_factor > 0:
        scale = 1.0 + rng.uniform(-random_scale_factor, random_scale_factor, (len(lengths), 2))
        out[:, :2] *= np.repeat(scale, lengths, axis=0)
    out, lengths = _drop_points(out, lengths, rng, augment_stroke_prob)
    _shift(out, lengths, rng, scale_factor)
    return out, lengths


def _drop_points(flat: np.ndarray, lengths: np.ndarray, rng: np.random.Generator,
                 prob: float) -> tuple[np.ndarray, np.ndarray]:
    """sketch-rnn point dropping: merge a point into the next, keeping absolute positions."""
    pen = flat[:, 2] > 0.5
    last = np.zeros(len(flat), bool)
    last[np.cumsum(lengths) - 1] = True  # a sketch's last point is an end point pen or not
    droppable = (position_in_run(run_starts(pen, lengths)) >= 3) & ~pen & ~last
    drop = droppable & (rng.random(len(flat)) < prob)
    if not drop.any():
        return flat, lengths
    # Merging a delta into the next point = deleting the point's absolute position.
    keep = ~drop
    total = np.cumsum(flat[:, :2], axis=0, dtype=np.float64)[keep]
    out = flat[keep]
    out[:, :2] = np.diff(total, axis=0, prepend=np.zeros((1, 2)))
    sketch = np.repeat(np.arange(len(lengths)), lengths)
    return out, lengths - np.bincount(sketch[drop], minlength=len(lengths))


def _shift(flat: np.ndarray, lengths: np.ndarray, rng: np.random.Generator,
           scale_factor: float) -> None:
    """Random offset keeping each sketch on the 48-unit canvas, added to its first point."""
    pixels = absolute_flat(flat[:, :2], lengths) * scale_factor + CANVAS / 2
    first = offsets(lengths)
    origin = CANVAS / 2  # the original's bounds start at the origin, so they always hold it
    low = -0.8 * np.minimum(np.minimum.reduceat(pixels, first, axis=0), origin)
    high = 0.8 * (CANVAS - np.maximum(np.maximum.reduceat(pixels, first, axis=0), origin))
    # low + (high-low)*U stays defined when a sketch is wider than the canvas (high < low).
    offset = low + (high - low) * rng.random((len(lengths), 2))
    flat[first, :2] += (offset / scale_factor).astype(np.float32)


def augment(strokes: np.ndarray, rng: np.random.Generator, random_scale_factor: float,
            augment_stroke_prob: float, scale_factor: float) -> np.ndarray:
    """Augment one stroke-3 sketch for training (METHOD.md §1)."""
    flat, _ = augment_flat(np.asarray(strokes, np.float32), np.array([len(strokes)]), rng,
                           random_scale_factor, augment_stroke_prob, scale_factor)
    return flat


# --------------------------------------------------------------- disruption

def disrupt_flat(points: np.ndarray, pen: np.ndarray, lengths: np.ndarray, re_scale: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Move every stroke but each sketch's first by N(0,1)*bound*re_scale (METHOD.md §3).

    points: flat absolute (x, y) [N, 2]; pen: bool [N]. Returns moved (x, y).
    """
    if re_scale <= 0 or len(points) == 0:
        return points
    first = offsets(lengths)
    low = np.minimum(np.minimum.reduceat(points, first, axis=0), 0.0)  # origin included
    high = np.maximum(np.maximum.reduceat(points, first, axis=0), 0.0)
    bound = (high - low).max(axis=1)
    start = run_starts(pen, lengths)
    stroke_of_point = np.cumsum(start) - 1
    stroke_start = np.flatnonzero(start)
    sketch_of_stroke = np.repeat(np.arange(len(lengths)), lengths)[stroke_start]
    move = rng.standard_normal((len(stroke_start), 2)) * (bound * re_scale)[sketch_of_stroke, None]
    move[stroke_of_point[first]] = 0.0
    return (points + move[stroke_of_point]).astype(points.dtype, copy=False)


def disrupt(points_abs: np.ndarray, re_scale: float, rng: np.random.Generator) -> np.ndarray:
    """Disrupt one absolute sketch [N,3]: strokes after the first moved as wholes (METHOD.md §3)."""
    points_abs = np.asarray(points_abs)
    out = np.array(points_abs, np.float32)
    if len(out):
        out[:, :2] = disrupt_flat(out[:, :2], out[:, 2] > 0.5, np.array([len(out)]), re_scale, rng)
    return out
