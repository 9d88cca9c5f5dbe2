"""Reads and checks sketch-rnn .npz files without executing anything (METHOD.md §1).

np.load(allow_pickle=True) runs whatever a crafted pickle asks for; the
sketch-rnn format needs pickled object arrays, so an archive is read here with
an unpickler that can only rebuild plain numpy arrays. A split is then checked
sketch by sketch (numeric [N,3], finite, pen 0 or 1) and its offsets clipped,
every problem a one-line DataError naming file, split and sketch.

A small file can expand to gigabytes (a zip or pickle "bomb"), so sizes are
checked before anything is decompressed: the members' sizes in the zip
directory (MAX_BYTES per file in all), each .npy header's shape and dtype
(a split must announce a 1-D object array), and, while unpickling, the values
of every array against one budget per file (MAX_VALUES), before numpy
allocates them.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import pickle
import warnings
import zipfile
from typing import IO

import numpy as np

from errors import UserError, first_line

SPLITS = ("train", "valid", "test")
CLIP = 1000.0
MAX_NPY_HEADER = 10000  # bytes; numpy's own default limit for .npy headers
# Per file. Real sketch-rnn files are tens of MB and some 20M values (75,000 sketches).
MAX_BYTES = 2 ** 30  # decompressed bytes of the members read
MAX_VALUES = 2 ** 28  # array elements, all arrays of the file together


class DataError(UserError):
    """Bad input data; the message is one line naming file, split, sketch and problem."""


class DataWarning(UserWarning):
    """Sketches dropped (too short, or longer than max_seq_len) or offsets clipped while loading."""


class _SketchArray(np.ndarray):
    """ndarray whose pickled state is checked before numpy allocates memory for it."""

    def __setstate__(self, state: object) -> None:
        _check_array_state(state)
        super().__setstate__(state)


class _Budget:
    """The array elements one file may still create; DataError when a read would exceed them."""

    def __init__(self, limit: int) -> None:
        self.limit = self.left = self.refs_left = limit

    def check(self, count: int) -> None:
        """DataError unless `count` more values fit."""
        if count > self.left:
            self._refuse()

    def take(self, count: int) -> None:
        """Spend `count` values of the budget (an array about to be allocated)."""
        self.check(count)
        self.left -= count

    def take_refs(self, count: int) -> None:
        """Spend `count` values referenced by object arrays (one sketch may be referenced many times)."""
        if count > self.refs_left:
            self._refuse()
        self.refs_left -= count

    def _refuse(self) -> None:
        raise DataError(f"holds more than {self.limit:,} array values in all, the limit "
                        "for one sketch file (a decompression bomb?); refused before using them")


# The budget of the file being read; the unpickler's array states spend it (one read per context).
_BUDGET: contextvars.ContextVar = contextvars.ContextVar("safe_npz_budget", default=None)


@contextlib.contextmanager
def _budget(limit: int):
    """A fresh value budget for the reads inside the block."""
    budget = _Budget(limit)
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


def _check_array_state(state: object) -> None:
    """Refuse an ndarray state whose shape does not match the data it carries, or beyond the budget."""
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
    budget = _BUDGET.get()
    if budget is not None:  # one pickled buffer may be referenced by many arrays: count each
        budget.take(count)


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


def _item_size(item: object, cap: int) -> int:
    """Values np.asarray(item) would hold (nested lists followed along their first elements), capped."""
    if isinstance(item, np.ndarray):
        return item.size
    size = 1
    for _ in range(64):  # numpy's most dimensions; also ends a list that contains itself
        if not isinstance(item, (list, tuple)) or size > cap:
            break
        size *= len(item)
        if not item:
            break
        item = item[0]
    return size


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


def _check_sizes(path: str, archive: zipfile.ZipFile, members: dict, max_bytes: int,
                 label: str = "key") -> None:
    """DataError naming the key at which the members' decompressed sizes (zip directory) pass max_bytes.

    zipfile never returns more than a member's recorded size, so this bounds
    what is decompressed, whatever the compressed data holds.
    """
    total = 0
    for key, name in members.items():
        total += archive.getinfo(name).file_size
        if total > max_bytes:
            raise DataError(f"{path}, {label} '{key}': expands to {total:,} bytes (with those before it), "
                            f"more than the limit of {max_bytes:,} for one sketch file "
                            "(a decompression bomb?); refused before decompressing")


def _read_member(archive: zipfile.ZipFile, name: str, where: str, sketches: bool = False) -> np.ndarray:
    """One .npy member of an archive, object arrays unpickled safely; DataError when damaged.

    `sketches`: the header must announce a 1-D object array (a split), checked before the data is read.
    """
    try:
        with archive.open(name) as f:
            return _read_npy(f, archive.getinfo(name).file_size, sketches)
    except DataError as err:
        raise DataError(f"{where}: {err}") from None
    except Exception as err:  # a damaged member: zip, zlib, header or pickle errors
        detail = f": {first_line(err)}" if str(err).strip() else ""
        raise DataError(f"{where}: unreadable ({type(err).__name__}{detail})") from None


def _read_npy(f: IO[bytes], size: int, sketches: bool = False) -> np.ndarray:
    """Array of an open .npy stream of `size` bytes (header parsed by numpy, data checked here)."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=MAX_NPY_HEADER)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=MAX_NPY_HEADER)
    else:
        raise DataError(f"unsupported .npy format version {version}")
    count = math.prod(shape)
    if sketches and not (dtype == np.dtype(object) and len(shape) == 1):
        raise DataError(f"expected a 1-D object array of [N,3] sketches, got {dtype} array of shape {shape}")
    budget = _BUDGET.get()
    if budget is not None:
        budget.check(count)  # an object array's pickled state spends it; a plain one below
    if dtype.hasobject:
        arr = _ArrayUnpickler(f, encoding="latin1").load()
        if not isinstance(arr, np.ndarray) or arr.shape != tuple(shape):
            raise DataError(f"pickled data is not the {tuple(shape)} array its header announces")
        if budget is not None:  # what the loader will copy: every reference to a sketch counts
            budget.take_refs(sum(_item_size(item, budget.limit) for item in arr.reshape(-1)))
        return _plain(arr)
    if count * dtype.itemsize > size:
        raise DataError(f"header announces {count} {dtype} values, more than the member holds")
    if budget is not None:
        budget.take(count)
    data = f.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise DataError("truncated array data")
    return np.frombuffer(data, dtype, count).reshape(shape, order="F" if fortran else "C")


def read_npz(path: str, max_bytes: int | None = None, max_values: int | None = None) -> dict:
    """{key: array} of every member of an .npz file, read without running any pickled code.

    At most `max_bytes` are decompressed and `max_values` array elements built
    (default MAX_BYTES, MAX_VALUES); DataError naming file and key beyond them.
    """
    with _open_npz(path) as archive:
        members = _npy_members(archive)
        _check_sizes(path, archive, members, MAX_BYTES if max_bytes is None else max_bytes)
        with _budget(MAX_VALUES if max_values is None else max_values):
            return {key: _read_member(archive, name, f"{path}, key '{key}'")
                    for key, name in members.items()}


def read_splits(path: str, limit: int | None, max_bytes: int | None = None,
                max_values: int | None = None) -> dict:
    """The three split arrays of one .npz file, each cut to `limit` sketches (limits as read_npz)."""
    with _open_npz(path) as archive:
        members = _npy_members(archive)
        for split in SPLITS:
            if split not in members:
                raise DataError(f"{path}, split '{split}': key missing "
                                f"(keys present: {', '.join(sorted(members)) or 'none'})")
        splits = {split: members[split] for split in SPLITS}
        _check_sizes(path, archive, splits, MAX_BYTES if max_bytes is None else max_bytes, "split")
        out = {}
        with _budget(MAX_VALUES if max_values is None else max_values):
            for split, name in splits.items():
                out[split] = _read_member(archive, name, f"{path}, split '{split}'", sketches=True)[:limit]
    return out


def check_file(path: str) -> int:
    """Usable sketches of an .npz file that passes the loader's checks (read safely); DataError otherwise."""
    splits = read_splits(path, None)
    return sum(len(check_split(path, name, arr)[1]) for name, arr in splits.items())


def _describe(obj: object) -> str:
    """Short description of a bad sketch object for an error message."""
    if isinstance(obj, np.ndarray):
        return f"{obj.dtype} array of shape {obj.shape}"
    return type(obj).__name__


def check_split(path: str, split: str, arr: object) -> tuple[np.ndarray, np.ndarray]:
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
            point = row - int(lengths[:i].sum())
            raise DataError(f"{where}, sketch {i}: {problem} at point {point}: {flat[row].tolist()}")


