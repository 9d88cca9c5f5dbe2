"""Sketch data: loading sketch-rnn .npz files, conversions, augmentation, disruption, batches.

Numpy only. Batches work on a *flat* layout: the points of many sketches
concatenated into one `[N, 3]` array plus a `lengths` vector, so that every
per-sketch or per-stroke operation is one vectorised numpy call
(`np.*.reduceat`, `np.repeat`, `np.cumsum`) instead of a Python loop.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import pickle
import warnings
import zipfile
from typing import IO, Sequence

import numpy as np

from errors import UserError

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
CLIP = 1000.0
CANVAS = 48.0  # side of the pixel canvas the augmentation shift keeps sketches on
# QuickDraw names the file differently from the category of the paper.
FILE_ALIASES = {"The Great Wall": ("The Great Wall of China",)}


class DataError(UserError):
    """Bad input data; the message is one line naming file, split, sketch and problem."""


class DataWarning(UserWarning):
    """Sketches dropped (too short, or longer than max_seq_len) or offsets clipped while loading."""


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


def piece_layout(pen: np.ndarray, lengths: np.ndarray, max_points: int) -> dict:
    """Cut flat points into graph nodes (METHOD.md §4); index arrays describing them.

    A node ends at a pen lift or when it holds `max_points` (= max_stroke_len + 1)
    points, so inside a pen stroke the node of a point is its position in the
    stroke // max_points. Returns: piece_of_point (global node id), pos_in_piece,
    piece_start (index of every node's first point), index_in_sketch (of every
    point's node), counts (nodes per sketch).
    """
    if max_points < 1:
        raise ValueError(f"a node needs room for at least 1 point, got max_points={max_points}")
    if len(pen) == 0:
        empty = np.zeros(0, np.int64)
        return dict(piece_of_point=empty, pos_in_piece=empty, piece_start=empty,
                    index_in_sketch=empty, counts=np.zeros(len(lengths), np.int64))
    if np.any(lengths < 1):
        raise ValueError("every sketch needs at least one point")
    new_piece = position_in_run(run_starts(pen, lengths)) % max_points == 0
    piece_of_point = np.cumsum(new_piece) - 1
    piece_start = np.flatnonzero(new_piece)
    first = offsets(lengths)
    first_piece = piece_of_point[first]
    return dict(
        piece_of_point=piece_of_point,
        pos_in_piece=np.arange(len(pen)) - piece_start[piece_of_point],
        piece_start=piece_start,
        index_in_sketch=piece_of_point - np.repeat(first_piece, lengths),
        counts=np.add.reduceat(new_piece.astype(np.int64), first),
    )


def pieces_per_sketch(strokes: Sequence[np.ndarray], max_points: int) -> np.ndarray:
    """Number of graph nodes of every sketch."""
    flat, lengths = flatten(strokes)
    return piece_layout(flat[:, 2] > 0.5, lengths, max_points)["counts"]


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
    try:
        present = sorted(f for f in os.listdir(data_dir) if f.endswith(".npz"))
    except OSError:
        raise DataError(f"{data_dir}: data directory not found (category '{category}')") from None
    raise DataError(f"{os.path.join(data_dir, category + '.npz')}: file not found; "
                    f".npz files in {data_dir}: {', '.join(present) or 'none'}")


def _read_splits(path: str, limit: int) -> dict:
    """The three split arrays of one .npz file, each cut to `limit` sketches."""
    with _open_npz(path) as archive:
        members = _npy_members(archive)
        out = {}
        for split in SPLITS:
            if split not in members:
                raise DataError(f"{path}, split '{split}': key missing "
                                f"(keys present: {', '.join(sorted(members)) or 'none'})")
            out[split] = _read_member(archive, members[split], f"{path}, split '{split}'")[:limit]
    return out


def check_file(path: str) -> int:
    """Usable sketches of an .npz file that passes the loader's checks (read safely); DataError otherwise."""
    splits = _read_splits(path, None)
    return sum(len(_check_split(path, name, arr)[1]) for name, arr in splits.items())


# Safe .npz reading. np.load(allow_pickle=True) runs whatever a crafted pickle asks
# for; the sketch-rnn format needs pickled object arrays, so the archive is read
# here with an unpickler that can only rebuild plain numpy arrays.
MAX_NPY_HEADER = 10000  # bytes; numpy's own default limit for .npy headers


class _SketchArray(np.ndarray):
    """ndarray whose pickled state is checked before numpy allocates memory for it."""

    def __setstate__(self, state: object) -> None:
        _check_array_state(state)
        super().__setstate__(state)


def _check_array_state(state: object) -> None:
    """Refuse an ndarray state whose shape does not match the data it carries."""
    if not isinstance(state, tuple) or len(state) not in (4, 5):
        raise pickle.UnpicklingError("malformed array state")
    shape, dtype, data = state[-4], state[-3], state[-1]
    if not isinstance(dtype, np.dtype):
        raise pickle.UnpicklingError("malformed array dtype")
    count = _count(shape)
    if dtype == np.dtype(object):
        ok = isinstance(data, list) and len(data) == count
    else:
        ok = (not dtype.hasobject and isinstance(data, (bytes, bytearray, str))
              and len(data) == count * dtype.itemsize)
    if not ok:
        raise pickle.UnpicklingError(f"array data does not match its shape {shape}")


def _count(shape: object) -> int:
    """Number of elements of a pickled shape; UnpicklingError unless a tuple of ints >= 0."""
    if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
        raise pickle.UnpicklingError(f"malformed array shape {shape!r}")
    return math.prod(shape)


def _reconstruct(subtype: type, shape: object, dtype: object) -> np.ndarray:
    """numpy's pickle constructor, limited to the empty placeholder numpy itself pickles."""
    if subtype is not _SketchArray or _count(shape) > 1:
        raise pickle.UnpicklingError("unexpected array constructor arguments")
    return _numpy_reconstruct(_SketchArray, shape, dtype)


try:
    from numpy._core.multiarray import _reconstruct as _numpy_reconstruct
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct as _numpy_reconstruct
# The only globals a pickled numpy array refers to (numpy 1.x writes numpy.core, 2.x numpy._core).
_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): _SketchArray,
    ("numpy", "dtype"): np.dtype,
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays and plain Python values, and nothing else."""

    def find_class(self, module: str, name: str) -> object:
        """Only the numpy array constructors; anything else is refused before it is imported."""
        try:
            return _PICKLE_GLOBALS[(module, name)]
        except KeyError:
            raise DataError(f"pickle refers to {module}.{name}, which is not allowed "
                            "in a sketch file (refused without running it)") from None


def _plain(arr: np.ndarray) -> np.ndarray:
    """The unpickled array and its elements as plain ndarrays (not _SketchArray)."""
    arr = arr.view(np.ndarray)
    if arr.dtype == object:
        flat = arr.reshape(-1)  # a view: an unpickled array is contiguous
        for i, item in enumerate(flat):
            if isinstance(item, np.ndarray):
                flat[i] = item.view(np.ndarray)
    return arr


def _open_npz(path: str) -> zipfile.ZipFile:
    """The .npz file as a zip archive; DataError when it is not one."""
    try:
        return zipfile.ZipFile(path)
    except Exception as err:  # BadZipFile, OSError, ValueError, ... for a non-zip file
        raise DataError(f"{path}: not an .npz archive ({type(err).__name__}: "
                        f"{str(err).splitlines()[0] if str(err) else ''})") from None


def _npy_members(archive: zipfile.ZipFile) -> dict:
    """{key: member name} of the .npy members (np.load's keys: the name without .npy)."""
    names = archive.namelist()
    return {name[:-4] if name.endswith(".npy") else name: name for name in names}


def _read_member(archive: zipfile.ZipFile, name: str, where: str) -> np.ndarray:
    """One .npy member of an archive, object arrays unpickled safely; DataError when damaged."""
    try:
        with archive.open(name) as f:
            return _read_npy(f, archive.getinfo(name).file_size)
    except DataError as err:
        raise DataError(f"{where}: {err}") from None
    except Exception as err:  # a damaged member: zip, zlib, header or pickle errors
        detail = str(err).splitlines()[0][:200] if str(err) else ""
        detail = f": {detail}" if detail else ""
        raise DataError(f"{where}: unreadable ({type(err).__name__}{detail})") from None


def _read_npy(f: IO[bytes], size: int) -> np.ndarray:
    """Array of an open .npy stream of `size` bytes (header parsed by numpy, data checked here)."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=MAX_NPY_HEADER)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=MAX_NPY_HEADER)
    else:
        raise DataError(f"unsupported .npy format version {version}")
    count = math.prod(shape)
    if dtype.hasobject:
        arr = _ArrayUnpickler(f, encoding="latin1").load()
        if not isinstance(arr, np.ndarray) or arr.shape != tuple(shape):
            raise DataError(f"pickled data is not the {tuple(shape)} array its header announces")
        return _plain(arr)
    if count * dtype.itemsize > size:
        raise DataError(f"header announces {count} {dtype} values, more than the member holds")
    data = f.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise DataError("truncated array data")
    return np.frombuffer(data, dtype, count).reshape(shape, order="F" if fortran else "C")


def read_npz(path: str) -> dict:
    """{key: array} of every member of an .npz file, read without running any pickled code."""
    with _open_npz(path) as archive:
        return {key: _read_member(archive, name, f"{path}, key '{key}'")
                for key, name in _npy_members(archive).items()}


def _describe(obj: object) -> str:
    """Short description of a bad sketch object for an error message."""
    if isinstance(obj, np.ndarray):
        return f"{obj.dtype} array of shape {obj.shape}"
    return type(obj).__name__


def _check_split(path: str, split: str, arr: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate a split array; returns (flat float32 clipped points, lengths)."""
    where = f"{path}, split '{split}'"
    if not (isinstance(arr, np.ndarray) and arr.ndim == 1 and arr.dtype == object):
        raise DataError(f"{where}: expected a 1-D object array of [N,3] sketches, got {_describe(arr)}")
    sketches = []
    for i, sketch in enumerate(arr):
        if not isinstance(sketch, np.ndarray):
            try:
                sketch = np.asarray(sketch)
            except Exception:
                sketch = None
        if (sketch is None or sketch.ndim != 2 or sketch.shape[1] != 3
                or sketch.dtype.kind not in "biuf"):
            raise DataError(f"{where}, sketch {i}: expected a numeric [N,3] array, "
                            f"got {_describe(arr[i])}")
        if len(sketch) == 0:
            raise DataError(f"{where}, sketch {i}: empty sketch (0 points)")
        sketches.append(sketch)
    lengths = np.fromiter((len(s) for s in sketches), dtype=np.int64, count=len(sketches))
    flat = np.concatenate(sketches) if sketches else np.zeros((0, 3))
    _check_values(where, flat, lengths)
    _warn_clipped(where, flat, lengths)
    return np.clip(flat, -CLIP, CLIP).astype(np.float32), lengths


def _warn_clipped(where: str, flat: np.ndarray, lengths: np.ndarray) -> None:
    """DataWarning counting the offsets beyond +-CLIP (clipped as the original does, but not silently)."""
    outside = np.abs(flat[:, :2]) > CLIP
    if not outside.any():
        return
    sketch = np.repeat(np.arange(len(lengths)), lengths)[outside.any(axis=1)]
    hit = np.unique(sketch)
    shown = ", ".join(map(str, hit[:10])) + (", ..." if len(hit) > 10 else "")
    sketches = f"{len(hit)} sketch" + ("es" if len(hit) != 1 else "")
    warnings.warn(f"{where}: clipped {int(outside.sum())} offsets in {sketches} to "
                  f"+-{CLIP:g} (largest {float(np.abs(flat[:, :2]).max()):g}; sketches {shown})",
                  DataWarning, stacklevel=4)


def _check_values(where: str, flat: np.ndarray, lengths: np.ndarray) -> None:
    """DataError naming the first sketch with a non-finite value or a bad pen state."""
    bad_value = ~np.isfinite(flat).all(axis=1)
    bad_pen = (flat[:, 2] != 0) & (flat[:, 2] != 1)
    for bad, problem in ((bad_value, "non-finite value"), (bad_pen, "pen_lifted not 0 or 1")):
        if bad.any():
            row = int(np.argmax(bad))
            i = int(np.searchsorted(np.cumsum(lengths), row, side="right"))
            point = row - int(offsets(lengths)[i])
            raise DataError(f"{where}, sketch {i}: {problem} at point {point}: {flat[row].tolist()}")


def _filter(where: str, flat: np.ndarray, lengths: np.ndarray,
            max_seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Drop too short (and too long, for an explicit max_seq_len) sketches, with counted warnings."""
    short = lengths < 2
    long = (lengths > max_seq_len) if max_seq_len else np.zeros(len(lengths), bool)
    for bad, reason in ((short, "fewer than 2 points"),
                        (long, f"more than max_seq_len={max_seq_len} points")):
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
        for split, arr in _read_splits(path, num_per_category).items():
            where = f"{path}, split '{split}'"
            flat, lengths = _check_split(path, split, arr)
            flat, lengths = _filter(where, flat, lengths, max(max_seq_len, 0))
            parts[split].append((flat, lengths, label))
    merged = {s: _merge(parts[s]) for s in SPLITS}
    _refuse_empty_splits(data_dir, categories, merged)
    caps = data_caps(merged, max_seq_len, max_stroke_len, max_strokes_num)
    scale_factor = _scale_factor(data_dir, merged["train"][0])
    splits = {}
    for s in SPLITS:
        flat, lengths, labels = merged[s]
        flat[:, :2] /= scale_factor
        strokes = np.split(flat, np.cumsum(lengths)[:-1]) if len(lengths) else []
        splits[s] = Split(s, strokes, labels)
    cut = _cut_counts(merged, caps["max_stroke_len"] + 1, caps["max_strokes_num"])
    return Dataset(list(categories), splits["train"], splits["valid"], splits["test"],
                   scale_factor, cut_sketches=cut, **caps)


def data_caps(merged: dict, max_seq_len: int, max_stroke_len: int, max_strokes_num: int) -> dict:
    """max_seq_len, max_stroke_len and max_strokes_num, each computed unless given (METHOD.md §1, §4).

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
    if max_strokes_num <= 0:
        counts = (strokes_per_sketch(pen, lengths) if computed_nodes
                  else piece_layout(pen, lengths, max_stroke_len + 1)["counts"])
        max_strokes_num = percentile_999(counts)
    return {"max_seq_len": int(max_seq_len), "max_stroke_len": int(max_stroke_len),
            "max_strokes_num": int(max_strokes_num)}


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


def _cut_counts(merged: dict, max_points: int, cap: int) -> dict:
    """Sketches per split with more nodes than the cap (they lose their last nodes); logged."""
    cut = {s: int(np.sum(piece_layout(merged[s][0][:, 2] > 0.5, merged[s][1], max_points)["counts"] > cap))
           for s in SPLITS}
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
