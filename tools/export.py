"""Export a trained SketchGloc as a TensorFlow SavedModel that needs only TensorFlow to run.

    python tools/export.py --checkpoint DIR [--ckpt_id 0] --out EXPORT_DIR [--overwrite]

EXPORT_DIR must be empty or hold only an earlier export (its
`.sketchgloc_manifest.json` lists what sketchgloc wrote there, which is
replaced); a folder holding other files, e.g. a SavedModel of the user's, is
refused unless --overwrite is given.

`m = tf.saved_model.load(EXPORT_DIR)` works without this repository. Every
coordinate is in normalised units: multiply by `scale_factor` (in
EXPORT_DIR/model_config.json, also `m.scale_factor`) to get QuickDraw units.

Signatures (`m.signatures[name](**inputs)` returns a dict):

* `encode(points [B,S,P,2] f32, piece_lengths [B,S] i32, relations [B,S,S,9] f32)`
  -> `codes [B,z]`: the encoder on graph_builder.build_batch's tensors
  (absolute piece points, pieces per node, the 9 grid relations), which the
  caller builds in numpy.
* `encode_strokes(strokes [B,N,3] f32, lengths [B] i32)` -> `codes [B,z]`:
  the same, with the pieces and grid relations built in TensorFlow from
  zero-padded normalised stroke-3 sketches (no disruption).
* `generate(codes [B,z] f32)` and `generate_max_len(codes, max_len i32 scalar)`
  -> `sequences [B,T,5]` (absolute 5-D rows, END rows after the end),
  `lengths [B]` (points before the end; T when none ended) and
  `strokes [B,T,3]` (stroke-3 dx, dy, pen_lifted; zero rows from `lengths` on).
  Greedy decoding, T = max_len (default: the model's max_seq_len).

The same functions are attributes of `m`: `m.encode(...)`, `m.encode_strokes(...)`,
`m.generate(codes)` or `m.generate(codes, max_len)` (returning the same dicts).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # the project's modules, when run as `python tools/<name>.py`

import cli  # noqa: E402
import checkpoints  # noqa: E402
import errors  # noqa: E402
import fileio  # noqa: E402
import hparams as hparams_lib  # noqa: E402

if TYPE_CHECKING:  # TensorFlow is imported late so that a bad --checkpoint fails fast
    import numpy as np
    import tensorflow as tf

SIGNATURES = ("encode", "encode_strokes", "generate", "generate_max_len")
# What tf.saved_model.save writes into a folder, and the config written beside it.
EXPORT_NAMES = ("saved_model.pb", "fingerprint.pb", "variables", "assets", checkpoints.CONFIG_NAME)


class ExportError(errors.UserError):
    """A bad --out folder; the message is one line."""


def check_out(out: str, overwrite: bool = False) -> None:
    """Refuse an unwritable --out, or one holding files sketchgloc did not write there (unless `overwrite`).

    Files listed in the folder's manifest are an earlier export's and are replaced.
    """
    problem = fileio.output_folder_problem(out, overwrite)  # before the model is built and traced
    if problem:
        raise ExportError(problem)


def strokes_to_graph(strokes: tf.Tensor, lengths: tf.Tensor, max_points: int, max_nodes: int,
                     cells: np.ndarray) -> dict:
    """TF twin of graph_builder.build_batch's encoder inputs (re_scale 0, padded to the batch).

    strokes: [B, N, 3] stroke-3 zero-padded past lengths [B]; cells: graph_builder.CELLS.
    """
    import tensorflow as tf

    batch, steps = tf.shape(strokes)[0], tf.shape(strokes)[1]
    valid = tf.sequence_mask(lengths, steps)
    pen = strokes[..., 2] > 0.5
    # float64 sums, as utils.absolute_flat, so the absolute points match bit for bit.
    xy = tf.cast(tf.cumsum(tf.cast(strokes[..., :2], tf.float64), axis=1), tf.float32)
    start = tf.concat([tf.ones([batch, 1], tf.bool), pen[:, :-1]], axis=1)
    time = tf.broadcast_to(tf.range(steps)[None, :], [batch, steps])
    # Position inside the pen stroke = time - time of the stroke's first point.
    stroke = tf.cumsum(tf.cast(start, tf.int32), axis=1) - 1 + tf.range(batch)[:, None] * steps
    first = tf.math.unsorted_segment_min(time, stroke, batch * steps)
    pos = time - tf.gather(first, stroke)
    new_piece = tf.logical_and(tf.equal(pos % max_points, 0), valid)
    node = tf.cumsum(tf.cast(new_piece, tf.int32), axis=1) - 1
    num_nodes = tf.minimum(tf.reduce_sum(tf.cast(new_piece, tf.int32), axis=1), max_nodes)
    size = tf.reduce_max(num_nodes)

    idx = tf.where(tf.logical_and(valid, node < max_nodes))  # pieces past the cap are dropped
    b, n = tf.cast(idx[:, 0], tf.int32), tf.gather_nd(node, idx)
    kept = tf.gather_nd(xy, idx)
    pos_in_node = tf.gather_nd(pos, idx) % max_points
    width = tf.reduce_max(tf.concat([pos_in_node + 1, [1]], axis=0))  # the batch's longest node
    points = tf.scatter_nd(tf.stack([b, n, pos_in_node], 1), kept, tf.stack([batch, size, width, 2]))
    piece_lengths = tf.scatter_nd(tf.stack([b, n], 1), tf.ones_like(b), tf.stack([batch, size]))
    seg = b * size + n
    low = tf.reshape(tf.math.unsorted_segment_min(kept, seg, batch * size), [batch, size, 2])
    high = tf.reshape(tf.math.unsorted_segment_max(kept, seg, batch * size), [batch, size, 2])
    return {"points": points, "piece_lengths": piece_lengths,
            "relations": grid_relations(low, high, num_nodes, cells)}


def grid_relations(low: tf.Tensor, high: tf.Tensor, num_nodes: tf.Tensor, cells: np.ndarray) -> tf.Tensor:
    """Relations [B,S,S,9] from node boxes low/high [B,S,2]: row (i, j) = cells reached by j around i."""
    import tensorflow as tf

    box = tf.stack([low[..., 0], high[..., 0], low[..., 1], high[..., 1]], axis=-1)  # x0 x1 y0 y1
    coord = box[:, None, :, :]
    lo = tf.gather(box, [0, 0, 2, 2], axis=-1)[:, :, None, :]
    hi = tf.gather(box, [1, 1, 3, 3], axis=-1)[:, :, None, :]
    # Class 0 below node i's box, 2 above it, 1 on or inside its borders (graph_builder._codes).
    cls = tf.cast(coord >= lo, tf.int32) + tf.cast(coord > hi, tf.int32)
    code = tf.reduce_sum(cls * tf.constant([27, 9, 3, 1]), axis=-1)
    real = tf.sequence_mask(num_nodes, tf.shape(box)[1])
    pair = tf.logical_and(real[:, :, None], real[:, None, :])
    rel = tf.gather(tf.constant(cells, tf.float32), code)
    return tf.where(pair[..., None], rel, tf.zeros_like(rel))


def sequences_to_strokes(seq: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
    """Absolute 5-D rows [B,T,5] -> stroke-3 [B,T,3] zero from `lengths` on (as utils.to_stroke3)."""
    import tensorflow as tf

    xy = tf.cast(seq[..., :2], tf.float64)
    delta = tf.cast(xy - tf.pad(xy[:, :-1], [[0, 0], [1, 0], [0, 0]]), tf.float32)
    lifted = tf.cast(tf.equal(tf.argmax(seq[..., 2:5], axis=-1, output_type=tf.int32), 1), tf.float32)
    rows = tf.concat([delta, lifted[..., None]], axis=-1)
    valid = tf.sequence_mask(lengths, tf.shape(seq)[1])
    return tf.where(valid[..., None], rows, tf.zeros_like(rows))


def build_module(model: tf.Module, scale_factor: float) -> tuple:
    """(tf.Module holding the model and its traced functions, {signature name: concrete function})."""
    import tensorflow as tf

    import graph_builder
    from inference import decode_loop

    hps = model.hps
    f32, i32 = tf.float32, tf.int32
    module = tf.Module(name="sketchgloc_export")
    module.model = model
    module.scale_factor = tf.Variable(scale_factor, dtype=f32, trainable=False, name="scale_factor")
    module.max_seq_len = tf.Variable(hps.max_seq_len, dtype=i32, trainable=False, name="max_seq_len")
    module.z_size = tf.Variable(hps.z_size, dtype=i32, trainable=False, name="z_size")
    cells = graph_builder.CELLS

    def codes_of(batch: dict) -> dict:
        return {"codes": model.encode(batch, training=False)[0]}

    # autograph=False: no Python control flow on tensors below, so autograph would only re-parse the source.
    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 2], f32, "points"),
                                  tf.TensorSpec([None, None], i32, "piece_lengths"),
                                  tf.TensorSpec([None, None, None, 9], f32, "relations")], autograph=False)
    def encode(points, piece_lengths, relations):
        for name, value in (("points", points), ("relations", relations)):
            tf.debugging.assert_all_finite(value, f"encode: input '{name}' holds NaN or Inf values")
        return codes_of({"points": points, "piece_lengths": piece_lengths, "relations": relations})

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], f32, "strokes"),
                                  tf.TensorSpec([None], i32, "lengths")], autograph=False)
    def encode_strokes(strokes, lengths):
        # NaN strokes would give NaN codes without a word; padding rows count too (they must be 0).
        tf.debugging.assert_all_finite(strokes, "encode_strokes: input 'strokes' holds NaN or Inf values")
        tf.debugging.assert_positive(lengths, "every sketch needs at least one point")
        tf.debugging.assert_less_equal(lengths, tf.shape(strokes)[1], "lengths beyond the strokes")
        graph = strokes_to_graph(strokes, lengths, hps.max_stroke_len + 1, hps.max_strokes_num, cells)
        return codes_of(graph)

    @tf.function(autograph=False)
    def generate(codes, max_len=None):
        max_len = module.max_seq_len if max_len is None else max_len
        seq, lengths = decode_loop(model, codes, tf.convert_to_tensor(max_len, i32), True,
                                   tf.constant(1.0), tf.constant(0))
        return {"sequences": seq, "lengths": lengths, "strokes": sequences_to_strokes(seq, lengths)}

    module.encode, module.encode_strokes, module.generate = encode, encode_strokes, generate
    codes_spec = tf.TensorSpec([None, hps.z_size], f32, "codes")
    signatures = {
        "encode": encode.get_concrete_function(),
        "encode_strokes": encode_strokes.get_concrete_function(),
        "generate": generate.get_concrete_function(codes_spec),
        "generate_max_len": generate.get_concrete_function(codes_spec, tf.TensorSpec([], i32, "max_len")),
    }
    return module, signatures


def export(checkpoint: str, out: str, ckpt_id: int = 0, overwrite: bool = False) -> str:
    """Write the SavedModel and model_config.json of a training folder's checkpoint to `out`."""
    hps, extras, _ = checkpoints.check_folder(checkpoint, ckpt_id)
    check_out(out, overwrite)
    import tensorflow as tf

    import inference

    model, hps, extras, _ = inference.load_model(checkpoint, ckpt_id)
    module, signatures = build_module(model, float(extras["scale_factor"]))
    before = set(os.listdir(out))
    # Recorded first, so that an interrupted export is still recognised as ours.
    fileio.add_to_manifest(out, EXPORT_NAMES)
    tf.saved_model.save(module, out, signatures=signatures)
    hparams_lib.save(hps, os.path.join(out, checkpoints.CONFIG_NAME), **extras)
    fileio.add_to_manifest(out, set(os.listdir(out)) - before - {fileio.MANIFEST_NAME})
    return out


def checkpoint_parser(doc: str, out_help: str) -> argparse.ArgumentParser:
    """The command line of a tool that reads one checkpoint and writes a folder."""
    parser = cli.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="training --log_root folder (or a ckpt prefix)")
    parser.add_argument("--ckpt_id", type=int, default=0, help="checkpoint step; 0: the latest best")
    parser.add_argument("--out", required=True, help=out_help)
    return parser


@errors.guarded
def main(argv: list | None = None) -> int:
    """CLI: print the export folder; `error: ...` on stderr and exit status 1 on a user error."""
    parser = checkpoint_parser(__doc__, "folder for the SavedModel")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a folder holding files sketchgloc did not write there "
                             "(files of the export's names are replaced)")
    args = parser.parse_args(argv)
    print(export(args.checkpoint, args.out, args.ckpt_id, args.overwrite))
    return 0


if __name__ == "__main__":
    sys.exit(main())
