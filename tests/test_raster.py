"""The shared rasteriser: hand-worked pixels, fit invariances, pen-up gaps."""
import matplotlib.image
import numpy as np
import pytest

from sketch_a_net.raster import fit_to_canvas, rasterize, rasterize_many, save_png


def _pts(rows) -> np.ndarray:
    return np.array(rows, dtype=np.float32)


def _brute_force(points: np.ndarray, size: int, margin: float, line_width: float) -> np.ndarray:
    """Reference: distance of every pixel centre to every drawn segment, in plain loops."""
    xy = fit_to_canvas(points, size, margin)
    segs = []
    for i in range(len(points)):
        joined = i + 1 < len(points) and points[i, 2] == 0
        segs.append((xy[i], xy[i + 1] if joined else xy[i]))
    c = np.stack(np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5), -1)  # [row, col, (x, y)]
    best = np.full((size, size), np.inf)
    for a, b in segs:
        d = b - a
        t = np.clip(((c - a) @ d) / max(d @ d, 1e-12), 0, 1)
        best = np.minimum(best, np.linalg.norm(c - (a + t[..., None] * d), axis=-1))
    return np.clip(line_width / 2 + 0.5 - best, 0, 1)


def test_horizontal_line_fills_two_middle_rows_with_one_unit_of_ink():
    img = rasterize(_pts([[0, 0, 0], [10, 0, 1]]))
    assert img.shape == (48, 48) and img.dtype == np.float32
    # The line lies at y = 24, the boundary between rows 23 and 24, and spans
    # x in [1.5, 46.5]: each covered column holds exactly line_width of ink.
    assert set(np.flatnonzero(img.sum(axis=1))) == {23, 24}
    np.testing.assert_allclose(img.sum(axis=0)[1:47], 1.0, atol=1e-6)
    np.testing.assert_allclose(img[23:25, 1:47], 0.5, atol=1e-6)
    assert img[:, 0].sum() == 0 and img[:, 47].sum() == 0


def test_line_width_sets_ink_per_column():
    img = rasterize(_pts([[0, 0, 0], [10, 0, 1]]), line_width=2.0)
    # Rows 23 and 24 are at distance 0.5 (full ink), rows 22 and 25 at 1.5 (none).
    np.testing.assert_allclose(img[23:25, 2:46], 1.0)
    assert set(np.flatnonzero(img.sum(axis=1))) == {23, 24}
    np.testing.assert_allclose(img.sum(axis=0)[2:46], 2.0)


def test_square_draws_its_four_sides_on_the_margin():
    square = _pts([[0, 0, 0], [10, 0, 0], [10, 10, 0], [0, 10, 0], [0, 0, 1]])
    img = rasterize(square)
    # Sides at 1.5 and 46.5 = centres of pixels 1 and 46: hard one-pixel lines.
    expected = np.zeros((48, 48), np.float32)
    expected[1, 1:47] = expected[46, 1:47] = expected[1:47, 1] = expected[1:47, 46] = 1.0
    np.testing.assert_allclose(img, expected, atol=1e-6)


@pytest.mark.parametrize("margin", [1.5, 4.0, 7.25])
def test_ink_stays_inside_the_margin_and_fit_fills_it(margin):
    rng = np.random.default_rng(1)
    for _ in range(5):
        pts = np.concatenate([rng.normal(size=(30, 2)) * [3, 1], rng.random((30, 1)) < 0.2], 1)
        img = rasterize(pts, margin=margin)
        centres = np.arange(48) + 0.5
        inside = (centres > margin - 1.0) & (centres < 48 - margin + 1.0)  # ink radius 1
        assert img[~inside, :].sum() == 0 and img[:, ~inside].sum() == 0
        xy = fit_to_canvas(pts, 48, margin)
        np.testing.assert_allclose([xy[:, 0].min(), xy[:, 0].max()], [margin, 48 - margin], atol=1e-4)
        assert margin - 1e-4 <= xy[:, 1].min() and xy[:, 1].max() <= 48 - margin + 1e-4
        # Centred: the shorter axis is symmetric about the canvas centre.
        assert abs(xy[:, 1].min() + xy[:, 1].max() - 48) < 1e-4


def test_fit_is_scale_and_translation_invariant():
    rng = np.random.default_rng(2)
    pts = np.concatenate([np.cumsum(rng.normal(size=(40, 2)), 0), rng.random((40, 1)) < 0.15], 1)
    moved = pts.copy()
    moved[:, :2] = pts[:, :2] * 3.7 + [120.0, -45.0]
    a, b = rasterize(pts), rasterize(moved)
    assert a.sum() > 20
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_y_grows_downward():
    # Down from (0, 0) to (0, 10), then right: an L whose foot is at the bottom row.
    img = rasterize(_pts([[0, 0, 0], [0, 10, 0], [10, 10, 1]]))
    assert img[1, 1] == 1.0 and img[46, 1] == 1.0 and img[46, 46] == 1.0
    assert img[1, 46] == 0.0 and img[1, 20] == 0.0


def test_pen_up_gap_is_not_drawn():
    two = _pts([[0, 0, 0], [10, 0, 1], [0, 10, 0], [10, 10, 1]])
    img = rasterize(two)
    np.testing.assert_allclose(img[1, 1:47], 1.0)
    np.testing.assert_allclose(img[46, 1:47], 1.0)
    assert img[3:45].sum() == 0  # no diagonal from (10, 0) to (0, 10)
    joined = two.copy()
    joined[1, 2] = 0
    img_joined = rasterize(joined)
    assert img_joined[3:45].sum() > 40  # the diagonal crosses 42 rows
    assert img_joined[24, 23] > 0.9 or img_joined[24, 24] > 0.9


def test_single_point_stroke_draws_a_dot():
    # Dot at (5, 10) -> pixel coordinates (24, 46.5): pixels (46, 23) and (46, 24)
    # have their centres 0.5 away and get 0.5 ink; nothing else below row 44.
    img = rasterize(_pts([[0, 0, 0], [10, 0, 1], [5, 10, 1]]))
    np.testing.assert_allclose(img[46, 23:25], 0.5, atol=1e-6)
    assert img[44:].sum() == pytest.approx(1.0, abs=1e-6)
    lone = rasterize(_pts([[3, 3, 1]]))  # centred at (24, 24): 4 pixels at distance sqrt(.5)
    np.testing.assert_allclose(lone[23:25, 23:25], 1.0 - np.sqrt(0.5), atol=1e-6)
    assert lone.sum() == pytest.approx(4 * (1.0 - np.sqrt(0.5)), abs=1e-5)


def test_empty_sketch_is_blank():
    assert rasterize(np.zeros((0, 3))).sum() == 0


def test_matches_brute_force_and_batch_matches_single():
    rng = np.random.default_rng(3)
    sketches = []
    for n in (2, 7, 60, 150):
        pts = np.concatenate([np.cumsum(rng.normal(size=(n, 2)) * 5, 0),
                              rng.random((n, 1)) < 0.1], 1)
        sketches.append(pts)
    batch = rasterize_many(sketches, size=32, margin=2.0, line_width=1.5)
    for pts, img in zip(sketches, batch):
        np.testing.assert_allclose(img, _brute_force(pts, 32, 2.0, 1.5), atol=1e-5)
        np.testing.assert_array_equal(img, rasterize(pts, size=32, margin=2.0, line_width=1.5))


def test_save_png_writes_black_ink_on_white(tmp_path):
    img = rasterize(_pts([[0, 0, 0], [10, 0, 0], [10, 10, 0], [0, 10, 0], [0, 0, 1]]))
    path = str(tmp_path / "square.png")
    save_png(img, path)
    back = matplotlib.image.imread(path)[..., 0]
    assert back.shape == (48, 48)
    np.testing.assert_allclose(back[img == 1.0], 0.0, atol=1e-2)
    np.testing.assert_allclose(back[img == 0.0], 1.0, atol=1e-2)
