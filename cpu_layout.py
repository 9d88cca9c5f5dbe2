"""Thread layout for training on a machine without a GPU.

The decoder is a loop of ~250 steps of small ops (a [100, 1024] layer norm, a
[100, 384] x [384, 1024] matmul). Split over two threads, such an op spends
about as long handing work over as computing: measured on 2 cores, an
element-wise op of 100k floats takes 45 us on two threads and 23 us on one.
So on CPU the decoder batch is cut into `shards` parts that run side by side,
each op on `cores // shards` threads. Rows of a batch never interact in the
decoder, so the arithmetic is unchanged. The encoder keeps its own parallelism
(forward and backward RNNs, the graphs of the GCN run as independent ops).

Only small decoders are sharded. Measured on 2 cores (benchmarks/bench_train.py,
sheep, batch 100): the small preset (128 units) trains 22% faster; the paper
preset (512 units) gains nothing measurable and holds 1.3 GB more memory,
because both shards' saved activations are alive at once.
"""
from __future__ import annotations

import os

MIN_SHARD = 50  # sketches per shard; below this the matmuls lose efficiency
MAX_SHARDED_UNITS = 256  # wider decoders have ops large enough for several threads
_state = {"shards": 1}


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def plan(batch_size: int, dec_rnn_size: int, cores: int) -> tuple[int, int]:
    """(shards, threads per op) for a per-device batch on `cores` cores."""
    if dec_rnn_size > MAX_SHARDED_UNITS:
        return 1, cores
    shards = max(1, min(cores, batch_size // MIN_SHARD))
    return shards, max(1, cores // shards)


def configure(batch_size: int, dec_rnn_size: int, cores: int | None = None,
              strategy: str = "default") -> int:
    """Apply the layout when no GPU is visible; returns the decoder shards (1: left as is).

    Only for one device (`strategy` "default"): a distributed batch is split already.
    Must run before TensorFlow executes its first op (thread pools are fixed then).
    """
    import tensorflow as tf
    if strategy != "default" or tf.config.list_physical_devices("GPU"):
        return 1
    shards, threads = plan(batch_size, dec_rnn_size, cores or available_cores())
    if shards == 1:
        return 1
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(shards)
    except RuntimeError:  # TensorFlow already started: keep its default layout
        return 1
    _state["shards"] = shards
    return shards


def decoder_shards() -> int:
    """Shards set by `configure` (1 unless it applied a layout)."""
    return _state["shards"]
