#!/usr/bin/env python3
"""Download sketch-rnn QuickDraw `.npz` files: one of the paper's datasets, or chosen categories.

    python tools/download_quickdraw.py --dataset 1 --out datasets
    python tools/download_quickdraw.py --categories "pig,alarm clock" --out datasets

A download goes to `<file>.part` and resumes from it (HTTP Range) when run
again. A finished download is checked (its length against Content-Length,
then the project's `.npz` checks of `safe_npz.py`) before it is renamed into
place, so `--out` only ever receives complete, readable files. A file already
in `--out` is never replaced: it is skipped when it passes the checks and
reported when it does not. The server is not trusted: only http(s) URLs,
a timeout per network wait and a total time per file (`--max_seconds`; a
server that sends a byte now and then cannot hold a download longer), a size
limit, the loader's own unpickler, which rebuilds numpy arrays only
(`safe_npz.read_npz`), and its limits on what a file may expand to. A file
that fails the checks is moved to `<file>.rejected`. Standard library `urllib` only.
"""
from __future__ import annotations

import argparse
import dataclasses
import http.client
import os
import re
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from typing import IO, Optional


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import cli  # noqa: E402
import fileio  # noqa: E402
import hparams  # noqa: E402
from errors import UserError  # noqa: E402
import safe_npz  # noqa: E402
import utils  # noqa: E402

DEFAULT_BASE_URL = "https://storage.googleapis.com/quickdraw_dataset/sketchrnn"
CHUNK = 1 << 16
USER_AGENT = "sketchgloc-download/1"

class DownloadError(UserError):
    """A failed category; the message is one line."""


class TooLarge(DownloadError):
    """The server sends more than the size limit allows."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """What the untrusted server is allowed: bytes per file, seconds per network wait and per file."""

    max_bytes: int
    timeout: float
    max_seconds: float = 3600.0


# ------------------------------------------------------------------ names and URLs

def dataset_categories(dataset: int) -> list:
    """Categories of the paper's dataset 1, 2 or 3."""
    return list(hparams.DATASETS[dataset])


def file_name(category: str) -> str:
    """Name of the category's file on the server and on disk (`The Great Wall` -> `... of China.npz`)."""
    # The loader accepts both names (utils.FILE_ALIASES); the server only has the alias.
    return utils.FILE_ALIASES.get(category, (category,))[0] + ".npz"


def check_category(category: str) -> None:
    """Refuse names that would write outside `--out` or cannot be a file name."""
    if not category or category.startswith(".") or any(c in category for c in "/\\\0"):
        raise DownloadError(f"bad category name {category!r}")


def check_base_url(url: str) -> None:
    """Only http(s) URLs with a host: no file://, ftp:// or data: from a typo or a redirect."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise DownloadError(f"--base_url must be an http:// or https:// URL, got {url!r}")


def category_url(base_url: str, category: str) -> str:
    """URL of the category's file: the base URL plus the URL-quoted file name."""
    return base_url.rstrip("/") + "/" + urllib.parse.quote(file_name(category))


# ------------------------------------------------------------------ progress

def format_bytes(n: float) -> str:
    """Compact size: 512 B, 3.4 kB, 12.3 MB, 1.2 GB."""
    for unit in ("B", "kB", "MB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def format_eta(seconds: Optional[float]) -> str:
    """m:ss (or h:mm:ss); '--' when unknown."""
    if seconds is None:
        return "--"
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """One status line per file: bytes, percent, speed, ETA; redrawn in place on a terminal."""

    def __init__(self, name: str, total: Optional[int], start: int, stream: IO[str]) -> None:
        self.name, self.total, self.start, self.stream = name, total, start, stream
        self.t0 = self.last = time.monotonic()
        self.done = start
        self.live = stream.isatty()  # a log file gets only the final line, not hundreds of redraws

    def line(self, done: int) -> str:
        """The status text after `done` bytes."""
        elapsed = max(time.monotonic() - self.t0, 1e-6)
        speed = (done - self.start) / elapsed
        parts = [self.name, format_bytes(done) + (f" / {format_bytes(self.total)}" if self.total else "")]
        if self.total:
            parts.append(f"{100 * done / self.total:.0f}%")
        eta = (self.total - done) / speed if self.total and speed > 0 else None
        parts += [f"{format_bytes(speed)}/s", f"ETA {format_eta(eta)}"]
        return "  ".join(parts)

    def update(self, done: int) -> None:
        """Redraw at most 5 times a second."""
        self.done = done
        now = time.monotonic()
        if self.live and now - self.last >= 0.2:
            self.last = now
            self.stream.write("\r" + self.line(done).ljust(72))
            self.stream.flush()

    def finish(self) -> None:
        """Final state of the line, then a newline (also after a failure, before its message)."""
        self.stream.write(("\r" if self.live else "") + self.line(self.done).ljust(72) + "\n")
        self.stream.flush()


# ------------------------------------------------------------------ HTTP

class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s): urllib alone would also follow one to ftp://."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
            raise DownloadError(f"refused redirect to {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class Watchdog:
    """Shuts the sockets of one download when its time is up.

    The timeout of a socket bounds each wait, not their sum: a server sending a
    byte every few seconds (headers or body) would hold a download for days.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds, self.expired = seconds, False
        self._sockets: list = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> "Watchdog":
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()

    def register(self, sock: socket.socket) -> None:
        """Watch a connected socket (shut at once when the time is already up)."""
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    """Wake any thread blocked on the socket: its reads return at once."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Watched:
    """A connection whose socket the download's watchdog may close (the whole-download deadline)."""

    watchdog: Optional[Watchdog] = None

    def connect(self) -> None:
        super().connect()
        if self.watchdog is not None:
            self.watchdog.register(self.sock)


class _WatchedHTTPConnection(_Watched, http.client.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, http.client.HTTPSConnection):
    pass


def _watched(cls: type, watchdog: Watchdog):
    """A connection factory for urllib's do_open whose sockets the watchdog can shut."""
    def make(host: str, **kwargs) -> http.client.HTTPConnection:
        conn = cls(host, **kwargs)
        conn.watchdog = watchdog
        return conn
    return make


class _WatchedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watchdog: Watchdog) -> None:
        super().__init__()
        self.watchdog = watchdog

    def http_open(self, req):
        return self.do_open(_watched(_WatchedHTTPConnection, self.watchdog), req)


class _WatchedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: Watchdog) -> None:
        super().__init__()
        self.watchdog = watchdog

    def https_open(self, req):
        return self.do_open(_watched(_WatchedHTTPSConnection, self.watchdog), req, context=self._context)


def _request(url: str, offset: int, timeout: float, watchdog: Watchdog) -> http.client.HTTPResponse:
    """GET `url`, asking for the bytes from `offset` on when resuming."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    opener = urllib.request.build_opener(_HttpOnlyRedirects, _WatchedHTTPHandler(watchdog),
                                         _WatchedHTTPSHandler(watchdog))
    return opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)


def _int_header(value: Optional[str], what: str) -> Optional[int]:
    """A non-negative integer header, or None when absent."""
    if value is None:
        return None
    if not value.strip().isdigit():
        raise DownloadError(f"bad {what} header from the server: {value!r}")
    return int(value)


def parse_content_range(value: Optional[str]) -> tuple:
    """(first byte, total size or None) of a `Content-Range: bytes a-b/n` header."""
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value or "")
    if not match:
        raise DownloadError(f"bad Content-Range header from the server: {value!r}")
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), total


def _span(resp: http.client.HTTPResponse, offset: int) -> tuple:
    """(first byte of this body, expected end of the file or None), checked against what was asked."""
    length = _int_header(resp.headers.get("Content-Length"), "Content-Length")
    if resp.status == 206:
        start, total = parse_content_range(resp.headers.get("Content-Range"))
        if start != offset:
            raise DownloadError(f"server resumed at byte {start}, asked for {offset}")
        if length is not None and total is not None and start + length != total:
            raise DownloadError("Content-Length and Content-Range of the server disagree")
        return start, total if total is not None else (None if length is None else start + length)
    if resp.status == 200:  # Range ignored (or not asked): the whole file again
        return 0, length
    raise DownloadError(f"unexpected HTTP status {resp.status}")


def _copy(resp: IO[bytes], out: IO[bytes], done: int, limits: Limits, progress: Progress) -> int:
    """Append the body to `out`; returns the file size reached."""
    while True:
        chunk = resp.read(CHUNK)
        if not chunk:
            return done
        done += len(chunk)
        if done > limits.max_bytes:
            raise TooLarge(f"file larger than the limit of {format_bytes(limits.max_bytes)} (--max_mb)")
        out.write(chunk)
        progress.update(done)


def _unsatisfiable_total(value: Optional[str]) -> Optional[int]:
    """The size in a 416 answer's `Content-Range: bytes */n`, or None."""
    match = re.fullmatch(r"\s*bytes\s+\*/(\d+)\s*", value or "")
    return int(match.group(1)) if match else None


def _receive(resp: http.client.HTTPResponse, offset: int, part: str, limits: Limits,
             stream: IO[str]) -> tuple:
    """Write the response body into `part`; returns (size reached, expected size or None)."""
    start, end = _span(resp, offset)
    if end is not None and end > limits.max_bytes:
        raise TooLarge(f"file of {format_bytes(end)} is over the limit of "
                       f"{format_bytes(limits.max_bytes)} (--max_mb)")
    progress = Progress(os.path.basename(part)[:-len(".part")], end, start, stream)
    with open(part, "ab" if start else "wb") as out:
        try:
            done = _copy(resp, out, start, limits, progress)
        finally:
            out.flush()
            os.fsync(out.fileno())
            progress.finish()
    return done, end


def fetch(url: str, part: str, limits: Limits, stream: IO[str]) -> int:
    """Download `url` into `part` (resuming from its size) within limits.max_seconds; returns the size."""
    with Watchdog(limits.max_seconds) as watchdog:
        try:
            size = _fetch(url, part, limits, stream, watchdog)
        except (DownloadError, OSError, http.client.HTTPException, urllib.error.URLError) as err:
            if not watchdog.expired or isinstance(err, TooLarge):
                raise
        else:
            # A shut socket reads as a clean end: cut headers end the headers, a body without
            # Content-Length just stops. Whatever came is not known to be the whole file.
            if not watchdog.expired:
                return size
    raise DownloadError(f"no complete file from {url} within {limits.max_seconds:g} s (--max_seconds); "
                        f"what arrived is kept in {part}: run again to resume")


def _fetch(url: str, part: str, limits: Limits, stream: IO[str], watchdog: Watchdog) -> int:
    offset = os.path.getsize(part) if os.path.exists(part) else 0
    try:
        resp = _request(url, offset, limits.timeout, watchdog)
    except urllib.error.HTTPError as err:
        if err.code != 416 or not offset:
            raise
        # Nothing left past `offset`: either the part is complete or it is not a prefix of this file.
        if _unsatisfiable_total(err.headers.get("Content-Range")) == offset:
            return offset
        os.remove(part)
        return _fetch(url, part, limits, stream, watchdog)
    try:
        with resp:
            done, end = _receive(resp, offset, part, limits, stream)
    except TooLarge:
        if os.path.exists(part):
            os.remove(part)  # our own partial copy of a file we will never accept
        raise
    if end is not None and done != end:
        raise DownloadError(f"truncated response: received {done} of {end} bytes; the part is kept "
                            f"in {part}: run again to resume")
    return done


# ------------------------------------------------------------------ checks

def check_npz(path: str, max_bytes: int) -> int:
    """Number of sketches in a file that passes the project's loader checks; DownloadError otherwise.

    The loader reads pickled arrays with an unpickler that rebuilds numpy arrays
    only (safe_npz.read_npz), so a crafted file is refused without running anything.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            if sum(m.file_size for m in archive.infolist()) > 8 * max_bytes:  # a decompression bomb
                raise DownloadError("archive expands to more than 8x the size limit")
        return safe_npz.check_file(path)
    except safe_npz.DataError as err:
        raise DownloadError(str(err)) from None
    except zipfile.BadZipFile as err:
        raise DownloadError(f"not a sketch .npz archive ({err})") from None
    except MemoryError:  # safe_npz's limits are generous; a file they pass may still not fit here
        raise DownloadError("too large to check in this machine's memory") from None


# ------------------------------------------------------------------ one category

def _publish(part: str, dest: str) -> None:
    """Move the checked part to its final name, never replacing a file that appeared meanwhile."""
    try:
        os.link(part, dest)  # fails if dest exists: no race with another writer
    except FileExistsError:
        raise DownloadError(f"{dest} appeared during the download; not replaced") from None
    except OSError:  # file systems without hard links
        if os.path.exists(dest):
            raise DownloadError(f"{dest} appeared during the download; not replaced") from None
        os.replace(part, dest)
        return
    os.remove(part)


def _reject(part: str, reason: str) -> DownloadError:
    """Quarantine a downloaded file that fails the checks, so it is neither loaded nor resumed."""
    bad = part[:-len(".part")] + ".rejected"
    os.replace(part, bad)
    return DownloadError(f"downloaded file rejected: {reason}; moved to {bad}")


def download_category(category: str, out_dir: str, base_url: str, limits: Limits,
                      stream: Optional[IO[str]] = None) -> str:
    """Fetch, check and publish one category; returns the one-line outcome, DownloadError on failure."""
    check_category(category)
    dest = os.path.join(out_dir, file_name(category))
    if os.path.exists(dest):
        try:
            count = check_npz(dest, limits.max_bytes)
        except DownloadError as err:
            raise DownloadError(f"{dest} exists but fails the checks ({err}); not replaced: "
                                f"remove it to download again") from None
        return f"{dest}: already present and valid ({count} sketches), skipped"
    url = category_url(base_url, category)
    part = dest + ".part"
    t0 = time.monotonic()
    try:
        size = fetch(url, part, limits, stream or sys.stderr)
    except urllib.error.HTTPError as err:
        if err.code == 404:
            raise DownloadError(f"category '{category}' not found on the server (HTTP 404): {url}") from None
        raise DownloadError(f"'{category}': HTTP {err.code} {err.reason}: {url}") from None
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as err:
        reason = getattr(err, "reason", None) or err
        raise DownloadError(f"'{category}': network error ({reason}) fetching {url}; "
                            f"run again to resume") from None
    except OSError as err:  # the local side: disk full, no permission
        raise DownloadError(f"'{category}': cannot write {part}: {err.strerror or err}") from None
    try:
        count = check_npz(part, limits.max_bytes)
    except DownloadError as err:
        raise _reject(part, str(err)) from None
    _publish(part, dest)
    return f"{dest}: {format_bytes(size)}, {count} sketches, in {time.monotonic() - t0:.1f} s"


# ------------------------------------------------------------------ command line

def parse_args(argv: Optional[list]) -> argparse.Namespace:
    """The command line; exits with usage on a bad one."""
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--dataset", type=int, choices=sorted(hparams.DATASETS),
                       help="one of the paper's datasets (see hparams.DATASETS)")
    which.add_argument("--categories", help="comma-separated category names, e.g. 'pig,alarm clock'")
    parser.add_argument("--out", required=True, help="folder for the .npz files (created if absent)")
    parser.add_argument("--base_url", default=DEFAULT_BASE_URL, help="where <category>.npz files are")
    parser.add_argument("--max_mb", type=float, default=1024.0, help="refuse files larger than this")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for the server at each step (connecting, each read)")
    parser.add_argument("--max_seconds", type=float, default=3600.0,
                        help="seconds one file may take in all; the part is kept for a rerun to resume")
    return parser.parse_args(argv)


def check_args(args: argparse.Namespace) -> list:
    """The categories to fetch; DownloadError for a command line that cannot be run."""
    check_base_url(args.base_url)
    for name in ("max_mb", "timeout", "max_seconds"):
        value = getattr(args, name)
        if not value > 0 or value == float("inf"):
            raise DownloadError(f"--{name} must be a positive number, got {value:g}")
    if args.dataset is not None:
        return dataset_categories(args.dataset)
    categories = [c.strip() for c in args.categories.split(",") if c.strip()]
    if not categories:
        raise DownloadError(f"--categories names no category (got {args.categories!r}); "
                            "give comma-separated names, e.g. 'pig,alarm clock'")
    return categories


def main(argv: Optional[list] = None) -> int:
    """Download every requested category; 0 if all succeeded, 1 if any failed, 2 on bad arguments."""
    args = parse_args(argv)
    try:
        categories = check_args(args)
    except DownloadError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    problem = fileio.writable_dir_problem(args.out)  # a file, /proc/..., a read-only mount
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    limits = Limits(max_bytes=int(args.max_mb * 1e6), timeout=args.timeout, max_seconds=args.max_seconds)
    failed = 0
    for category in categories:
        try:
            print(download_category(category, args.out, args.base_url, limits), flush=True)
        except DownloadError as err:
            failed += 1
            print(f"error: {err}", file=sys.stderr, flush=True)
    if failed:
        print(f"{failed} of {len(categories)} categories failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
