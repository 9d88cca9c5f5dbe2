"""The CPU thread layout: when the decoder is sharded, and how many threads an op gets."""
import cpu_layout


def test_small_decoder_is_sharded_over_the_cores():
    assert cpu_layout.plan(100, 128, cores=2) == (2, 1)
    assert cpu_layout.plan(100, 128, cores=16) == (2, 8)  # at least 50 sketches a shard
    assert cpu_layout.plan(400, 256, cores=4) == (4, 1)


def test_wide_decoder_small_batch_or_one_core_are_left_alone():
    assert cpu_layout.plan(100, 512, cores=2) == (1, 2)
    assert cpu_layout.plan(99, 128, cores=2) == (1, 2)
    assert cpu_layout.plan(100, 128, cores=1) == (1, 1)


def test_configure_after_tensorflow_started_keeps_defaults():
    import tensorflow as tf
    tf.constant(1.0) + 1.0  # the runtime is up: thread pools are fixed
    assert cpu_layout.configure(100, 128, cores=2) == 1
    assert cpu_layout.decoder_shards() == 1
