"""Atomic file writes: a reader (or a kill -9) never sees a half-written file.

Every file is written to a temporary sibling in the same folder, flushed to
disk and renamed over the target (`os.replace` is atomic on POSIX and Windows).
Numpy only; no TensorFlow.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Any, Iterator, IO


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
