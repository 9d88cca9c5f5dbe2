"""tools/download_quickdraw.py against a local HTTP server (127.0.0.1 only) with Range support."""
import collections
import http.server
import os
import re
import socket
import sys
import threading
import time
import urllib.parse

import numpy as np
import pytest

import safe_npz
import utils

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import download_quickdraw as dq  # noqa: E402


def write_npz(path: str, seed: int, n: int = 40) -> bytes:
    """A small valid sketch-rnn .npz (n sketches per split); returns its bytes."""
    rng = np.random.default_rng(seed)
    splits = {}
    for split in utils.SPLITS:
        arr = np.empty(n, dtype=object)
        for i in range(n):
            pts = rng.integers(-20, 20, size=(int(rng.integers(5, 30)), 3)).astype(np.int16)
            pts[:, 2] = rng.random(len(pts)) < 0.2
            pts[-1, 2] = 1
            arr[i] = pts
        splits[split] = arr
    np.savez(path, **splits)
    with open(path, "rb") as f:
        return f.read()


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves files of `server.root` with `Range: bytes=N-`; `server.truncate[name]` cuts a body short."""

    def do_GET(self):
        self.server.requests.append((self.path, self.headers.get("Range")))
        if self.server.slow:
            self.dribble(self.server.slow)
            return
        name = urllib.parse.unquote(self.path.lstrip("/"))
        path = os.path.join(self.server.root, name)
        if "/" in name or not os.path.isfile(path):
            self.send_error(404)
            return
        with open(path, "rb") as f:
            data = f.read()
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and not self.server.ignore_range:
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        # Honest headers, short body: the connection closes after `truncate` bytes.
        self.wfile.write(data[start:self.server.truncate.get(name, len(data))])

    def dribble(self, where):
        """Honest, but one byte every 0.1 s: of a 1000-byte body, or of an endless header."""
        if where == "body":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
        else:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        try:
            for _ in range(300):  # 30 s at most, whatever the client does
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:  # the client gave up
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A threaded HTTP server on 127.0.0.1, an ephemeral port, serving tmp_path/srv."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")  # nothing may go anywhere but 127.0.0.1
    root = tmp_path / "srv"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    httpd.root, httpd.requests, httpd.truncate, httpd.ignore_range = str(root), [], {}, False
    httpd.slow = None
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    httpd.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def run(server, out, *args):
    """main() with the local server as base URL."""
    return dq.main(["--out", str(out), "--base_url", server.base_url, "--timeout", "10", *args])


def test_download_two_categories(server, tmp_path, capsys):
    pig = write_npz(os.path.join(server.root, "pig.npz"), 1)
    clock = write_npz(os.path.join(server.root, "alarm clock.npz"), 2)
    out = tmp_path / "out"
    assert run(server, out, "--categories", "pig,alarm clock") == 0
    assert (out / "pig.npz").read_bytes() == pig
    assert (out / "alarm clock.npz").read_bytes() == clock
    assert sorted(os.listdir(out)) == ["alarm clock.npz", "pig.npz"]  # no .part left over
    assert [p for p, _ in server.requests] == ["/pig.npz", "/alarm%20clock.npz"]
    captured = capsys.readouterr()
    assert "120 sketches" in captured.out
    assert "pig.npz" in captured.err and "100%" in captured.err and "ETA" in captured.err  # progress
    data = utils.load_dataset(str(out), ["pig", "alarm clock"])
    assert len(data.train.labels) == 80


def test_resume_from_partial_file(server, tmp_path):
    full = write_npz(os.path.join(server.root, "pig.npz"), 3)
    out = tmp_path / "out"
    out.mkdir()
    half = len(full) // 2
    (out / "pig.npz.part").write_bytes(full[:half])
    assert run(server, out, "--categories", "pig") == 0
    assert server.requests == [("/pig.npz", f"bytes={half}-")]
    assert (out / "pig.npz").read_bytes() == full
    assert not (out / "pig.npz.part").exists()


def test_server_without_range_support_restarts(server, tmp_path):
    full = write_npz(os.path.join(server.root, "pig.npz"), 12)
    server.ignore_range = True
    out = tmp_path / "out"
    out.mkdir()
    (out / "pig.npz.part").write_bytes(b"x" * 100)  # would corrupt the file if appended to
    assert run(server, out, "--categories", "pig") == 0
    assert server.requests == [("/pig.npz", "bytes=100-")]
    assert (out / "pig.npz").read_bytes() == full


def test_complete_part_is_checked_and_published(server, tmp_path):
    full = write_npz(os.path.join(server.root, "pig.npz"), 4)
    out = tmp_path / "out"
    out.mkdir()
    (out / "pig.npz.part").write_bytes(full)  # killed after the last byte, before the rename
    assert run(server, out, "--categories", "pig") == 0
    assert server.requests == [("/pig.npz", f"bytes={len(full)}-")]  # answered 416
    assert (out / "pig.npz").read_bytes() == full


def test_404_names_category_and_url(server, tmp_path, capsys):
    write_npz(os.path.join(server.root, "pig.npz"), 5)
    out = tmp_path / "out"
    assert run(server, out, "--categories", "unicorn,pig") == 1
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if "unicorn" in x)
    assert "'unicorn'" in line and "404" in line and server.base_url + "unicorn.npz" in line
    assert "1 of 2 categories failed" in err
    assert sorted(os.listdir(out)) == ["pig.npz"]  # the other category still downloaded


def test_truncated_response_kept_then_resumed(server, tmp_path, capsys):
    full = write_npz(os.path.join(server.root, "pig.npz"), 6)
    server.truncate["pig.npz"] = 1000
    out = tmp_path / "out"
    assert run(server, out, "--categories", "pig") == 1
    assert "truncated response: received 1000 of %d bytes" % len(full) in capsys.readouterr().err
    assert not (out / "pig.npz").exists()
    assert (out / "pig.npz.part").read_bytes() == full[:1000]
    server.truncate.clear()
    assert run(server, out, "--categories", "pig") == 0
    assert server.requests[-1] == ("/pig.npz", "bytes=1000-")
    assert (out / "pig.npz").read_bytes() == full


def test_existing_valid_file_skipped_not_fetched(server, tmp_path, capsys):
    write_npz(os.path.join(server.root, "pig.npz"), 7)
    out = tmp_path / "out"
    out.mkdir()
    mine = write_npz(str(out / "pig.npz"), 8)  # a different, valid file of the user's
    assert run(server, out, "--categories", "pig") == 0
    assert (out / "pig.npz").read_bytes() == mine
    assert server.requests == []
    assert "already present and valid (120 sketches), skipped" in capsys.readouterr().out


def test_existing_invalid_file_not_replaced(server, tmp_path, capsys):
    write_npz(os.path.join(server.root, "pig.npz"), 9)
    out = tmp_path / "out"
    out.mkdir()
    (out / "pig.npz").write_bytes(b"my notes")
    assert run(server, out, "--categories", "pig") == 1
    assert (out / "pig.npz").read_bytes() == b"my notes"
    assert "exists but fails the checks" in capsys.readouterr().err
    assert server.requests == []


def test_corrupt_download_rejected(server, tmp_path, capsys):
    with open(os.path.join(server.root, "pig.npz"), "wb") as f:
        f.write(b"<html>not found</html>" * 50)
    out = tmp_path / "out"
    assert run(server, out, "--categories", "pig") == 1
    assert "downloaded file rejected" in capsys.readouterr().err
    assert sorted(os.listdir(out)) == ["pig.npz.rejected"]  # neither loadable nor resumable


def test_pickle_with_foreign_global_rejected(server, tmp_path, capsys):
    arr = np.empty(1, dtype=object)
    arr[0] = collections.OrderedDict()  # harmless here, but any global could be a code call
    np.savez(os.path.join(server.root, "pig.npz"), train=arr, valid=arr, test=arr)
    out = tmp_path / "out"
    assert run(server, out, "--categories", "pig") == 1
    assert "pickle refers to collections.OrderedDict, which is not allowed" in capsys.readouterr().err
    assert not (out / "pig.npz").exists()


def test_size_limit(server, tmp_path, capsys):
    write_npz(os.path.join(server.root, "pig.npz"), 10)
    out = tmp_path / "out"
    assert run(server, out, "--categories", "pig", "--max_mb", "0.001") == 1
    assert "over the limit" in capsys.readouterr().err
    assert os.listdir(out) == []


def test_great_wall_name_mapping(server, tmp_path):
    assert "The Great Wall" in dq.dataset_categories(2)
    assert len(dq.dataset_categories(2)) == 10
    assert dq.file_name("The Great Wall") == "The Great Wall of China.npz"
    assert dq.category_url("https://h/x/", "The Great Wall") == "https://h/x/The%20Great%20Wall%20of%20China.npz"
    write_npz(os.path.join(server.root, "The Great Wall of China.npz"), 11)
    out = tmp_path / "out"
    assert run(server, out, "--categories", "The Great Wall") == 0
    assert server.requests[0][0] == "/The%20Great%20Wall%20of%20China.npz"
    assert len(utils.load_dataset(str(out), ["The Great Wall"]).test.labels) == 40


def test_only_http_urls_and_safe_names(tmp_path, capsys):
    assert dq.main(["--categories", "pig", "--out", str(tmp_path), "--base_url", "file:///etc"]) == 2
    assert "http:// or https://" in capsys.readouterr().err
    for bad in ("../pig", "a/b", ".hidden"):
        with pytest.raises(dq.DownloadError, match="bad category name"):
            dq.download_category(bad, str(tmp_path), "http://127.0.0.1:9/", dq.Limits(1000, 1.0))


def test_network_error_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("no_proxy", "*")
    # A port that was just free: connection refused, without leaving 127.0.0.1.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    assert dq.main(["--categories", "pig", "--out", str(tmp_path), "--base_url", url, "--timeout", "5"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: 'pig': network error") and url + "pig.npz" in err[0]


def test_progress_formatting():
    assert dq.format_bytes(512) == "512 B"
    assert dq.format_bytes(12_300_000) == "12.3 MB"
    assert dq.format_eta(75) == "1:15" and dq.format_eta(3725) == "1:02:05" and dq.format_eta(None) == "--"
    assert dq.parse_content_range("bytes 10-19/20") == (10, 20)


# ---- issue 21: total time, bombs, bad --out and --categories ---------------------------------

@pytest.mark.parametrize("where", ["body", "headers"])
def test_a_slow_server_cannot_hold_a_download_past_max_seconds(server, tmp_path, capsys, where):
    server.slow = where
    out = tmp_path / "out"
    start = time.perf_counter()
    assert dq.main(["--out", str(out), "--base_url", server.base_url, "--categories", "pig",
                    "--timeout", "1", "--max_seconds", "1.5"]) == 1
    seconds = time.perf_counter() - start
    assert 1.4 < seconds < 4  # every read came within --timeout; the total is what stopped it
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("pig.npz  ")]
    assert len(err) == 2 and err[1] == "1 of 1 categories failed", err  # no traceback
    assert err[0].startswith("error: no complete file from " + server.base_url + "pig.npz within 1.5 s "
                             "(--max_seconds)"), err
    assert not (out / "pig.npz").exists()
    if where == "body":  # what arrived is kept for a rerun to resume
        assert 5 <= os.path.getsize(out / "pig.npz.part") < 1000


def bomb_npz(path, points):
    """A sketch-rnn file whose one training sketch has `points` zero rows: tiny compressed."""
    arr = np.empty(1, object)
    arr[0] = np.zeros((points, 3), np.int16)
    small = np.empty(1, object)
    small[0] = np.array([[1, 2, 0], [3, 4, 1]], np.int16)
    np.savez_compressed(path, train=arr, valid=small, test=small)


def test_a_decompression_bomb_is_moved_to_rejected(server, tmp_path, capsys, monkeypatch):
    # 600 kB inside, 1 kB on the wire (the 200M x 3 sketch, scaled to the limit below):
    # within 8x --max_mb, over safe_npz's limit on what one file may expand to.
    bomb_npz(os.path.join(server.root, "pig.npz"), 100_000)
    assert os.path.getsize(os.path.join(server.root, "pig.npz")) < 5_000
    monkeypatch.setattr(safe_npz, "MAX_BYTES", 200_000)
    out = tmp_path / "out"
    assert run(server, out, "--categories", "pig", "--max_mb", "1") == 1
    err = capsys.readouterr().err
    assert "downloaded file rejected" in err and "more than the limit of 200,000" in err
    assert "split 'train'" in err and "Traceback" not in err
    assert sorted(os.listdir(out)) == ["pig.npz.rejected"]  # a rerun fetches anew, never resumes it


def test_a_file_too_large_for_memory_is_rejected(server, tmp_path, capsys, monkeypatch):
    write_npz(os.path.join(server.root, "pig.npz"), 13)

    def out_of_memory(path):
        raise MemoryError

    monkeypatch.setattr(safe_npz, "check_file", out_of_memory)
    out = tmp_path / "out"
    assert run(server, out, "--categories", "pig") == 1
    assert "too large to check in this machine's memory" in capsys.readouterr().err
    assert sorted(os.listdir(out)) == ["pig.npz.rejected"]


@pytest.mark.parametrize("out, problem", [("FILE", "is a file, not a folder"),
                                          ("FILE/sub", "cannot create the folder"),
                                          ("/proc/1/x", "cannot create the folder")])
def test_an_unusable_out_is_one_error_line(tmp_path, capsys, out, problem):
    (tmp_path / "FILE").write_bytes(b"user data")
    out = out.replace("FILE", str(tmp_path / "FILE"))
    assert dq.main(["--categories", "pig", "--out", out, "--base_url", "http://127.0.0.1:9/"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {out}: {problem}"), err
    assert (tmp_path / "FILE").read_bytes() == b"user data"


@pytest.mark.parametrize("args, message", [
    (["--categories", ""], "--categories names no category (got '')"),
    (["--categories", " , "], "--categories names no category (got ' , ')"),
    (["--categories", "pig", "--max_seconds", "0"], "--max_seconds must be a positive number, got 0"),
    (["--categories", "pig", "--timeout", "-1"], "--timeout must be a positive number, got -1"),
])
def test_a_command_line_that_fetches_nothing_is_a_usage_error(tmp_path, capsys, args, message):
    assert dq.main([*args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {message}"), err
    assert not (tmp_path / "out").exists()
