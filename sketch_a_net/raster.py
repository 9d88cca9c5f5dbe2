"""The one rasteriser of the project: sketches (absolute points) to small images.

Used for the Sketch-a-Net training images, for the generated sketches that Rec
classifies, and for the sampler's 48x48 PNGs, so that all three look alike.

Conventions
-----------
* Input: absolute points ``[N, 3]`` = ``(x, y, pen_lifted)``; ``pen_lifted=1``
  marks the last point of a stroke. Consecutive points of a stroke are joined
  by straight lines; no line leaves a point with ``pen_lifted=1``; a stroke of
  one point draws a dot.
* Fit: the bounding box of all points is scaled uniformly (aspect kept) so that
  its longer side spans ``size - 2 * margin`` and is centred on the canvas; the
  line centres therefore lie inside ``[margin, size - margin]``.
* Axes: image column = x, image row = y, row 0 at the top. Sketch y grows
  downward, as in QuickDraw, so no flip is applied.
* Pixel ``(r, c)`` covers ``[c, c+1] x [r, r+1]``; its centre is ``(c+.5, r+.5)``.
* Ink is anti-aliased: a pixel whose centre is at distance ``d`` from the
  nearest line gets ``clip(line_width/2 + 0.5 - d, 0, 1)``, i.e. a linear
  coverage ramp one pixel wide around a line of width ``line_width``. With
  this profile a straight axis-aligned line puts exactly ``line_width`` of ink
  into every pixel column (or row) it crosses, wherever it lies between pixel
  centres. Ink is 1.0, background 0.0; overlapping lines take the maximum.
"""
from typing import Sequence, Tuple

import numpy as np

# Sub-segment length (pixels): every segment is cut into pieces this short so
# that each piece only needs a small fixed window of pixels.
_STEP = 1.0
# Sketches per vectorised drawing pass (bounds memory of rasterize_many).
_CHUNK = 512


def fit_to_canvas(points_abs: np.ndarray, size: int = 48, margin: float = 1.5) -> np.ndarray:
    """Return the [N, 2] pixel coordinates of the fitted, centred sketch."""
    xy = np.asarray(points_abs, dtype=np.float64)[:, :2]
    if len(xy) == 0:
        return xy.reshape(0, 2)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    extent = float((hi - lo).max())
    scale = (size - 2.0 * margin) / extent if extent > 0 else 1.0
    return (xy - (lo + hi) / 2.0) * scale + size / 2.0


def _segments(points_abs: np.ndarray, size: int, margin: float) -> Tuple[np.ndarray, np.ndarray]:
    """Return start and end pixel coordinates [M, 2] of every segment to draw."""
    points_abs = np.asarray(points_abs)
    if points_abs.ndim != 2 or points_abs.shape[1] < 3:
        raise ValueError(f"expected points [N, 3], got shape {points_abs.shape}")
    xy = fit_to_canvas(points_abs, size, margin)
    if len(xy) == 0:
        return xy, xy
    # Each point starts a segment to the next point of its stroke; the last
    # point of a stroke gets a zero-length segment, which draws single-point
    # strokes as dots and adds nothing to longer strokes.
    joined = points_abs[:-1, 2] <= 0.5
    end = xy.copy()
    end[:-1][joined] = xy[1:][joined]
    return xy, end


def _split(a: np.ndarray, b: np.ndarray, owner: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut segments a->b into pieces no longer than _STEP; keep each piece's owner."""
    length = np.linalg.norm(b - a, axis=1)
    pieces = np.maximum(np.ceil(length / _STEP).astype(np.int64), 1)
    seg = np.repeat(np.arange(len(a)), pieces)
    first = np.cumsum(pieces) - pieces
    k = np.arange(len(seg)) - first[seg]
    t0 = (k / pieces[seg])[:, None]
    t1 = ((k + 1) / pieces[seg])[:, None]
    d = b[seg] - a[seg]
    return a[seg] + t0 * d, a[seg] + t1 * d, owner[seg]


def _draw(a: np.ndarray, b: np.ndarray, owner: np.ndarray, n: int, size: int,
          line_width: float) -> np.ndarray:
    """Draw pieces a->b (each at most _STEP long) into n images; return [n, size, size]."""
    images = np.zeros(n * size * size, dtype=np.float32)
    if len(a) == 0:
        return images.reshape(n, size, size)
    radius = line_width / 2.0 + 0.5  # distance at which ink falls to zero
    half = _STEP / 2.0 + radius      # window half-width around a piece's midpoint
    width = int(np.floor(2.0 * half)) + 1
    mid = (a + b) / 2.0
    start = np.ceil(mid - half - 0.5).astype(np.int64)   # first pixel centre in the window
    offs = np.arange(width)
    cols = start[:, 0, None, None] + offs[None, None, :]  # [K, 1, W]
    rows = start[:, 1, None, None] + offs[None, :, None]  # [K, W, 1]
    px, py = cols + 0.5, rows + 0.5
    d = b - a
    dd = np.maximum((d ** 2).sum(axis=1), 1e-12)[:, None, None]
    t = ((px - a[:, 0, None, None]) * d[:, 0, None, None]
         + (py - a[:, 1, None, None]) * d[:, 1, None, None]) / dd
    t = np.clip(t, 0.0, 1.0)
    ex = px - (a[:, 0, None, None] + t * d[:, 0, None, None])
    ey = py - (a[:, 1, None, None] + t * d[:, 1, None, None])
    ink = np.clip(radius - np.sqrt(ex ** 2 + ey ** 2), 0.0, 1.0)
    inside = (cols >= 0) & (cols < size) & (rows >= 0) & (rows < size) & (ink > 0)
    flat = owner[:, None, None] * (size * size) + rows * size + cols
    np.maximum.at(images, flat[inside], ink[inside].astype(np.float32))
    return images.reshape(n, size, size)


def rasterize_many(sketches: Sequence[np.ndarray], size: int = 48, margin: float = 1.5,
                   line_width: float = 1.0) -> np.ndarray:
    """Rasterise a list of absolute [N, 3] sketches; return float32 [n, size, size]."""
    out = np.zeros((len(sketches), size, size), dtype=np.float32)
    for lo in range(0, len(sketches), _CHUNK):
        chunk = sketches[lo:lo + _CHUNK]
        segs = [_segments(s, size, margin) for s in chunk]
        owner = np.concatenate([np.full(len(a), i, dtype=np.int64) for i, (a, _) in enumerate(segs)])
        a = np.concatenate([s[0] for s in segs]).reshape(-1, 2)
        b = np.concatenate([s[1] for s in segs]).reshape(-1, 2)
        out[lo:lo + len(chunk)] = _draw(*_split(a, b, owner), len(chunk), size, line_width)
    return out


def rasterize(points_abs: np.ndarray, size: int = 48, margin: float = 1.5,
              line_width: float = 1.0) -> np.ndarray:
    """Rasterise one absolute [N, 3] sketch; return float32 [size, size], ink 1.0."""
    return rasterize_many([points_abs], size, margin, line_width)[0]


def save_png(image: np.ndarray, path: str) -> None:
    """Write an ink-1.0 image as a PNG with white background and black ink."""
    import matplotlib.image  # lazy: only the writers of PNGs pay the import

    matplotlib.image.imsave(path, 1.0 - np.clip(image, 0.0, 1.0), cmap="gray", vmin=0.0, vmax=1.0)
