"""Sketch codes y = mu for lists of sketches, with one compiled encoder call per batch.

Shared by sample_abs.py (codes of the test sketches) and retrieval.py (codes
of the generated sketches), so that both encode exactly the same way.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

import graph_builder

ENCODER_KEYS = ("points", "piece_lengths", "relations")


def make_encoder(model) -> Callable[[dict], np.ndarray]:
    """Compiled `batch dict -> mu` traced once for every batch, node and point count."""
    signature = [tf.TensorSpec([None, None, None, 2], tf.float32), tf.TensorSpec([None, None], tf.int32),
                 tf.TensorSpec([None, None, None, 9], tf.float32)]

    @tf.function(input_signature=signature)
    def mu(points, piece_lengths, relations):
        batch = {"points": points, "piece_lengths": piece_lengths, "relations": relations}
        return model.encode(batch, training=False)[0]

    return lambda batch: mu(*(tf.convert_to_tensor(batch[k]) for k in ENCODER_KEYS)).numpy()


def encode_strokes(encoder: Callable[[dict], np.ndarray], strokes: Sequence[np.ndarray], hps,
                   batch_size: int = 256) -> np.ndarray:
    """Codes [n, z_size] of normalised stroke-3 sketches (no disruption)."""
    codes = []
    for lo in range(0, len(strokes), batch_size):
        chunk = list(strokes[lo:lo + batch_size])
        batch = graph_builder.build_batch(
            chunk, np.zeros(len(chunk), np.int32), max_points=hps.max_stroke_len + 1,
            max_nodes=hps.max_strokes_num, max_seq_len=hps.max_seq_len, re_scale=0.0)
        codes.append(encoder(batch))
    return np.concatenate(codes) if codes else np.zeros((0, hps.z_size), np.float32)


class SketchEncoder:
    """A restored model's compiled encoder: normalised stroke-3 sketches -> codes."""

    def __init__(self, model, checkpoint: str = ""):
        self.model, self.hps, self.checkpoint = model, model.hps, checkpoint
        self._encoder = make_encoder(model)

    def encode(self, strokes: Sequence[np.ndarray], batch_size: int = 256) -> np.ndarray:
        """Codes y = mu [n, z_size] (no disruption)."""
        return encode_strokes(self._encoder, strokes, self.hps, batch_size)
