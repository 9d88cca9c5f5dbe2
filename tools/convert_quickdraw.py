"""Convert raw Google QuickDraw downloads to sketch-rnn `.npz` files (METHOD.md §1).

Inputs, detected from the extension (then from the first byte):

* `.ndjson` simplified (`full_simplified_*.ndjson`): every line a JSON object
  with `drawing = [[xs], [ys]]` per stroke, integer coordinates in 0-255.
* `.ndjson` raw (`full_raw_*.ndjson`): every stroke `[[xs], [ys], [ts]]`, float
  coordinates on the original canvas plus timestamps (ignored).
* `.bin` (`*.bin`): the binary form of the simplified drawings. Per drawing,
  little endian: key_id uint64, countrycode 2 bytes, recognized uint8,
  timestamp uint32, n_strokes uint16, then per stroke n_points uint16,
  x uint8[n_points], y uint8[n_points].

Processing, as Google made the simplified set and sketch-rnn its `.npz` files:

1. Drawings with timestamps (raw) are aligned to the top-left corner and
   scaled uniformly so that the longer side spans 0-255 (`--normalize auto`;
   `always` does it to every drawing, `never` keeps the coordinates). Google
   also resampled the strokes to 1-pixel spacing first; that is skipped: RDP
   keeps a subset of the points either way and only the tie points differ.
2. Ramer-Douglas-Peucker per stroke with `--epsilon` (0 disables). The
   simplified set was made with epsilon 2.0, so on simplified input the default
   usually removes few or no points; `--epsilon 0` keeps them exactly.
3. Rounding to integers; a point equal to the previous point of its stroke is
   dropped (rounding makes such repeats; they carry no ink).
4. Stroke-3 int16 rows `(dx, dy, pen_lifted)`: the first row is the first
   point's offset from the origin (0, 0), `pen_lifted = 1` on the last point of
   every stroke.
5. Drawings longer than `--max_len` points (counted after steps 2-3) and drawings
   with fewer than 2 points (the loader drops those) are dropped and counted.

Input is streamed, record by record, in batches of drawings processed with
vectorised numpy; only the converted int16 sketches are kept in memory. Bad
records (invalid JSON, missing keys, mismatched x/y lengths, truncated binary
record, ...) are counted by reason and skipped. The converted drawings are
shuffled with `--seed` and split: `--valid` and `--test` are counts (>= 1) or
fractions (< 1); the rest is the training split, capped by `--max_train`.
sketch-rnn's 70000/2500/2500: `--valid 2500 --test 2500 --max_train 70000`.
An existing `<out_dir>/<category>.npz` is replaced only with `--overwrite`;
a category name must be a plain file name (no path separators, not '..').

    python tools/convert_quickdraw.py full_simplified_cat.ndjson --out_dir data
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import struct
import sys
import time
from typing import Iterator, Sequence, TextIO

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # the project's modules, when run as `python tools/<name>.py`

import cli  # noqa: E402
from errors import UserError  # noqa: E402
import fileio  # noqa: E402

SPLITS = ("train", "valid", "test")
PREFIXES = ("full_simplified_", "full_raw_", "simplified_", "raw_")
NORMALIZE_MODES = ("auto", "always", "never")
CANVAS = 255.0  # side of the simplified set's canvas
BATCH = 2048  # drawings processed by one vectorised pass
INT16_MAX = np.iinfo(np.int16).max
COORD_LIMIT = 1e9  # largest accepted |coordinate| of an input drawing
_BIN_HEADER = struct.Struct("<Q2sBIH")  # key_id, countrycode (2), recognized, timestamp, n_strokes
_UINT16 = struct.Struct("<H")


class ConvertError(UserError):
    """A problem that stops the conversion (no input, unusable split sizes)."""

    def __init__(self, message: str, counts: "Counts | None" = None):
        super().__init__(message)
        self.counts = counts  # set when the error comes after reading: what was read


class BadRecord(Exception):
    """One unusable drawing record; the message is the reason it is counted under."""


@dataclasses.dataclass
class Options:
    """How drawings are processed (module docstring, steps 1-5)."""

    epsilon: float = 2.0
    max_len: int = 250
    recognized_only: bool = False
    normalize: str = "auto"


@dataclasses.dataclass
class Counts:
    """What happened to every record read; read == converted + the four drop counts."""

    read: int = 0
    converted: int = 0
    too_long: int = 0
    too_short: int = 0
    not_recognized: int = 0
    bad: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    bad_examples: list = dataclasses.field(default_factory=list)  # first few "file:record: reason"
    bytes: int = 0
    seconds: float = 0.0

    @property
    def bad_total(self) -> int:
        """Number of bad records, all reasons together."""
        return sum(self.bad.values())

    def add_bad(self, where: str, reason: str) -> None:
        """Count one bad record, keeping the first few locations for the report."""
        self.bad[reason] += 1
        if len(self.bad_examples) < 5:
            self.bad_examples.append(f"{where}: {reason}")


@dataclasses.dataclass
class Record:
    """One parsed drawing: points [2, n] (x row, y row), points per stroke, flags."""

    xy: np.ndarray
    stroke_lengths: list
    raw: bool
    recognized: bool


# --------------------------------------------------------------------- reading

def detect_format(path: str) -> str:
    """'ndjson' or 'bin', from the extension, else from the first byte ('{' means ndjson)."""
    ext = os.path.splitext(path)[1].lower()
    if ext in (".ndjson", ".json", ".jsonl"):
        return "ndjson"
    if ext == ".bin":
        return "bin"
    with open(path, "rb") as f:
        head = f.read(64).lstrip()
    return "ndjson" if head[:1] == b"{" else "bin"


def category_name(path: str) -> str:
    """File stem without QuickDraw's `full_simplified_`/`full_raw_` prefix."""
    stem = os.path.splitext(os.path.basename(path))[0]
    for prefix in PREFIXES:
        if stem.startswith(prefix) and len(stem) > len(prefix):
            return stem[len(prefix):]
    return stem


def parse_strokes(strokes: object) -> tuple[np.ndarray, list, bool]:
    """QuickDraw `drawing` -> (xy [2, n], points per stroke, has timestamps); else BadRecord."""
    if not isinstance(strokes, list) or not strokes:
        raise BadRecord("no strokes")
    xs, ys, lengths, raw = [], [], [], False
    for stroke in strokes:
        if not isinstance(stroke, list) or len(stroke) not in (2, 3):
            raise BadRecord("malformed stroke")
        x, y = stroke[0], stroke[1]
        if not isinstance(x, list) or not isinstance(y, list):
            raise BadRecord("malformed stroke")
        if len(x) != len(y):
            raise BadRecord("x/y length mismatch")
        if not x:
            raise BadRecord("empty stroke")
        xs.extend(x)
        ys.extend(y)
        lengths.append(len(x))
        raw = raw or len(stroke) == 3
    try:
        xy = np.array((xs, ys))
    except (ValueError, TypeError):  # ragged nesting inside a coordinate list
        raise BadRecord("non-numeric coordinates") from None
    if xy.ndim != 2 or xy.dtype.kind not in "iuf":
        raise BadRecord("non-numeric coordinates")
    if xy.dtype.kind == "f" and not np.isfinite(xy).all():
        raise BadRecord("non-finite coordinates")
    # Far beyond any canvas; larger values overflow the float64 geometry of RDP.
    if np.abs(xy.astype(np.float64)).max() > COORD_LIMIT:
        raise BadRecord("coordinates out of range")
    return xy, lengths, raw


def parse_ndjson_line(line: bytes, recognized_only: bool) -> Record:
    """One ndjson line -> Record; BadRecord naming the problem."""
    try:
        obj = json.loads(line)
    except ValueError:  # also UnicodeDecodeError
        raise BadRecord("invalid JSON") from None
    if not isinstance(obj, dict):
        raise BadRecord("not a JSON object")
    if "drawing" not in obj:
        raise BadRecord("missing key 'drawing'")
    xy, lengths, raw = parse_strokes(obj["drawing"])
    if recognized_only and "recognized" not in obj:
        raise BadRecord("missing key 'recognized'")
    return Record(xy, lengths, raw, bool(obj.get("recognized", True)))


def iter_ndjson(path: str, counts: Counts,
                recognized_only: bool) -> Iterator[tuple[int, Record | None]]:
    """Stream an ndjson file: (bytes read so far, Record or None for a bad line)."""
    done = 0
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            done += len(line)
            if not line.strip():
                continue
            counts.read += 1
            try:
                yield done, parse_ndjson_line(line, recognized_only)
            except BadRecord as err:
                counts.add_bad(f"{path}:{number}", str(err))
                yield done, None


def _read_exact(f, n: int) -> bytes:
    """n bytes from f; BadRecord if the file ends first."""
    data = f.read(n)
    if len(data) != n:
        raise BadRecord("truncated binary record")
    return data


def read_bin_record(f) -> Record | None:
    """One drawing of the binary format, or None at a clean end of file."""
    head = f.read(_BIN_HEADER.size)
    if not head:
        return None
    if len(head) != _BIN_HEADER.size:
        raise BadRecord("truncated binary record")
    _, _, recognized, _, n_strokes = _BIN_HEADER.unpack(head)
    parts, lengths = [], []
    for _ in range(n_strokes):
        (n,) = _UINT16.unpack(_read_exact(f, 2))
        parts.append(np.frombuffer(_read_exact(f, 2 * n), np.uint8).reshape(2, n))
        lengths.append(n)
    # Checked after the whole record is read, so that the next record starts in the right place.
    if not n_strokes:
        raise BadRecord("no strokes")
    if not all(lengths):
        raise BadRecord("empty stroke")
    return Record(np.concatenate(parts, axis=1), lengths, False, bool(recognized))


def iter_bin(path: str, counts: Counts) -> Iterator[tuple[int, Record | None]]:
    """Stream a .bin file: (bytes read so far, Record or None for a bad record)."""
    with open(path, "rb") as f:
        while True:
            start = f.tell()
            try:
                record = read_bin_record(f)
            except BadRecord as err:
                counts.read += 1
                counts.add_bad(f"{path}@{start}", str(err))
                # A well-framed bad record (no strokes, empty stroke) lets reading go on;
                # after a truncated one there is nothing left to read.
                yield f.tell(), None
                if str(err).startswith("truncated"):
                    return
                continue
            if record is None:
                return
            counts.read += 1
            yield f.tell(), record


# ------------------------------------------------------------------ processing

def rdp_mask(points: np.ndarray, lengths: np.ndarray, epsilon: float) -> np.ndarray:
    """Ramer-Douglas-Peucker over many polylines at once: bool [N], True for kept points.

    points: [N, 2] concatenated polylines with `lengths` points each. Every pass
    handles all open segments of all polylines together: the point farthest from
    its segment's chord is kept (splitting the segment) if farther than
    `epsilon`, else the segment's inner points are dropped. The result equals
    recursive RDP that splits at the first farthest point; for a chord whose
    ends coincide (a closed stroke) the distance is the one to that end point.
    """
    points = np.asarray(points, np.float64)
    lengths = np.asarray(lengths, np.int64)
    if lengths.sum() != len(points) or np.any(lengths < 1):
        raise ValueError(f"lengths (sum {lengths.sum()}) must be >= 1 and cover the "
                         f"{len(points)} points")
    keep = np.zeros(len(points), bool)
    if not len(points):
        return keep
    ends = np.cumsum(lengths)
    keep[ends - lengths] = True
    keep[ends - 1] = True
    if epsilon <= 0:
        keep[:] = True
        return keep
    open_ = ~keep
    idx = np.arange(len(points))  # open points and the kept points next to them, in order
    while open_.any():
        _rdp_pass(points, keep, open_, idx, epsilon)
        # Later passes only visit open segments and their ends, so a deep recursion in
        # one stroke does not revisit the finished points of the whole batch.
        is_open = open_[idx]
        idx = idx[is_open | np.r_[is_open[1:], False] | np.r_[False, is_open[:-1]]]
    return keep


def _rdp_pass(points: np.ndarray, keep: np.ndarray, open_: np.ndarray, idx: np.ndarray,
              epsilon: float) -> None:
    """One RDP pass over the open points of idx (updates keep and open_ in place)."""
    kept = keep[idx]
    pos = np.arange(len(idx))
    start = np.maximum.accumulate(np.where(kept, pos, 0))
    end = np.minimum.accumulate(np.where(kept, pos, len(idx))[::-1])[::-1]
    inner = ~kept
    p, a, b = points[idx[inner]], points[idx[start[inner]]], points[idx[end[inner]]]
    chord = b - a
    norm = np.hypot(chord[:, 0], chord[:, 1])
    cross = np.abs(chord[:, 0] * (a[:, 1] - p[:, 1]) - (a[:, 0] - p[:, 0]) * chord[:, 1])
    dist = np.where(norm > 0, cross / np.where(norm > 0, norm, 1.0),
                    np.hypot(p[:, 0] - a[:, 0], p[:, 1] - a[:, 1]))
    segment = start[inner]  # non-decreasing: points of a segment are contiguous
    new = np.empty(len(segment), bool)
    new[0] = True
    new[1:] = segment[1:] != segment[:-1]
    group = np.cumsum(new) - 1
    group_max = np.maximum.reduceat(dist, np.flatnonzero(new))
    hit = np.flatnonzero(dist == group_max[group])
    first_hit = hit[np.r_[True, group[hit][1:] != group[hit][:-1]]]  # first farthest per group
    split = group_max > epsilon
    members = idx[inner]
    open_[members[~split[group]]] = False
    chosen = members[first_hit[split]]
    keep[chosen] = True
    open_[chosen] = False


def rdp(points: np.ndarray, epsilon: float) -> np.ndarray:
    """RDP of one polyline [n, 2] -> its kept points."""
    points = np.asarray(points)
    return points[rdp_mask(points, np.array([len(points)]), epsilon)]


def _normalize(points: np.ndarray, point_counts: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Align the chosen drawings to (0, 0) and scale their longer side to 0-255."""
    if not which.any():
        return points
    first = np.cumsum(point_counts) - point_counts
    low = np.minimum.reduceat(points, first, axis=0)
    span = (np.maximum.reduceat(points, first, axis=0) - low).max(axis=1)
    scale = np.where(which & (span > 0), CANVAS / np.where(span > 0, span, 1.0), 1.0)
    low[~which] = 0.0
    return (points - np.repeat(low, point_counts, axis=0)) * np.repeat(scale, point_counts)[:, None]


def records_to_stroke3(records: Sequence[Record], options: Options,
                       counts: Counts) -> list[np.ndarray]:
    """Process a batch of drawings (steps 1-5) -> the kept int16 stroke-3 sketches, in order."""
    if not records:
        return []
    xy, stroke_id, drawing_id = _simplify(records, options)
    pen = np.r_[stroke_id[1:] != stroke_id[:-1], True]
    sizes = np.bincount(drawing_id, minlength=len(records))
    first = np.cumsum(sizes) - sizes
    delta = np.diff(xy, axis=0, prepend=np.zeros((1, 2), np.int64))
    delta[first] = xy[first]  # every sketch starts from the origin (sizes are all >= 1)
    too_big = np.zeros(len(records), bool)
    too_big[drawing_id[(np.abs(delta) > INT16_MAX).any(axis=1)]] = True
    out = np.column_stack([delta, pen]).astype(np.int16)
    return _select(np.split(out, np.cumsum(sizes)[:-1]), sizes, too_big, options, counts)


def _simplify(records: Sequence[Record],
              options: Options) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalise, RDP, round and drop repeats -> (integer xy [M, 2], stroke id, drawing id)."""
    points = np.concatenate([r.xy for r in records], axis=1).T.astype(np.float64)
    stroke_lengths = np.fromiter((n for r in records for n in r.stroke_lengths), np.int64)
    point_counts = np.fromiter((r.xy.shape[1] for r in records), np.int64, len(records))
    raw = np.fromiter((r.raw for r in records), bool, len(records))
    which = {"auto": raw, "always": np.ones_like(raw),
             "never": np.zeros_like(raw)}[options.normalize]
    points = _normalize(points, point_counts, which)
    keep = rdp_mask(points, stroke_lengths, options.epsilon)
    stroke_id = np.repeat(np.arange(len(stroke_lengths)), stroke_lengths)[keep]
    drawing_id = np.repeat(np.arange(len(records)), point_counts)[keep]
    xy = np.rint(points[keep]).astype(np.int64)
    # The first point of a stroke is never a repeat, so no stroke (or drawing) vanishes.
    repeat = np.r_[False, (stroke_id[1:] == stroke_id[:-1]) & (xy[1:] == xy[:-1]).all(axis=1)]
    return xy[~repeat], stroke_id[~repeat], drawing_id[~repeat]


def _select(sketches: list, sizes: np.ndarray, too_big: np.ndarray, options: Options,
            counts: Counts) -> list[np.ndarray]:
    """Drop (and count) too long, too short and out-of-range sketches of a batch."""
    long = (sizes > options.max_len) if options.max_len > 0 else np.zeros(len(sizes), bool)
    short = sizes < 2
    counts.too_long += int(np.sum(long & ~too_big))
    counts.too_short += int(np.sum(short & ~long & ~too_big))
    if too_big.any():
        counts.bad["coordinates out of int16 range"] += int(too_big.sum())
    keep = ~(long | short | too_big)
    counts.converted += int(keep.sum())
    return [s for s, k in zip(sketches, keep) if k]


# -------------------------------------------------------------------- driving

class Progress:
    """One progress line on stderr: bytes read, drawings, drawings/s (throttled)."""

    def __init__(self, total_bytes: int, enabled: bool = True, stream: TextIO | None = None):
        self.total, self.enabled = max(total_bytes, 1), enabled
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = self.last = time.perf_counter()
        self.shown = False

    def update(self, done_bytes: int, drawings: int, force: bool = False) -> None:
        """Redraw the line if enough time passed (0.2 s on a terminal, 10 s in a log)."""
        now = time.perf_counter()
        if not self.enabled or (not force and now - self.last < (0.2 if self.tty else 10.0)):
            return
        self.last = now
        rate = drawings / max(now - self.start, 1e-9)
        line = (f"{100.0 * done_bytes / self.total:5.1f}% {done_bytes / 1e6:,.1f}/"
                f"{self.total / 1e6:,.1f} MB  {drawings:,} drawings  {rate:,.0f} drawings/s")
        self.stream.write(("\r" + line) if self.tty else (line + "\n"))
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        """End the progress line."""
        if self.enabled and self.tty and self.shown:
            self.stream.write("\n")
            self.stream.flush()


def convert_files(paths: Sequence[str], options: Options,
                  progress: bool = True) -> tuple[list[np.ndarray], Counts]:
    """Stream the input files (in order) -> converted stroke-3 sketches and the counts."""
    if options.normalize not in NORMALIZE_MODES:
        raise ConvertError(f"normalize must be one of {NORMALIZE_MODES}, got {options.normalize!r}")
    counts, sketches = Counts(), []
    sizes = [os.path.getsize(p) for p in paths]
    bar = Progress(sum(sizes), progress)
    start, before = time.perf_counter(), 0
    for path, size in zip(paths, sizes):
        sketches += _convert_file(path, options, counts, bar, before)
        before += size
    counts.bytes, counts.seconds = before, time.perf_counter() - start
    bar.update(before, counts.read, force=True)
    bar.close()
    return sketches, counts


def _convert_file(path: str, options: Options, counts: Counts, bar: Progress,
                  before: int) -> list[np.ndarray]:
    """Stream one file in batches of BATCH drawings; `before`: bytes of the earlier files."""
    if detect_format(path) == "ndjson":
        stream = iter_ndjson(path, counts, options.recognized_only)
    else:
        stream = iter_bin(path, counts)
    sketches, batch = [], []
    for done, record in stream:
        bar.update(before + done, counts.read)
        if record is None:
            continue
        if options.recognized_only and not record.recognized:
            counts.not_recognized += 1
            continue
        batch.append(record)
        if len(batch) == BATCH:
            sketches += records_to_stroke3(batch, options, counts)
            batch = []
    return sketches + records_to_stroke3(batch, options, counts)


def _count(value: float, total: int, name: str) -> int:
    """A split size: a fraction (< 1) of total, or a count."""
    if value < 0:
        raise ConvertError(f"--{name} must be >= 0, got {value}")
    if value < 1:
        return int(round(value * total))
    if value != int(value):
        raise ConvertError(f"--{name} must be a count or a fraction below 1, got {value}")
    return int(value)


def split_sketches(sketches: Sequence[np.ndarray], seed: int = 0, valid: float = 2500,
                   test: float = 2500, max_train: int = 0) -> dict[str, list]:
    """Shuffle with `seed`; first `valid`, then `test` sketches, the rest (<= max_train) train."""
    total = len(sketches)
    n_valid, n_test = _count(valid, total, "valid"), _count(test, total, "test")
    if n_valid + n_test >= total:
        raise ConvertError(f"only {total} drawings converted; --valid {valid} --test {test} "
                           f"leave no training drawings (use fractions, e.g. --valid 0.05)")
    order = np.random.default_rng(seed).permutation(total)
    train = order[n_valid + n_test:]
    if max_train > 0:
        train = train[:max_train]
    parts = {"train": train, "valid": order[:n_valid], "test": order[n_valid:n_valid + n_test]}
    return {k: [sketches[i] for i in v] for k, v in parts.items()}


def _object_array(sketches: Sequence[np.ndarray]) -> np.ndarray:
    """1-D object array of the sketches (element-wise, so equal shapes never merge)."""
    arr = np.empty(len(sketches), dtype=object)
    for i, s in enumerate(sketches):
        arr[i] = s
    return arr


def convert(paths: Sequence[str], out_dir: str, category: str | None = None,
            options: Options | None = None, seed: int = 0, valid: float = 2500,
            test: float = 2500, max_train: int = 0, progress: bool = True,
            overwrite: bool = False) -> tuple[str, dict[str, int], Counts]:
    """Convert QuickDraw files to `out_dir/<category>.npz`; returns (path, split sizes, counts).

    An existing output file is replaced only with `overwrite`.
    """
    paths = list(paths)
    if not paths:
        raise ConvertError("no input files")
    for p in paths:
        if not os.path.isfile(p):
            raise ConvertError(f"{p}: no such file")
    if category is None:
        names = {category_name(p) for p in paths}
        if len(names) > 1:
            raise ConvertError(f"inputs name different categories {sorted(names)}; give --category")
        category = names.pop()
    check_category(category)
    out = os.path.join(out_dir, category + ".npz")
    _check_output(out_dir, out, overwrite)  # before reading: a bad --out_dir must not cost the conversion
    sketches, counts = convert_files(paths, options or Options(), progress)
    _check_converted(paths, counts)
    try:
        parts = split_sketches(sketches, seed, valid, test, max_train)
    except ConvertError as err:
        raise ConvertError(str(err), counts) from None
    fileio.atomic_savez(out, {k: _object_array(parts[k]) for k in SPLITS})
    return out, {k: len(parts[k]) for k in SPLITS}, counts


def check_category(category: str) -> None:
    """ConvertError unless the category makes a file name directly inside --out_dir."""
    if not fileio.plain_name(category) or category.startswith("."):
        raise ConvertError(f"bad category name {category!r}: the output must be a file directly inside "
                           "--out_dir (no path separators, not starting with '.')")


def _check_output(out_dir: str, out: str, overwrite: bool = False) -> None:
    """ConvertError unless `out` can be written into `out_dir` (created when missing)."""
    problem = fileio.writable_dir_problem(out_dir)
    if problem:
        raise ConvertError(problem)
    if os.path.isdir(out):
        raise ConvertError(f"{out}: is a folder, not a file")
    if os.path.lexists(out) and not overwrite:
        raise ConvertError(f"{out}: exists; not replaced (pass --overwrite to replace it)")


def _check_converted(paths: Sequence[str], counts: Counts) -> None:
    """ConvertError when the inputs held no drawings, or none that could be converted."""
    names = ", ".join(paths)
    if counts.read == 0:
        raise ConvertError(f"{names}: holds no drawings (empty input)", counts)
    if counts.converted == 0:
        raise ConvertError(f"{names}: none of the {counts.read:,} drawings could be converted "
                           "(see the counts above)", counts)


def report(counts: Counts, options: Options) -> str:
    """Human-readable summary of the counts."""
    rate = counts.read / max(counts.seconds, 1e-9)
    lines = [f"read {counts.read:,} drawings ({counts.bytes / 1e6:,.1f} MB) in "
             f"{counts.seconds:.1f} s ({rate:,.0f} drawings/s)",
             f"converted {counts.converted:,}; dropped: {counts.too_long:,} longer than "
             f"{options.max_len} points, {counts.too_short:,} with fewer than 2 points, "
             f"{counts.not_recognized:,} not recognized, {counts.bad_total:,} bad records"]
    if counts.bad:
        reasons = counts.bad.most_common()
        lines.append("bad records: " + ", ".join(f"{r}: {n:,}" for r, n in reasons))
        lines += ["  e.g. " + e for e in counts.bad_examples]
    return "\n".join(lines)


# ------------------------------------------------------------------------ CLI

def _size(text: str) -> float:
    """argparse type of --valid/--test: a count or a fraction."""
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line of the converter."""
    p = cli.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("inputs", nargs="+", metavar="INPUT", help=".ndjson (simplified or raw) or .bin")
    p.add_argument("--out_dir", required=True, help="folder for <category>.npz")
    p.add_argument("--category", help="output name (default: the first input's stem without "
                                      "full_simplified_/full_raw_)")
    p.add_argument("--epsilon", type=float, default=2.0,
                   help="RDP tolerance in pixels; 0 disables (default: 2.0)")
    p.add_argument("--max_len", type=int, default=250,
                   help="drop longer sketches (points); 0 keeps all (default: 250)")
    p.add_argument("--recognized_only", action="store_true", help="drop drawings not recognized")
    p.add_argument("--normalize", choices=NORMALIZE_MODES, default="auto",
                   help="align and scale to 0-255; auto: drawings with timestamps, i.e. the "
                        "raw format (default: auto)")
    p.add_argument("--seed", type=int, default=0, help="shuffle seed of the split (default: 0)")
    p.add_argument("--valid", type=_size, default=2500,
                   help="count, or fraction if < 1 (default: 2500)")
    p.add_argument("--test", type=_size, default=2500,
                   help="count, or fraction if < 1 (default: 2500)")
    p.add_argument("--max_train", type=int, default=0,
                   help="cap of the train split; 0: the rest (default: 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing <category>.npz")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    options = Options(args.epsilon, args.max_len, args.recognized_only, args.normalize)
    try:
        out, sizes, counts = convert(args.inputs, args.out_dir, args.category, options, args.seed,
                                     args.valid, args.test, args.max_train, not args.quiet,
                                     args.overwrite)
    except ConvertError as err:
        if err.counts is not None:
            print(report(err.counts, options), file=sys.stderr)
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(report(counts, options), file=sys.stderr)
    print(f"wrote {out}: " + ", ".join(f"{k}={n:,}" for k, n in sizes.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
