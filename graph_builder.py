"""Graph nodes and the 9 grid graphs of SketchGloc (METHOD.md §4-5), vectorised.

A node is a pen stroke, cut after `max_points` (= max_stroke_len + 1) points;
with max_stroke_len = 5 the nodes are the 6-point pieces of the original's
top-level variant. Below, "piece" means a node either way.

`build_batch` works on the points of a whole batch at once: piece ids come
from cumulative sums, bounding boxes from `np.minimum.reduceat`, and the 3x3
cell tests from broadcasting the boxes of every piece against every other.

CLI: `python graph_builder.py --show <npz> <index> [--piece K] [--out file.png]`
draws a sketch, its pieces and the 9 relations of one piece (the picture is
`plots.grid_graphs`). Data flows one way: graph_builder imports utils, never back.
"""
from __future__ import annotations

import itertools
import os
import sys
from typing import Iterator, Sequence

import numpy as np

import cli
import safe_npz
import utils
from errors import UsageError, UserError, guarded
from safe_npz import DataError


def _cell_table() -> np.ndarray:
    """[81, 9] table: the relation row of every (cx0, cx1, cy0, cy1) code.

    code = 27*cx0 + 9*cx1 + 3*cy0 + cy1 with column/row classes in 0..2.
    Cells c in cx0..cx1, r in cy0..cy1 are marked as k = 3c + r, except the
    centre when the box spans all 3 columns and all 3 rows (its outline
    goes around the centre).
    """
    table = np.zeros((81, 9), np.float32)
    for cx0, cx1, cy0, cy1 in itertools.product(range(3), repeat=4):
        cols = np.arange(3)[(np.arange(3) >= cx0) & (np.arange(3) <= cx1)]
        rows = np.arange(3)[(np.arange(3) >= cy0) & (np.arange(3) <= cy1)]
        cells = np.zeros((3, 3), np.float32)
        cells[np.ix_(cols, rows)] = 1.0
        if (cx0, cx1, cy0, cy1) == (0, 2, 0, 2):
            cells[1, 1] = 0.0
        table[27 * cx0 + 9 * cx1 + 3 * cy0 + cy1] = cells.ravel()
    return table


CELLS = _cell_table()
# One 36-byte item per relation row: moving whole rows through fancy indexing is
# about twice as fast as moving 9 float32 each.
_ROW = np.dtype((np.void, CELLS.itemsize * 9))
_CELL_ROWS = CELLS.view(_ROW).ravel()


def _codes(coord: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Relation code 27*cx0 + 9*cx1 + 3*cy0 + cy1 from node j's (x0, x1, y0, y1) [4, ...].

    low/high hold node i's matching borders (x0, x0, y0, y0) / (x1, x1, y1, y1).
    A class is 0 if the coordinate is < low, 2 if > high, else 1: a coordinate
    equal to a border is in the middle column/row.
    """
    cls = np.greater_equal(coord, low).view(np.uint8)
    cls += np.greater(coord, high).view(np.uint8)
    code = cls[0] * np.uint8(27)
    code += cls[1] * np.uint8(9)
    code += cls[2] * np.uint8(3)
    code += cls[3]
    return code


def pair_codes(boxes: np.ndarray, counts: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Relation code of every real pair and its row in a flattened [B*size*size] layout.

    boxes: [G, 4] (x0, x1, y0, y1) of all nodes, sketch after sketch; counts: [B]
    nodes per sketch (G = sum). Only real pairs are enumerated, one flat entry per
    (sketch, i, j), so the work does not grow with the padding.
    """
    counts = np.asarray(counts, np.int64)
    sketch = np.repeat(np.arange(len(counts)), counts)
    first = utils.offsets(counts)
    pairs_of_node = counts[sketch]  # node i meets every node j of its sketch
    row_start = utils.offsets(pairs_of_node)
    pair = np.arange(int(pairs_of_node.sum()))
    node_j = np.repeat(first[sketch] - row_start, pairs_of_node) + pair
    planes = np.ascontiguousarray(np.asarray(boxes).T)  # [4, G]
    code = _codes(np.take(planes, node_j, axis=1),
                  np.repeat(planes[[0, 0, 2, 2]], pairs_of_node, axis=1),
                  np.repeat(planes[[1, 1, 3, 3]], pairs_of_node, axis=1))
    node_i = np.arange(len(sketch)) - first[sketch]
    row = np.repeat((sketch * size + node_i) * size - row_start, pairs_of_node) + pair
    return code, row


def relations_from_boxes(boxes: np.ndarray, counts: np.ndarray, size: int) -> np.ndarray:
    """Relations [B, size, size, 9] of sketches whose nodes' boxes are stacked in `boxes` [G, 4]."""
    batch_size = len(counts)
    out = np.zeros((batch_size * size * size, 9), np.float32)
    if np.sum(counts) > 0:
        code, row = pair_codes(boxes, counts, size)
        out.view(_ROW).ravel()[row] = np.take(_CELL_ROWS, code)
    return out.reshape(batch_size, size, size, 9)


def piece_layout(pen: np.ndarray, lengths: np.ndarray, max_points: int) -> dict:
    """Cut flat points into graph nodes (METHOD.md §4); index arrays describing them.

    A node ends at a pen lift or when it holds `max_points` (= max_stroke_len + 1)
    points, so inside a pen stroke the node of a point is its position in the
    stroke // max_points. Returns: piece_of_point (global node id), pos_in_piece,
    piece_start (index of every node's first point), index_in_sketch (of every
    point's node), counts (nodes per sketch).
    """
    if max_points < 1:
        raise ValueError(f"a node needs room for at least 1 point, got max_points={max_points}")
    if len(pen) == 0:
        empty = np.zeros(0, np.int64)
        return dict(piece_of_point=empty, pos_in_piece=empty, piece_start=empty,
                    index_in_sketch=empty, counts=np.zeros(len(lengths), np.int64))
    if np.any(lengths < 1):
        raise ValueError("every sketch needs at least one point")
    new_piece = utils.node_starts(pen, lengths, max_points)
    piece_of_point = np.cumsum(new_piece) - 1
    piece_start = np.flatnonzero(new_piece)
    first = utils.offsets(lengths)
    first_piece = piece_of_point[first]
    return dict(
        piece_of_point=piece_of_point,
        pos_in_piece=np.arange(len(pen)) - piece_start[piece_of_point],
        piece_start=piece_start,
        index_in_sketch=piece_of_point - np.repeat(first_piece, lengths),
        counts=np.add.reduceat(new_piece.astype(np.int64), first),
    )


def pieces_per_sketch(strokes: Sequence[np.ndarray], max_points: int) -> np.ndarray:
    """Number of graph nodes of every sketch."""
    flat, lengths = utils.flatten(strokes)
    return piece_layout(flat[:, 2] > 0.5, lengths, max_points)["counts"]


def split_pieces(points: np.ndarray, max_points: int) -> list:
    """Absolute points [N,3] -> nodes of at most max_points points, each an [n,2] array of (x, y)."""
    points = np.asarray(points)
    if len(points) == 0:
        return []
    layout = piece_layout(points[:, 2] > 0.5, np.array([len(points)]), max_points)
    return np.split(points[:, :2], layout["piece_start"][1:])


def piece_boxes(pieces: Sequence[np.ndarray]) -> np.ndarray:
    """Bounding boxes [n, 4] (x0, x1, y0, y1) of a list of [m,2] pieces."""
    lengths = np.fromiter((len(p) for p in pieces), np.int64, len(pieces))
    if np.any(lengths < 1):
        raise ValueError("every piece needs at least one point")
    flat = np.concatenate(pieces)[:, :2]
    first = utils.offsets(lengths)
    low = np.minimum.reduceat(flat, first, axis=0)
    high = np.maximum.reduceat(flat, first, axis=0)
    return np.stack([low[:, 0], high[:, 0], low[:, 1], high[:, 1]], axis=1)


def grid_relations(pieces: Sequence[np.ndarray], max_nodes: int) -> np.ndarray:
    """The 9 relations of one sketch's pieces: float32 [max_nodes, max_nodes, 9] (METHOD.md §5)."""
    pieces = list(pieces)[:max_nodes]
    out = np.zeros((max_nodes, max_nodes, 9), np.float32)
    if pieces:
        planes = np.ascontiguousarray(piece_boxes(pieces).T)  # [4, n]
        code = _codes(planes[:, None, :], planes[[0, 0, 2, 2], :, None],
                      planes[[1, 1, 3, 3], :, None])
        out[:len(pieces), :len(pieces)] = np.take(CELLS, code, axis=0)
    return out


def grid_relations_batch(sketches: Sequence[Sequence[np.ndarray]], max_nodes: int,
                         pad_to_batch: bool = False) -> np.ndarray:
    """grid_relations of many sketches at once: [B, S, S, 9], S = max_nodes unless pad_to_batch."""
    kept = [list(p)[:max_nodes] for p in sketches]
    counts = np.array([len(p) for p in kept], np.int64)
    size = int(counts.max(initial=0)) if pad_to_batch else int(max_nodes)
    pieces = [piece for p in kept for piece in p]
    boxes = piece_boxes(pieces) if pieces else np.zeros((0, 4), np.float32)
    return relations_from_boxes(boxes, counts, size)


def grid_relations_loop(pieces: list, max_nodes: int) -> np.ndarray:
    """Plain per-pair Python reading of METHOD.md §5: the reference for tests and benchmarks."""
    out = np.zeros((max_nodes, max_nodes, 9), np.float32)
    boxes = [(p[:, 0].min(), p[:, 0].max(), p[:, 1].min(), p[:, 1].max()) for p in pieces[:max_nodes]]

    def column(v, low, high):
        return 0 if v < low else (2 if v > high else 1)

    for i, (ix0, ix1, iy0, iy1) in enumerate(boxes):
        for j, (jx0, jx1, jy0, jy1) in enumerate(boxes):
            c0, c1 = column(jx0, ix0, ix1), column(jx1, ix0, ix1)
            r0, r1 = column(jy0, iy0, iy1), column(jy1, iy0, iy1)
            spans_all = (c0, c1, r0, r1) == (0, 2, 0, 2)
            for c in range(c0, c1 + 1):
                for r in range(r0, r1 + 1):
                    if not (spans_all and (c, r) == (1, 1)):
                        out[i, j, 3 * c + r] = 1.0
    return out


def split_nodes_loop(points: np.ndarray, max_stroke_len: int) -> list:
    """Plain per-point reading of METHOD.md §4: the reference for tests of the vectorised cut.

    Walk the absolute points; a node ends at a pen lift or once it holds
    max_stroke_len + 1 points; a trailing run without a pen lift is a last node.
    """
    nodes, current = [], []
    for x, y, lifted in np.asarray(points).tolist():
        current.append((x, y))
        if lifted > 0.5 or len(current) == max_stroke_len + 1:
            nodes.append(np.array(current, np.float32))
            current = []
    if current:
        nodes.append(np.array(current, np.float32))
    return nodes


def caps_loop(sketches: Sequence[np.ndarray]) -> tuple[int, int]:
    """Plain reading of METHOD.md §4's percentile rule: (max_stroke_len, max_strokes_num) of sketches."""
    stroke_lengths, stroke_counts = [], []
    for sketch in sketches:
        count, run = 0, 0
        for lifted in np.asarray(sketch)[:, 2].tolist():
            run += 1
            if lifted > 0.5:
                stroke_lengths.append(run)
                count, run = count + 1, 0
        if run:
            stroke_lengths.append(run)
            count += 1
        stroke_counts.append(count)

    def rule(values: list) -> int:
        return sorted(values)[int(0.999 * len(values))]
    return rule(stroke_lengths), rule(stroke_counts)


def shape_class(own: Sequence[int], caps: Sequence[int], buckets: int) -> tuple:
    """Padded sizes of a batch whose axes need `own` sizes: one of `buckets` size classes.

    Class k (1..buckets) pads every axis to ceil(k * cap / buckets); a batch takes the
    smallest class that fits all its axes. So a run sees at most `buckets` padded
    shapes per batch size, and XLA (jit_compile) compiles at most that many programs.
    buckets <= 0 keeps `own`.
    """
    own, caps = [int(v) for v in own], [int(v) for v in caps]
    if any(o > c for o, c in zip(own, caps)):
        raise ValueError(f"padded sizes {own} exceed their caps {caps}")
    if buckets <= 0:
        return tuple(own)
    k = max(-(-buckets * o // c) for o, c in zip(own, caps))
    return tuple(-(-k * c // buckets) for c in caps)


def build_batch(strokes: Sequence[np.ndarray], labels: Sequence[int], *, max_points: int,
                max_nodes: int, max_seq_len: int, re_scale: float = 0.0,
                rng: np.random.Generator | None = None, pad_to_batch: bool = True,
                shape_buckets: int = 0) -> dict:
    """Batch dict of model.batch_spec() from stroke-3 sketches (normalised units).

    points [B, S, W, 2] and piece_lengths [B, S] of the (disrupted) nodes,
    relations [B, S, S, 9], targets [B, T+1, 5] (undisturbed, S0 first), labels [B].

    With pad_to_batch the node and point axes are padded to the batch's own longest and the
    time axis to its longest sketch + 1 (one end-of-sketch row for every sketch), else to
    max_nodes, max_points and max_seq_len. shape_buckets > 0 (with pad_to_batch) then
    rounds the three up to a size class of `shape_class` (caps max_seq_len + 1, max_nodes,
    max_points); the time rows past the longest sketch + 1 are all zero, so that no loss
    term sees them (model.reconstruction_losses) and the losses stay those of the unrounded batch.
    """
    flat, lengths = utils.flatten(strokes)
    return build_batch_flat(flat, lengths, labels, max_points=max_points, max_nodes=max_nodes,
                            max_seq_len=max_seq_len, re_scale=re_scale, rng=rng,
                            pad_to_batch=pad_to_batch, shape_buckets=shape_buckets)


def build_batch_flat(flat: np.ndarray, lengths: np.ndarray, labels: Sequence[int], *,
                     max_points: int, max_nodes: int, max_seq_len: int, re_scale: float = 0.0,
                     rng: np.random.Generator | None = None, pad_to_batch: bool = True,
                     shape_buckets: int = 0) -> dict:
    """`build_batch` on the flat layout: stroke-3 [N,3] of all sketches plus lengths [B]."""
    lengths = np.asarray(lengths, np.int64)
    if len(lengths) == 0 or lengths.min() < 1:
        raise ValueError("a batch needs at least one sketch and every sketch a point")
    if lengths.max() > max_seq_len:
        raise ValueError(f"sketch of {lengths.max()} points is longer than max_seq_len={max_seq_len}")
    if re_scale > 0 and rng is None:
        raise ValueError("re_scale > 0 needs an explicit numpy Generator (rng)")
    pen = flat[:, 2] > 0.5
    points = utils.absolute_flat(flat[:, :2], lengths).astype(np.float32)
    encoder_points = utils.disrupt_flat(points, pen, lengths, re_scale, rng)
    layout = piece_layout(pen, lengths, max_points)
    # +1: the batch's longest sketch gets an end-of-sketch target row too (SPEC §2), as every
    # sketch but the dataset's longest does when padding to max_seq_len.
    end_rows = int(lengths.max()) + 1 if pad_to_batch else int(max_seq_len)
    caps = (int(max_seq_len) + 1, int(max_nodes), int(max_points))
    own = (end_rows,) + _node_sizes(layout, len(pen), max_nodes)
    seq_len, size, width = (shape_class(own, caps, shape_buckets) if pad_to_batch
                            else (end_rows, max_nodes, max_points))
    batch = _encoder_inputs(encoder_points, layout, lengths, max_nodes, size, width)
    batch["targets"] = _targets(points, pen, lengths, seq_len, end_rows)
    batch["labels"] = np.asarray(labels, np.int32)
    return batch


def _node_sizes(layout: dict, num_points: int, max_nodes: int) -> tuple[int, int]:
    """(nodes, points per node) of a batch's longest: its own node and point axis sizes."""
    start = layout["piece_start"]
    kept = layout["index_in_sketch"][start] < max_nodes
    node_lengths = np.diff(start, append=num_points)[kept]
    return int(np.minimum(layout["counts"], max_nodes).max()), int(node_lengths.max(initial=1))


def _encoder_inputs(points: np.ndarray, layout: dict, lengths: np.ndarray, max_nodes: int,
                    size: int, width: int) -> dict:
    """points [B, size, width, 2], piece_lengths and relations of a flat batch (nodes of `layout`)."""
    num_nodes = np.minimum(layout["counts"], max_nodes)
    batch_size = len(lengths)
    sketch = np.repeat(np.arange(batch_size), lengths)
    node = layout["index_in_sketch"]
    kept = node < max_nodes  # pieces past the node cap are dropped
    slot = sketch * size + node

    start = layout["piece_start"]
    piece_kept = kept[start]
    piece_slot = slot[start][piece_kept]
    node_lengths = np.diff(start, append=len(points))[piece_kept]
    piece_lengths = np.zeros(batch_size * size, np.int32)
    piece_lengths[piece_slot] = node_lengths

    piece_points = np.zeros((batch_size * size * width, 2), np.float32)
    piece_points[(slot * width + layout["pos_in_piece"])[kept]] = points[kept]

    low = np.minimum.reduceat(points, start, axis=0)[piece_kept]
    high = np.maximum.reduceat(points, start, axis=0)[piece_kept]
    boxes = np.stack([low[:, 0], high[:, 0], low[:, 1], high[:, 1]], axis=1)
    return {
        "points": piece_points.reshape(batch_size, size, width, 2),
        "piece_lengths": piece_lengths.reshape(batch_size, size),
        "relations": relations_from_boxes(boxes, num_nodes, size),
    }


def _targets(points: np.ndarray, pen: np.ndarray, lengths: np.ndarray, seq_len: int,
             end_rows: int | None = None) -> np.ndarray:
    """Undisturbed absolute 5-D sequences [B, seq_len+1, 5] with S0 prepended (METHOD.md §2).

    Rows after a sketch's points are end-of-sketch rows (p3 = 1) up to row `end_rows`
    (default seq_len); rows past it are shape padding, all zero.
    """
    end_rows = seq_len if end_rows is None else end_rows
    batch_size = len(lengths)
    rows = np.zeros((len(points), 5), np.float32)
    rows[:, :2] = points
    rows[:, 2] = ~pen
    rows[:, 3] = pen
    # Row of every point in the flattened [B * (seq_len+1)] targets; row 0 of a sketch is S0.
    row = np.arange(len(points)) + np.repeat(np.arange(batch_size) * (seq_len + 1)
                                             - utils.offsets(lengths) + 1, lengths)
    targets = np.zeros((batch_size, seq_len + 1, 5), np.float32)
    targets[:, 0, 2] = 1.0
    steps = np.arange(seq_len + 1)[None, :]
    targets[:, :, 4] = (steps > lengths[:, None]) & (steps <= end_rows)
    targets.reshape(-1, 5)[row] = rows
    return targets


def iterate_batches(split: utils.Split, hps: object, rng: np.random.Generator, *, training: bool,
                    re_scale: float, shuffle: bool, max_seq_len: int, max_nodes: int,
                    scale_factor: float, pad_to_batch: bool = True) -> Iterator[dict]:
    """Full batches (METHOD.md §1-5) of `hps.batch_size`; the last incomplete one is dropped.

    `hps.shape_buckets` (0 when absent) rounds the padded sizes up (`shape_class`).
    """
    flat, lengths = utils.flatten(split.strokes)
    first = utils.offsets(lengths)
    labels = np.asarray(split.labels, np.int32)
    order = rng.permutation(len(lengths)) if shuffle else np.arange(len(lengths))
    size = int(hps.batch_size)
    buckets = int(getattr(hps, "shape_buckets", 0))
    for b in range(len(lengths) // size):
        idx = order[b * size:(b + 1) * size]
        batch_lengths = lengths[idx]
        take = np.repeat(first[idx] - utils.offsets(batch_lengths), batch_lengths)
        batch = flat[take + np.arange(len(take))]
        if training:
            batch, batch_lengths = utils.augment_flat(
                batch, batch_lengths, rng, hps.random_scale_factor,
                hps.augment_stroke_prob, scale_factor)
        yield build_batch_flat(
            batch, batch_lengths, labels[idx], max_points=hps.max_stroke_len + 1, max_nodes=max_nodes,
            max_seq_len=max_seq_len, re_scale=re_scale, rng=rng, pad_to_batch=pad_to_batch,
            shape_buckets=buckets)


# ---------------------------------------------------------------------- CLI

def _load_sketch(path: str, split: str, index: int) -> np.ndarray:
    """Absolute points of one sketch of an .npz file (raw units)."""
    data = safe_npz.read_npz(path)  # no pickled code runs
    if split not in data:
        raise DataError(f"{path}: no split '{split}' (keys: {', '.join(data)})")
    sketches = data[split]
    if not 0 <= index < len(sketches):
        raise DataError(f"{path}, split '{split}': index {index} out of range 0..{len(sketches) - 1}")
    return utils.to_absolute(np.asarray(sketches[index], np.float32))


def _default_piece(pieces: list) -> int:
    """The piece whose box centre is nearest the sketch centre (an informative grid)."""
    boxes = piece_boxes(pieces)
    centres = np.stack([boxes[:, :2].mean(1), boxes[:, 2:].mean(1)], axis=1)
    middle = (np.array([boxes[:, 0].min(), boxes[:, 2].min()])
              + np.array([boxes[:, 1].max(), boxes[:, 3].max()])) / 2
    return int(np.argmin(np.linalg.norm(centres - middle, axis=1)))


def show(path: str, index: int, piece: int | None = None, out: str = "grid_graphs.png",
         split: str = "train", max_stroke_len: int = -1) -> str:
    """Draw a sketch, its nodes and the 3x3 grid relations of one node to `out` (plots.grid_graphs).

    max_stroke_len -1 draws whole pen strokes (the default nodes); 5 the 6-point pieces.
    """
    import plots  # matplotlib only for the picture

    points = _load_sketch(path, split, index)
    pieces = split_pieces(points, len(points) if max_stroke_len == -1 else max_stroke_len + 1)
    piece = _default_piece(pieces) if piece is None else piece
    if not 0 <= piece < len(pieces):
        raise UsageError(f"--piece {piece} out of range 0..{len(pieces) - 1}")
    rel = grid_relations(pieces, len(pieces))[piece]  # [n, 9]: cells of `piece` each piece reaches
    title = (f"{path.split('/')[-1]} {split}[{index}]: {len(pieces)} nodes; right: the 3x3 "
             f"grid of node {piece} (black), in red the nodes reaching cell k (count in title)")
    plots.grid_graphs(pieces, piece, piece_boxes(pieces)[piece], rel, title, out)
    return out


def _check_out(out: str) -> None:
    """UserError when the picture cannot be written to `out` (checked before any drawing)."""
    if os.path.isdir(out):
        raise UserError(f"--out {out}: is a folder; name the .png file to write")
    if os.path.lexists(out) and not os.path.isfile(out):
        raise UserError(f"--out {out}: exists and is not a regular file")
    problem = cli.folder_problem(os.path.dirname(os.path.abspath(out)))
    if problem:
        raise UserError(f"--out {out}: {problem}")


def _index(text: str) -> int:
    """The INDEX of --show; UsageError when it is not an integer."""
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"--show NPZ INDEX: INDEX must be an integer, got {text!r}") from None


@guarded
def main(argv: list | None = None) -> int:
    """Command line: --show <npz> <index> [--piece K] [--out file.png]; prints the path it wrote."""
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", nargs=2, metavar=("NPZ", "INDEX"), required=True,
                        help="the .npz file and the index of the sketch to draw")
    parser.add_argument("--piece", type=int, default=None, help="the node whose grid is drawn "
                        "(default: the node nearest the sketch's centre)")
    parser.add_argument("--out", default="grid_graphs.png",
                        help="picture to write (default: grid_graphs.png in the current folder); "
                        "the command prints the path it wrote")
    parser.add_argument("--split", default="train", help="split of the .npz file")
    parser.add_argument("--max_stroke_len", type=int, default=-1,
                        help="-1: nodes are whole pen strokes; 5: 6-point pieces")
    args = parser.parse_args(argv)
    index = _index(args.show[1])
    _check_out(args.out)
    out = show(args.show[0], index, args.piece, args.out, args.split, args.max_stroke_len)
    print(f"wrote {os.path.abspath(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
