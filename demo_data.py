"""Built-in demo dataset: procedurally drawn multi-stroke sketches in sketch-rnn `.npz` format.

Five categories (face, house, sun, tree, car) are assembled from parts in a
canonical frame (y up, about [-1, 1]) and then jittered: stroke order (part of
the strokes permuted), stroke direction, aspect, small rotation, size, position,
per-stroke offset and per-point noise. The result is flipped to QuickDraw's
y-down convention, rounded to integer coordinates and stored as stroke-3 rows
`(dx, dy, pen_lifted)`. The origin (the implicit point before the first row) lies
near the centre of the sketch's bounding box, so the first row is the first
point's offset from it. Nothing is downloaded; the same seed gives byte-identical
files.
"""
from __future__ import annotations

import os
from typing import Callable

import numpy as np

import cli
import fileio
import safe_npz
import utils

# Bump whenever the generator's output changes: it names the cache folder.
VERSION = 2
CATEGORIES: tuple[str, ...] = ("face", "house", "sun", "tree", "car")
MAX_POINTS = 100
MAX_STROKES = 12
SPLITS = ("train", "valid", "test")
_SIZE_KEYS = ("n_train", "n_valid", "n_test")
_DEFAULT_SIZES = {"n_train": 1000, "n_valid": 100, "n_test": 100}


# --- primitives (canonical frame, y up) -------------------------------------------------
# Scalar draws go through rng.random(): rng.uniform/choice cost ~10x more per call, and
# thousands of tiny sketches make call overhead the whole generation time.

def _u(rng: np.random.Generator, low: float, high: float) -> float:
    """One uniform draw in [low, high)."""
    return low + (high - low) * rng.random()


def _sign(rng: np.random.Generator) -> float:
    """-1.0 or +1.0 with equal probability."""
    return 1.0 if rng.random() < 0.5 else -1.0


def _ramp(n: int) -> np.ndarray:
    """n evenly spaced values from 0 to 1 (cheaper than np.linspace)."""
    return np.arange(n) / (n - 1)


def _ellipse(rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float,
             n: int, wobble: float = 0.04) -> np.ndarray:
    """Closed, slightly wobbly ellipse from a random start angle in a random direction."""
    sweep = (2 * np.pi + _u(rng, 0.0, 0.3)) * _sign(rng)
    t = _u(rng, 0, 2 * np.pi) + sweep * _ramp(n)
    ph = rng.random(2) * (2 * np.pi)
    r = 1.0 + wobble * (np.sin(2 * t + ph[0]) + 0.5 * np.sin(3 * t + ph[1]))
    return np.stack([cx + rx * r * np.cos(t), cy + ry * r * np.sin(t)], axis=1)


def _poly(*points: tuple[float, float]) -> np.ndarray:
    """Polyline through the given points."""
    return np.asarray(points, dtype=np.float64)


def _densify(line: np.ndarray, max_seg: float) -> np.ndarray:
    """Add points on segments longer than `max_seg`; noise later turns them into wobbles."""
    seg = np.diff(line, axis=0)
    k = np.maximum(1, np.ceil(np.hypot(seg[:, 0], seg[:, 1]) / max_seg).astype(np.int64))
    idx = np.repeat(np.arange(len(seg)), k)  # segment of every output point
    step = np.arange(idx.size) - np.repeat(np.cumsum(k) - k, k)  # its index inside the segment
    return np.concatenate([line[idx] + seg[idx] * (step / k[idx])[:, None], line[-1:]], axis=0)


def _closed(*points: tuple[float, float]) -> np.ndarray:
    """Polygon: polyline through the points and back to the first."""
    return _poly(*points, points[0])


def _box(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Closed rectangle drawn from its (x0, y1) corner."""
    return _closed((x0, y1), (x0, y0), (x1, y0), (x1, y1))


def _parabola(x0: float, x1: float, y: float, depth: float, n: int) -> np.ndarray:
    """Arc from (x0, y) to (x1, y) whose middle sits `depth` lower (a smile for depth > 0)."""
    u = 2 * _ramp(n) - 1
    return np.stack([(x0 + x1) / 2 + u * (x1 - x0) / 2, y - depth * (1 - u ** 2)], axis=1)


# --- categories ---------------------------------------------------------------------------

def _face(rng: np.random.Generator) -> list[np.ndarray]:
    """Head outline, two eyes, optional nose, mouth."""
    rx = _u(rng, 0.8, 1.0)
    ry = rx * _u(rng, 1.0, 1.2)
    strokes = [_ellipse(rng, 0, 0, rx, ry, int(rng.integers(14, 19)))]
    ex, ey, er = rx * _u(rng, 0.3, 0.45), ry * _u(rng, 0.2, 0.4), rx * _u(rng, 0.09, 0.15)
    open_eyes = rng.random() < 0.75
    for side in (-1, 1):
        if open_eyes:
            strokes.append(_ellipse(rng, side * ex, ey, er, er * _u(rng, 0.8, 1.3),
                                    int(rng.integers(5, 8)), wobble=0.03))
        else:  # closed eyes: a small downward arc
            x = side * ex
            strokes.append(_parabola(x - er * 1.3, x + er * 1.3, ey, er * 0.6, 3))
    if rng.random() < 0.6:
        ny, nh = ry * _u(rng, -0.05, 0.1), ry * _u(rng, 0.15, 0.25)
        nose = _poly((0.0, ny + nh), (-rx * 0.1, ny - 0.3 * nh), (rx * 0.03, ny - 0.4 * nh))
        strokes.append(nose)
    mw, my = rx * _u(rng, 0.28, 0.5), -ry * _u(rng, 0.35, 0.5)
    depth = ry * _u(rng, 0.08, 0.25) * (1.0 if rng.random() < 0.8 else -0.6)
    strokes.append(_parabola(-mw, mw, my, depth, int(rng.integers(4, 7))))
    return strokes


def _house(rng: np.random.Generator) -> list[np.ndarray]:
    """Walls, roof, door, window (maybe with a cross), optional chimney."""
    w, top, bottom = _u(rng, 0.65, 0.9), _u(rng, -0.05, 0.2), -1.0
    seg = _u(rng, 0.4, 0.7)
    walls = [(-w, top), (-w, bottom), (w, bottom), (w, top)]
    if rng.random() < 0.5:
        walls.append((-w, top))
    apex, rh, over = _u(rng, -0.1, 0.1) * w, _u(rng, 0.55, 0.85), _u(rng, 0.0, 0.12)
    strokes = [_densify(_poly(*walls), seg),
               _densify(_poly((-w - over, top), (apex, top + rh), (w + over, top)), seg)]
    side = _sign(rng)
    dx, dw = side * _u(rng, 0.0, 0.3), _u(rng, 0.12, 0.18)
    dy = bottom + (top - bottom) * _u(rng, 0.45, 0.7)
    strokes.append(_box(dx - dw, dy, dx + dw, bottom)[:-1])  # open at the bottom
    wx, wy = -side * w * _u(rng, 0.5, 0.62), bottom + (top - bottom) * _u(rng, 0.5, 0.7)
    ws = _u(rng, 0.1, 0.16)
    strokes.append(_box(wx - ws, wy - ws, wx + ws, wy + ws))
    if rng.random() < 0.5:
        strokes += [_poly((wx, wy + ws), (wx, wy - ws)), _poly((wx - ws, wy), (wx + ws, wy))]
    if rng.random() < 0.5:
        strokes.append(_chimney(rng, w, top, apex, rh, over))
    return strokes


def _chimney(rng: np.random.Generator, w: float, top: float, apex: float, rh: float,
             over: float) -> np.ndarray:
    """Open box standing on the roof slope."""
    side = _sign(rng)
    cx, cw = apex + side * w * _u(rng, 0.4, 0.6), _u(rng, 0.07, 0.12)
    y0 = np.interp([cx - cw, cx + cw], [-w - over, apex, w + over], [top, top + rh, top])
    y_top = y0.max() + rh * _u(rng, 0.12, 0.3)
    return _poly((cx - cw, y0[0]), (cx - cw, y_top), (cx + cw, y_top), (cx + cw, y0[1]))


def _sun(rng: np.random.Generator) -> list[np.ndarray]:
    """Disc and 6-10 rays drawn around it."""
    r = _u(rng, 0.32, 0.45)
    strokes = [_ellipse(rng, 0, 0, r, r * _u(rng, 0.92, 1.08), int(rng.integers(12, 17)))]
    k = int(rng.integers(6, 11))
    angles = _u(rng, 0, 2 * np.pi) + _sign(rng) * 2 * np.pi * np.arange(k) / k
    angles += rng.normal(0.0, 0.08, k)
    r_in = r * _u(rng, 1.15, 1.3) * (1 + rng.normal(0.0, 0.04, k))
    r_out = _u(rng, 0.9, 1.0) * (1 + rng.normal(0.0, 0.05, k))
    # Every ray as 3 points (start, slightly bent middle, end); most keep only the ends.
    radii = np.stack([r_in, (r_in + r_out) / 2, r_out], axis=1)
    bend = np.stack([np.zeros(k), rng.normal(0.0, 0.02, k), np.zeros(k)], axis=1)
    rays = np.stack([radii * np.cos(angles)[:, None] - bend * np.sin(angles)[:, None],
                     radii * np.sin(angles)[:, None] + bend * np.cos(angles)[:, None]], axis=2)
    three = rng.random(k) < 0.3
    return strokes + [ray if t else ray[::2] for ray, t in zip(rays, three)]


def _tree(rng: np.random.Generator) -> list[np.ndarray]:
    """Trunk (two lines or one U), bumpy crown, optional branch and fruits."""
    tw, y0, flare = _u(rng, 0.09, 0.18), _u(rng, -0.4, -0.15), _u(rng, 1.0, 1.4)
    seg = _u(rng, 0.35, 0.6)
    if rng.random() < 0.3:
        trunk = [_poly((-tw, y0), (-tw * flare, -1.0), (tw * flare, -1.0), (tw, y0))]
    else:
        trunk = [_poly((-tw, y0), (-tw * flare, -1.0)), _poly((tw, y0), (tw * flare, -1.0))]
    ry = (1.0 - y0) / 2
    crown = _crown(rng, y0 + 0.9 * ry, _u(rng, 0.55, 0.75), ry)
    strokes = [_densify(t, seg) for t in trunk] + [crown]
    if rng.random() < 0.4:
        s = _sign(rng)
        strokes.append(_poly((0.0, y0 - 0.1), (0.0, y0 + 0.5 * ry), (s * 0.25, y0 + 0.85 * ry)))
    if rng.random() < 0.35:
        for _ in range(int(rng.integers(2, 4))):
            fx, fy = _u(rng, -0.4, 0.4), y0 + ry * _u(rng, 0.6, 1.4)
            n = int(rng.integers(5, 7))
            strokes.append(_ellipse(rng, fx, fy, 0.07, 0.07, n, wobble=0.0))
    return strokes


def _crown(rng: np.random.Generator, cy: float, rx: float, ry: float) -> np.ndarray:
    """Closed scalloped blob: bumps bulge outwards between the cusps."""
    bumps = int(rng.integers(5, 9))
    amp = _u(rng, 0.12, 0.25)
    sweep = 2 * np.pi * _sign(rng)
    t = _u(rng, 0, 2 * np.pi) + sweep * _ramp(3 * bumps + 1)
    r = (1 + amp * np.abs(np.sin(bumps * (t - t[0]) / 2))) / (1 + 0.6 * amp)
    return np.stack([rx * r * np.cos(t), cy + ry * r * np.sin(t)], axis=1)


def _car(rng: np.random.Generator) -> list[np.ndarray]:
    """Side view: body outline with cabin, two wheels, one or two windows, optional extra."""
    base, hood, roof = -0.25, _u(rng, 0.0, 0.15), _u(rng, 0.4, 0.6)
    c0, c1 = _u(rng, -0.65, -0.45), _u(rng, -0.4, -0.2)
    c2, c3 = _u(rng, 0.15, 0.35), _u(rng, 0.45, 0.65)
    body = _poly((-1.0, base), (-1.0, hood * _u(rng, 0.5, 1.0)), (c0, hood), (c1, roof),
                 (c2, roof), (c3, hood), (1.0, hood - _u(rng, 0.0, 0.1)), (1.0, base),
                 (-1.0, base))
    strokes = [_densify(body, _u(rng, 0.45, 0.7))]
    wx, wr = _u(rng, 0.5, 0.65), _u(rng, 0.17, 0.24)
    for side in (-1, 1):
        n = int(rng.integers(8, 12))
        strokes.append(_ellipse(rng, side * wx, base, wr, wr, n, wobble=0.02))
    # Window corners inset from the cabin: rear-low, rear-high, front-high, front-low.
    lo, hi, xm = hood + 0.06, roof - 0.06, (c1 + c2) / 2
    rear, front = (c0 + 0.07, c1 + 0.07), (c2 - 0.07, c3 - 0.07)
    if rng.random() < 0.6:  # two windows split by a pillar
        strokes.append(_closed((rear[0], lo), (rear[1], hi), (xm - 0.03, hi), (xm - 0.03, lo)))
        strokes.append(_closed((xm + 0.03, lo), (xm + 0.03, hi), (front[0], hi), (front[1], lo)))
    else:
        strokes.append(_closed((rear[0], lo), (rear[1], hi), (front[0], hi), (front[1], lo)))
    extra = rng.random()
    if extra < 0.35:
        strokes.append(_poly((xm, hood), (xm, base + 0.05)))
    elif extra < 0.7:
        strokes.append(_ellipse(rng, 0.88, hood - 0.1, 0.05, 0.05, 5, wobble=0.0))
    return strokes


_BUILDERS: dict[str, Callable[[np.random.Generator], list[np.ndarray]]] = {
    "face": _face, "house": _house, "sun": _sun, "tree": _tree, "car": _car}


# --- jitter and stroke-3 conversion --------------------------------------------------------

def _shuffle_some(strokes: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Permute a random subset of stroke positions and reverse a few strokes."""
    order = np.arange(len(strokes))
    chosen = np.flatnonzero(rng.random(len(strokes)) < 0.35)
    order[chosen] = rng.permutation(order[chosen])
    flip = rng.random(len(strokes)) < 0.2
    return [strokes[i][::-1] if f else strokes[i] for i, f in zip(order, flip)]


def _place(strokes: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Aspect, rotation, size, per-stroke and per-point noise, y flip, position.

    Returns all integer points [n, 2] (origin at 0, 0) and the stroke lengths.
    """
    lengths = np.array([len(s) for s in strokes])
    pts = np.concatenate(strokes, axis=0)
    a = min(0.2, max(-0.2, rng.normal(0.0, 0.08)))
    stretch = np.exp(rng.normal(0.0, 0.08))
    pts = pts @ np.array([[stretch * np.cos(a), stretch * np.sin(a)], [-np.sin(a), np.cos(a)]])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    size = _u(rng, 130.0, 250.0)
    noise = rng.normal(0.0, 0.007 * size, pts.shape)
    noise += np.repeat(rng.normal(0.0, 0.015 * size, (len(strokes), 2)), lengths, axis=0)
    shift = (rng.random(2) - 0.5) * 0.2 * size - (lo + hi) / 2 * (size / (hi - lo).max())
    pts = pts * (size / (hi - lo).max()) + noise + shift
    pts[:, 1] *= -1.0  # QuickDraw: y grows downwards
    return np.rint(pts).astype(np.int64), lengths


def _to_stroke3(pts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Absolute integer points + stroke lengths -> int16 stroke-3; drops mid-stroke repeats."""
    pen = np.zeros(len(pts), dtype=np.int64)
    pen[np.cumsum(lengths) - 1] = 1
    d = np.diff(pts, axis=0, prepend=np.zeros((1, 2), dtype=pts.dtype))
    prev_pen = np.concatenate([[1], pen[:-1]])
    repeat = (d == 0).all(axis=1) & (pen == 0) & (prev_pen == 0)
    return np.column_stack([d, pen])[~repeat].astype(np.int16)


def strokes_to_stroke3(strokes: list[np.ndarray]) -> np.ndarray:
    """Absolute integer strokes (origin at 0, 0) -> int16 stroke-3; drops mid-stroke repeats."""
    return _to_stroke3(np.concatenate(strokes, axis=0), np.array([len(s) for s in strokes]))


def stroke3_to_strokes(sketch: np.ndarray) -> list[np.ndarray]:
    """Stroke-3 rows -> list of absolute [n, 2] point arrays, one per stroke."""
    pts = np.cumsum(sketch[:, :2].astype(np.int64), axis=0)
    ends = np.flatnonzero(sketch[:, 2] == 1) + 1
    return [s for s in np.split(pts, ends) if len(s)]


def generate_category(name: str, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`n` stroke-3 int16 sketches of category `name`, drawn with `rng`."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown demo category {name!r}; known: {', '.join(CATEGORIES)}")
    out = []
    while len(out) < n:
        strokes = _shuffle_some(_BUILDERS[name](rng), rng)
        sketch = _to_stroke3(*_place(strokes, rng))
        if len(sketch) <= MAX_POINTS and len(strokes) <= MAX_STROKES:  # by design always; a guard
            out.append(sketch)
    return out


# --- files ---------------------------------------------------------------------------------

def _object_array(sketches: list[np.ndarray]) -> np.ndarray:
    """1-D object array holding the sketches (element-wise, so equal shapes never merge)."""
    arr = np.empty(len(sketches), dtype=object)
    for i, s in enumerate(sketches):
        arr[i] = s
    return arr


def _check_sizes(sizes: dict[str, int]) -> dict[str, int]:
    """Fill default split sizes; reject unknown keys and negative sizes."""
    unknown = set(sizes) - set(_SIZE_KEYS)
    if unknown:
        raise TypeError(f"unknown size argument(s) {sorted(unknown)}; expected {list(_SIZE_KEYS)}")
    out = {**_DEFAULT_SIZES, **{k: int(v) for k, v in sizes.items()}}
    if min(out.values()) < 0:
        raise ValueError(f"split sizes must be >= 0, got {out}")
    return out


def write_demo_dataset(out_dir: str, seed: int = 0, n_train: int = 1000, n_valid: int = 100,
                       n_test: int = 100) -> list[str]:
    """Write `<category>.npz` for every demo category into `out_dir`; returns the categories."""
    sizes = _check_sizes({"n_train": n_train, "n_valid": n_valid, "n_test": n_test})
    os.makedirs(out_dir, exist_ok=True)
    bounds = np.cumsum([sizes[k] for k in _SIZE_KEYS])
    for index, name in enumerate(CATEGORIES):
        # One stream per category: the categories do not depend on each other.
        sketches = generate_category(name, int(bounds[-1]), np.random.default_rng([seed, index]))
        parts = np.split(np.arange(bounds[-1]), bounds[:-1])
        arrays = {split: _object_array([sketches[i] for i in idx])
                  for split, idx in zip(SPLITS, parts)}
        fileio.atomic_savez(os.path.join(out_dir, name + ".npz"), arrays)
    return list(CATEGORIES)


def default_cache_dir() -> str:
    """$SKETCHGLOC_CACHE if set, else `.cache` beside this file."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get("SKETCHGLOC_CACHE") or os.path.join(here, ".cache")


def dataset_dir_name(seed: int = 0, **sizes: int) -> str:
    """Cache folder name encoding generator version, seed and split sizes."""
    s = _check_sizes(sizes)
    return f"demo-v{VERSION}-seed{seed}-{s['n_train']}-{s['n_valid']}-{s['n_test']}"


def ensure_demo_dataset(cache_dir: str | None = None, seed: int = 0,
                        **sizes: int) -> tuple[str, list[str]]:
    """(data_dir, categories) of the cached demo dataset; generates it only if a file is missing."""
    sizes = _check_sizes(sizes)
    data_dir = os.path.join(cache_dir or default_cache_dir(), dataset_dir_name(seed, **sizes))
    if not all(os.path.isfile(os.path.join(data_dir, c + ".npz")) for c in CATEGORIES):
        write_demo_dataset(data_dir, seed, **sizes)
    return data_dir, list(CATEGORIES)


# --- command line --------------------------------------------------------------------------

def save_preview(path: str, seed: int = 0, per_category: int = 6) -> None:
    """PNG grid: one column per category, `per_category` sketches each."""
    import plots  # matplotlib is only needed for the picture

    columns = [generate_category(c, per_category, np.random.default_rng([seed, i]))
               for i, c in enumerate(CATEGORIES)]
    rows = [[utils.to_absolute(col[r]) for col in columns] for r in range(per_category)]
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    plots.sketch_grid(rows, list(CATEGORIES), path)


def _summary(path: str) -> str:
    """One line per file: split sizes and point-count range."""
    data = safe_npz.read_npz(path)
    lens = np.array([len(s) for k in SPLITS for s in data[k]], dtype=np.int64)
    counts = ", ".join(f"{k}={len(data[k])}" for k in SPLITS)
    if lens.size == 0:
        return f"{path}: {counts}"
    spread = f"{lens.min()}/{int(np.median(lens))}/{lens.max()}"
    return f"{path}: {counts}; points min/median/max {spread}"


def main(argv: list[str] | None = None) -> int:
    """Command line: write the demo `.npz` files and/or a preview picture."""
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="folder for <category>.npz")
    parser.add_argument("--seed", type=int, default=0)
    for key, value in _DEFAULT_SIZES.items():
        parser.add_argument("--" + key, type=int, default=value)
    parser.add_argument("--show", nargs="?", const="imgs/demo_data.png", metavar="PNG",
                        help="save a grid of sketches per category (default imgs/demo_data.png)")
    args = parser.parse_args(argv)
    if args.out is None and args.show is None:
        parser.error("nothing to do: give --out DIR and/or --show [PNG]")
    if args.out is not None:
        cats = write_demo_dataset(args.out, args.seed, args.n_train, args.n_valid, args.n_test)
        for c in cats:
            print(_summary(os.path.join(args.out, c + ".npz")))
    if args.show is not None:
        save_preview(args.show, args.seed)
        print(f"wrote {args.show}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
