"""A local page to look inside a trained model: draw or load a sketch, see its graph, disrupt, redraw.

    python tools/serve.py --checkpoint pretrained/quickdraw4 [--data_dir data] [--port 8000] \
        [--host 127.0.0.1]

prints the page's address. The model is restored once; the page (web/index.html,
app.js, style.css; nothing fetched from elsewhere) talks to a small JSON API.
Sketches travel as stroke-3 rows [dx, dy, pen_lifted] in the data's raw units
(QuickDraw's: about 256 per canvas); the server divides by the model's scale_factor.

    GET  /api/categories            {categories, counts, max_points, max_nodes, limits}
    GET  /api/sample?category=C[&index=I]   {strokes, category, index} (a random index without I)
    POST /api/graph       {strokes}                -> {nodes: [{stroke, points, box}], cells, used}
    POST /api/disrupt     {strokes, re_scale, seed}   -> {strokes}
    POST /api/redraw      {strokes, temperature, greedy, seed, re_scale} -> {strokes, input, ended}
    POST /api/interpolate {a, b, steps, mode, temperature, greedy, seed} -> {sketches, ts}

Every request is untrusted: the body is capped (MAX_BODY bytes), a sketch holds
at most the model's max_seq_len points, every number must be finite and in its
range; anything else is answered 4xx with {"error": "..."} and the server goes on.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import warnings
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # the project's modules, when run as `python tools/serve.py`
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # explore.py beside this file

import numpy as np  # noqa: E402

import checkpoints  # noqa: E402
import errors  # noqa: E402
import explore  # noqa: E402
import graph_builder  # noqa: E402
import safe_npz  # noqa: E402
import sample_abs  # noqa: E402
import utils  # noqa: E402

WEB = os.path.join(REPO, "web")
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/index.html": ("index.html", "text/html; charset=utf-8"),
          "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/style.css": ("style.css", "text/css; charset=utf-8")}
MAX_BODY = 256 * 1024  # bytes; two sketches of max_seq_len rows need a few KiB
MAX_COORD = 10000.0  # largest |dx| or |dy| accepted (raw units; a canvas is about 256)
MAX_STEPS = 16
LIMITS = {"temperature": (0.01, 2.0), "re_scale": (0.0, 1.0), "seed": (0, 2**31 - 1),
          "steps": (2, MAX_STEPS)}


class ApiError(Exception):
    """A request the API refuses: answered with `status` and {"error": message}."""

    def __init__(self, message: str, status: int = HTTPStatus.BAD_REQUEST):
        super().__init__(message)
        self.status = int(status)


# --------------------------------------------------------------- validation

def _reject_constant(name: str) -> None:
    raise ApiError(f"numbers must be finite, got {name}")


def parse_body(raw: bytes) -> dict:
    """The JSON object of a request body; ApiError for anything else (NaN and Infinity included)."""
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ApiError(f"body is not valid JSON ({errors.first_line(err, 80)})") from None
    if not isinstance(body, dict):
        raise ApiError(f"body must be a JSON object, got {type(body).__name__}")
    return body


def _is_number(v: object) -> bool:
    """A JSON number that is not a bool; floats finite (an int is, and may be too big for a float)."""
    if isinstance(v, bool):
        return False
    return isinstance(v, int) or (isinstance(v, float) and math.isfinite(v))


def number(body: dict, key: str, default: float) -> float:
    """A finite number in LIMITS[key] (default when absent)."""
    value = body.get(key, default)
    lo, hi = LIMITS[key]
    if not _is_number(value) or not lo <= value <= hi:
        raise ApiError(f"'{key}' must be a number in [{lo}, {hi}], got {json.dumps(value)[:40]}")
    return float(value)


def integer(body: dict, key: str, default: int) -> int:
    """An integer in LIMITS[key] (default when absent)."""
    value = body.get(key, default)
    lo, hi = LIMITS[key]
    # The range first: float() of a huge JSON integer would overflow.
    if not (_is_number(value) and lo <= value <= hi and float(value).is_integer()):
        raise ApiError(f"'{key}' must be an integer in [{lo}, {hi}], got {json.dumps(value)[:40]}")
    return int(value)


def boolean(body: dict, key: str, default: bool) -> bool:
    """true or false (default when absent)."""
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise ApiError(f"'{key}' must be true or false, got {json.dumps(value)[:40]}")
    return value


def sketch(body: dict, key: str, max_points: int) -> np.ndarray:
    """Stroke-3 rows [n, 3] float32 (raw units): 1..max_points rows of finite [dx, dy, 0 or 1].

    The last row's pen is set to lifted: a sketch ends with the end of a stroke.
    """
    rows = body.get(key)
    if not isinstance(rows, list) or not rows:
        raise ApiError(f"'{key}' must be a non-empty list of [dx, dy, pen] rows")
    if len(rows) > max_points:
        raise ApiError(f"'{key}' has {len(rows)} points, the model takes at most {max_points}; "
                       "simplify the sketch", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    for i, row in enumerate(rows):
        if not (isinstance(row, list) and len(row) == 3 and all(_is_number(v) for v in row)
                and abs(row[0]) <= MAX_COORD and abs(row[1]) <= MAX_COORD and row[2] in (0, 1)):
            raise ApiError(f"'{key}' row {i} must be [dx, dy, pen] with finite |dx|, |dy| <= "
                           f"{MAX_COORD:g} and pen 0 or 1, got {json.dumps(row)[:60]}")
    out = np.array(rows, np.float32)
    out[-1, 2] = 1.0
    return out


def decoding(body: dict) -> tuple:
    """(greedy, temperature, seed) of a request; greedy false, temperature 0.24, seed 0 by default."""
    return boolean(body, "greedy", False), number(body, "temperature", 0.24), integer(body, "seed", 0)


def as_rows(strokes: np.ndarray) -> list:
    """Stroke-3 array -> JSON rows (2 decimals, integer pen)."""
    return [[round(float(dx), 2), round(float(dy), 2), int(pen > 0.5)] for dx, dy, pen in strokes]


# -------------------------------------------------------------------- model

class Explorer:
    """The restored model, the test sketches and what the API computes with them."""

    def __init__(self, generator, data_dir: str | None):
        self.generator, self.hps = generator, generator.hps
        self.scale = np.float32(generator.scale_factor)
        self.categories = list(self.hps.categories)
        self.tests = {c: [] for c in self.categories}
        if data_dir:
            with warnings.catch_warnings():  # notes on the training split; only test sketches are served
                warnings.simplefilter("ignore", safe_npz.DataWarning)
                loaded = sample_abs.load_test_sketches(data_dir, self.categories, self.hps.num_per_category,
                                                       self.hps, generator.scale_factor)
            self.tests = dict(zip(self.categories, loaded))
        # One model call at a time: the threads of the server share one model, and a local
        # single-user page gains nothing from decoding two sketches at once.
        self.lock = threading.Lock()
        self.rng = np.random.default_rng()

    @property
    def max_points(self) -> int:
        """Most points the model reads or writes (max_seq_len)."""
        return int(self.hps.max_seq_len)

    def warm_up(self) -> None:
        """Trace the compiled encoder and both decoders now, so the page's first redraw is quick."""
        dot = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], np.float32)
        for greedy in (True, False):
            self._decode(self._encode([dot]), (greedy, 0.24, 0))

    def info(self) -> dict:
        """/api/categories."""
        return {"categories": self.categories, "counts": [len(self.tests[c]) for c in self.categories],
                "max_points": self.max_points, "max_nodes": int(self.hps.max_strokes_num),
                "scale_factor": float(self.scale), "limits": LIMITS}

    def sample(self, query: dict) -> dict:
        """/api/sample: a test sketch of a category, by index or at random."""
        category = query.get("category", [""])[0]
        if category not in self.tests:
            raise ApiError(f"unknown category {category[:40]!r}; categories: {', '.join(self.categories)}")
        count = len(self.tests[category])
        if not count:
            raise ApiError("the server was started without test sketches (--data_dir)", HTTPStatus.NOT_FOUND)
        text = query.get("index", [None])[0]
        if text is None:
            index = int(self.rng.integers(count))
        elif text.isdigit() and int(text) < count:
            index = int(text)
        else:
            raise ApiError(f"'index' must be an integer in [0, {count - 1}], got {text[:20]!r}")
        strokes = np.array(self.tests[category][index], np.float32)
        strokes[:, :2] *= self.scale
        return {"strokes": as_rows(strokes), "category": category, "index": index}

    def graph(self, body: dict) -> dict:
        """/api/graph: the nodes (strokes cut as the model cuts them), per node the nodes in each cell."""
        points = utils.to_absolute(sketch(body, "strokes", self.max_points))
        pieces = graph_builder.split_pieces(points, self.hps.max_stroke_len + 1)
        used = min(len(pieces), int(self.hps.max_strokes_num))
        relations = graph_builder.grid_relations(pieces, len(pieces))  # [n, n, 9], every node
        stroke_of = np.cumsum([0] + [int(p[-1, 2] > 0.5) for p in _with_pen(points, pieces)])[:-1]
        nodes = [{"stroke": int(s), "points": np.round(p, 2).tolist(),
                  "box": np.round(graph_builder.piece_boxes([p])[0], 2).tolist()}
                 for s, p in zip(stroke_of, pieces)]
        cells = [[[int(j) for j in np.flatnonzero(relations[i, :, k]) if j != i] for k in range(9)]
                 for i in range(len(pieces))]
        return {"nodes": nodes, "cells": cells, "used": used}

    def disrupt(self, body: dict) -> dict:
        """/api/disrupt: every stroke but the first moved (METHOD.md §3), seeded."""
        strokes = sketch(body, "strokes", self.max_points)
        moved = sample_abs.disrupt_strokes([strokes], number(body, "re_scale", 0.3),
                                           np.random.default_rng(integer(body, "seed", 0)))[0]
        return {"strokes": as_rows(moved)}

    def _decode(self, codes: np.ndarray, settings: tuple) -> list:
        """Generated sketches (stroke-3, raw units) of the codes, decoded with (greedy, temperature, seed)."""
        greedy, temperature, seed = settings
        with self.lock:
            points = explore.decode(self.generator, codes, greedy, temperature, seed)
        out = []
        for p in points:
            p = np.array(p, np.float32)
            p[:, :2] *= self.scale
            out.append(utils.to_stroke3(p) if len(p) else np.zeros((0, 3), np.float32))
        return out

    def _encode(self, sketches: list) -> np.ndarray:
        normalised = []
        for s in sketches:
            s = np.array(s, np.float32)
            s[:, :2] /= self.scale
            normalised.append(s)
        with self.lock:
            return self.generator.encode(normalised)

    def redraw(self, body: dict) -> dict:
        """/api/redraw: the (disrupted) sketch encoded to its code mean and decoded."""
        strokes, settings = sketch(body, "strokes", self.max_points), decoding(body)
        re_scale = number(body, "re_scale", 0.0)
        inputs = sample_abs.disrupt_strokes([strokes], re_scale, np.random.default_rng(settings[2]))
        generated = self._decode(self._encode(inputs), settings)[0]
        return {"strokes": as_rows(generated), "input": as_rows(inputs[0]),
                "ended": bool(len(generated) < self.max_points)}

    def interpolate(self, body: dict) -> dict:
        """/api/interpolate: sketches decoded from codes between the code means of a and b."""
        a, b = sketch(body, "a", self.max_points), sketch(body, "b", self.max_points)
        steps = integer(body, "steps", 9)
        mode = body.get("mode", "slerp")
        if mode not in explore.MODES:
            raise ApiError(f"'mode' must be one of {', '.join(explore.MODES)}, got {json.dumps(mode)[:40]}")
        settings = decoding(body)
        mu = self._encode([a, b])
        codes = explore.interpolation_codes(mu[0], mu[1], steps, mode)
        return {"sketches": [as_rows(s) for s in self._decode(codes, settings)],
                "ts": np.linspace(0, 1, steps).round(4).tolist()}


def _with_pen(points: np.ndarray, pieces: list) -> list:
    """The pieces with their pen column (split_pieces keeps only x, y)."""
    ends = np.cumsum([len(p) for p in pieces])[:-1]
    return np.split(points, ends)


# ------------------------------------------------------------------- server

class Handler(BaseHTTPRequestHandler):
    """Static page files and the JSON API; every failure is a JSON error and the server goes on."""

    explorer: Explorer  # set on the subclass made by make_server
    quiet = True
    server_version = "sketchgloc-explore"
    timeout = 60  # seconds a client may take to send its request; a stalled one frees its thread

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        if not self.quiet:
            super().log_message(format, *args)

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        # The page's files come from this server only: no script, style or request goes elsewhere.
        self.send_header("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(payload)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (not HTTP, unknown method, ...) as JSON errors too."""
        self.close_connection = True
        try:
            self._json(code, {"error": message or HTTPStatus(code).phrase})
        except OSError:  # the client is gone
            pass

    def _json(self, status: int, obj: dict) -> None:
        self._send(status, json.dumps(obj).encode("utf-8"), "application/json")

    def _guard(self, work) -> None:
        try:
            self._json(HTTPStatus.OK, work())
        except ApiError as err:
            self._json(err.status, {"error": str(err)})
        except Exception as err:  # a bug: the request fails, the server keeps serving
            self.log_error("internal error: %r", err)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error ({type(err).__name__})"})

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        if url.path in STATIC:
            name, kind = STATIC[url.path]
            with open(os.path.join(WEB, name), "rb") as f:
                self._send(HTTPStatus.OK, f.read(), kind)
        elif url.path == "/api/categories":
            self._guard(self.explorer.info)
        elif url.path == "/api/sample":
            self._guard(lambda: self.explorer.sample(parse_qs(url.query)))
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page or API: {url.path[:60]}"})

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        routes = {"/api/graph": self.explorer.graph, "/api/disrupt": self.explorer.disrupt,
                  "/api/redraw": self.explorer.redraw, "/api/interpolate": self.explorer.interpolate}
        route = routes.get(urlsplit(self.path).path)
        self._guard(lambda: self._post(route))

    def _post(self, route) -> dict:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True  # the body's end is unknown: do not read another request
            raise ApiError("a Content-Length header is required", HTTPStatus.LENGTH_REQUIRED)
        if int(length) > MAX_BODY:
            self.close_connection = True  # the body is left unread
            raise ApiError(f"body of {length} bytes is over the limit of {MAX_BODY}",
                           HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        raw = self.rfile.read(int(length))
        if route is None:
            raise ApiError(f"no such API: {self.path[:60]}", HTTPStatus.NOT_FOUND)
        return route(parse_body(raw))


class Server(ThreadingHTTPServer):
    """A ThreadingHTTPServer that does not print a traceback when a client hangs up mid-request."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def make_server(explorer: Explorer, host: str = "127.0.0.1", port: int = 0,
                quiet: bool = True) -> ThreadingHTTPServer:
    """A server bound to host:port (0: a free port), not yet serving."""
    handler = type("ExploreHandler", (Handler,), {"explorer": explorer, "quiet": quiet})
    # The standard library's threading server is enough for a local single-user page: no
    # dependency to install, and one slow generation does not block loading the page's files.
    return Server((host, port), handler)


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, help="training folder (e.g. pretrained/quickdraw4)")
    p.add_argument("--ckpt_id", type=int, default=0)
    p.add_argument("--data_dir", default="data", help="folder of <category>.npz test sketches ('' for none)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="0: any free port")
    p.add_argument("--verbose", action="store_true", help="log every request")
    return p


@errors.guarded
def main(argv: list | None = None) -> None:
    """CLI entry: load the model once, then serve until interrupted."""
    args = parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        raise errors.UsageError(f"--port must be in 0..65535, got {args.port}")
    checkpoints.check_folder(args.checkpoint, args.ckpt_id)
    generator = sample_abs.SketchGenerator(args.checkpoint, args.ckpt_id)
    try:
        explorer = Explorer(generator, args.data_dir)
    except safe_npz.DataError as err:
        raise errors.UserError(errors.first_line(err)) from None
    try:  # bound before the model is traced: a busy port fails at once
        server = make_server(explorer, args.host, args.port, quiet=not args.verbose)
    except OSError as err:
        raise errors.UserError(f"cannot listen on {args.host}:{args.port} ({err.strerror or err})") from None
    print("tracing the model once...", flush=True)
    explorer.warm_up()
    host, port = server.server_address[:2]
    if host not in ("127.0.0.1", "::1", "localhost"):
        print(f"warning: listening on {host}: anyone who can reach this machine can use the page "
              "(it has no login)", flush=True)
    print(f"serving {args.checkpoint} at http://{host}:{port}/ (Ctrl+C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
