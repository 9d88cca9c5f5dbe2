"""Atomic file writes: a reader (or a kill -9) never sees a half-written file.

Every file is written to a temporary sibling in the same folder, flushed to
disk and renamed over the target (`os.replace` is atomic on POSIX and Windows).
Also: `.npz` writing and the manifest of the files sketchgloc wrote into a folder.
Numpy only; no TensorFlow.
"""
from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from typing import IO, Any, Iterable, Iterator


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; renamed over `path` only on success."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_json(path: str, obj: Any, **dump_kwargs: Any) -> None:
    """json.dump(obj) to `path` atomically (indent 2 unless given)."""
    dump_kwargs.setdefault("indent", 2)
    with atomic_open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, **dump_kwargs)


def write_text(path: str, text: str) -> None:
    """Write a text file atomically."""
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


# np.savez stamps the current time into the zip, which breaks byte-identity of equal data.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def atomic_savez(path: str, arrays: dict) -> None:
    """np.savez(path, **arrays) atomically and byte-reproducibly (fixed zip timestamps), mode 0644."""
    import zipfile

    import numpy as np

    with atomic_open(path, "wb") as f:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
            for key, arr in arrays.items():
                info = zipfile.ZipInfo(key + ".npy", date_time=ZIP_DATE)
                with zf.open(info, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(arr), allow_pickle=True)
        os.fchmod(f.fileno(), 0o644)  # mkstemp makes 0600; a data file is readable like np.savez's


# --------------------------------------------------------------- output folders
# A folder sketchgloc writes into (sample folders, evaluate.py's --out) carries a
# manifest of the files sketchgloc wrote there. A rerun replaces or removes only
# those; anything else in the folder belongs to the user and is never touched.

MANIFEST_NAME = ".sketchgloc_manifest.json"
PROBE_PREFIX = ".sketchgloc-probe-"


def read_manifest(folder: str) -> set:
    """Names recorded in the folder's manifest (empty when there is none or it is unreadable)."""
    try:
        files = read_json(os.path.join(folder, MANIFEST_NAME))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    return {name for name in files if isinstance(name, str)} if isinstance(files, list) else set()


def write_manifest(folder: str, names: Iterable[str]) -> None:
    """Record `names` as the files sketchgloc wrote in `folder` (atomic)."""
    write_json(os.path.join(folder, MANIFEST_NAME),
               {"written_by": "sketchgloc", "files": sorted(set(names))})


def add_to_manifest(folder: str, names: Iterable[str]) -> None:
    """Add `names` to the folder's manifest."""
    write_manifest(folder, read_manifest(folder) | set(names))


def foreign_files(folder: str) -> list:
    """Sorted entries of `folder` that its manifest does not list (none for a missing folder)."""
    try:
        entries = os.listdir(folder)
    except FileNotFoundError:
        return []
    ours = read_manifest(folder) | {MANIFEST_NAME}
    return sorted(name for name in entries if name not in ours and not _leftover(name, ours))


def _leftover(name: str, ours: set) -> bool:
    """A temporary file of an interrupted atomic write of one of `ours`, or of a write probe."""
    if name.startswith(PROBE_PREFIX):
        return True
    if not (name.startswith(".") and name.endswith(".tmp")):
        return False
    target = name[1:-4].rsplit(".", 1)[0]  # atomic_open names it ".<target>.<random>.tmp"
    return target in ours


def describe_foreign(folder: str, foreign: list, shown: int = 3) -> str:
    """One line naming a folder and a few of the files sketchgloc did not write there."""
    names = ", ".join(foreign[:shown]) + (f" and {len(foreign) - shown} more" if len(foreign) > shown else "")
    return f"{folder}: holds files sketchgloc did not write ({names})"


def writable_dir_problem(folder: str) -> str | None:
    """Why new files cannot be written into `folder` (None when they can); creates a missing folder."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        return f"{folder}: is a file, not a folder"
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        return f"{folder}: cannot create the folder ({err.strerror or type(err).__name__})"
    try:  # os.access says yes to root on read-only mounts; a real write is the only sure test
        fd, probe = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        return f"{folder}: folder is not writable ({err.strerror or type(err).__name__})"
    return None


def plain_name(name: str) -> bool:
    """A file name directly inside a folder: no separators, not '.' or '..', not absolute."""
    return (bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\0")
            and not os.path.isabs(name))


def manifest_problem(folder: str, files_only: bool = False) -> str | None:
    """Why the folder's manifest may not be acted on (None when it may).

    A manifest may name only entries directly inside its folder; with
    `files_only` (a folder whose listed files are replaced or removed) every
    listed entry that exists must be a regular file, not a folder or a link.
    A crafted manifest must never make a run remove anything outside its folder.
    """
    path = os.path.join(folder, MANIFEST_NAME)
    for name in sorted(read_manifest(folder)):
        if not plain_name(name) or name == MANIFEST_NAME:
            return (f"{path}: lists {name!r}, which is not a file name inside {folder}; "
                    "refused, nothing removed (delete the manifest if it is not sketchgloc's)")
        kind = entry_kind(os.path.join(folder, name)) if files_only else None
        if kind not in (None, "file"):
            return (f"{path}: lists {name!r}, which is {kind}, not a file; "
                    "refused, nothing removed (move it away)")
    return None


def entry_kind(path: str) -> str | None:
    """'file', 'a symbolic link', 'a folder' or 'not a regular file' for what is at path; None if nothing."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "file" if stat.S_ISREG(mode) else "not a regular file"


def remove_own_file(path: str) -> bool:
    """Remove a regular file (never a link); False when nothing is there, ValueError for anything else."""
    kind = entry_kind(path)
    if kind is None:
        return False
    if kind != "file":
        raise ValueError(f"{path}: is {kind}; sketchgloc never replaces or removes it (move it away)")
    os.remove(path)
    return True


def output_folder_problem(folder: str, overwrite: bool = False, files_only: bool = False) -> str | None:
    """Why `folder` cannot take a run's outputs: not writable, a bad manifest, or holding the user's files.

    `files_only`: the manifest's entries must be regular files (see manifest_problem).
    """
    problem = writable_dir_problem(folder) or manifest_problem(folder, files_only)
    if problem:
        return problem
    foreign = foreign_files(folder)
    if foreign and not overwrite:
        return f"{describe_foreign(folder, foreign)}; use an empty folder or pass --overwrite"
    return None


def read_json(path: str) -> Any:
    """The parsed JSON file; ValueError with one line naming the file when it is not valid JSON."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None


def own_file_problem(folder: str, name: str) -> str | None:
    """Why sketchgloc may not write `name` into `folder`: not writable, or the user's file of that name."""
    problem = writable_dir_problem(folder)
    if problem:
        return problem
    path = os.path.join(folder, name)
    if os.path.exists(path) and name not in read_manifest(folder):
        return f"{path}: exists and was not written by sketchgloc (not in {MANIFEST_NAME}); move it away"
    return None


def write_own_json(folder: str, name: str, obj: Any) -> None:
    """Write `obj` as `folder/name` atomically and record the file in the folder's manifest."""
    write_json(os.path.join(folder, name), obj)
    add_to_manifest(folder, [name])
