"""Encoder of SketchGloc (METHOD.md §6): node encoder, multi-graph GCN, code y."""
from __future__ import annotations

import tensorflow as tf

import rnn
from layers import BatchNorm, Dense, cast_variables, he_normal


def real_piece_indices(piece_lengths: tf.Tensor) -> tf.Tensor:
    """[n, 2] (sketch, node) indices of the pieces that exist."""
    return tf.where(piece_lengths > 0)


class PieceEncoder(tf.Module):
    """Bidirectional RNN over each piece's points; embedding [h_fw_last, h_bw_last]."""

    def __init__(self, hps, name: str | None = None):
        super().__init__(name=name)
        kwargs = dict(use_recurrent_dropout=hps.use_recurrent_dropout,
                      dropout_keep_prob=hps.recurrent_dropout_prob,
                      hyper_num_units=hps.hyper_num_units,
                      hyper_embedding_size=hps.hyper_embedding_size)
        self.fw = rnn.make_cell(hps.enc_model, hps.enc_rnn_size, 2, **kwargs)
        self.bw = rnn.make_cell(hps.enc_model, hps.enc_rnn_size, 2, **kwargs)
        self.size = 2 * hps.enc_rnn_size

    def __call__(self, points: tf.Tensor, piece_lengths: tf.Tensor, training: bool) -> tf.Tensor:
        """[B, S, P, 2] points, [B, S] lengths -> [B, S, 2E]; zeros on padding nodes.

        Computes in the dtype of `points` (low precision under mixed precision).
        """
        # Only real nodes go through the RNN: padding nodes are often half the batch.
        idx = real_piece_indices(piece_lengths)
        pieces, lengths = tf.gather_nd(points, idx), tf.gather_nd(piece_lengths, idx)
        with cast_variables(self.fw, points.dtype), cast_variables(self.bw, points.dtype):
            emb = rnn.bidirectional_last(self.fw, self.bw, pieces, lengths, training=training)
        shape = tf.concat([tf.shape(piece_lengths, out_type=tf.int64), [self.size]], 0)
        return tf.scatter_nd(idx, emb, shape)

    def padded(self, points: tf.Tensor, piece_lengths: tf.Tensor, training: bool) -> tf.Tensor:
        """`__call__` with static shapes (for XLA): every node slot, padding included, runs."""
        batch, slots = tf.shape(points)[0], tf.shape(points)[1]
        flat = tf.reshape(points, tf.concat([[batch * slots], tf.shape(points)[2:]], 0))
        lengths = tf.reshape(piece_lengths, [-1])
        with cast_variables(self.fw, points.dtype), cast_variables(self.bw, points.dtype):
            emb = rnn.bidirectional_last_padded(self.fw, self.bw, flat, lengths, training=training)
        return tf.reshape(emb, [batch, slots, self.size])


class MultiGraphGCN(tf.Module):
    """`g = sum_nodes(sum_k A_k V + sum_k relu(relu(A_k V W1_k) W2_k)) / 2`."""

    def __init__(self, size: int, num_graphs: int, name: str | None = None):
        super().__init__(name=name)
        self.num_graphs = num_graphs
        self.w1 = tf.Variable(he_normal([num_graphs, size, size]), name="w1")
        self.w2 = tf.Variable(he_normal([num_graphs, size, size]), name="w2")

    def adjacency(self, relations: tf.Tensor) -> tf.Tensor:
        """The 9 relations, or their union (fully connected) for the 1-graph ablation."""
        if self.num_graphs == 9:
            return relations
        if self.num_graphs == 1:
            return tf.cast(tf.reduce_max(relations, axis=-1, keepdims=True) > 0, relations.dtype)
        raise ValueError(f"num_graphs must be 9 or 1, got {self.num_graphs}")

    def __call__(self, nodes: tf.Tensor, relations: tf.Tensor) -> tf.Tensor:
        """[B, S, D] nodes, [B, S, S, 9] relations -> [B, D] pooled graph feature.

        Row i of H0_k is exactly zero when node i has no neighbour in graph k (padding
        nodes included), and then so are its rows of H1_k and H2_k (no biases). Only the
        other rows go through W1 and W2: about a third of the padded rows on the sheep
        data, so the dominant matrix work of the paper-size encoder shrinks threefold.
        """
        adj = tf.cast(self.adjacency(relations), nodes.dtype)
        h0 = tf.einsum("bijk,bjd->kbid", adj, nodes)  # [K, B, S, D]
        pooled = tf.reduce_sum(h0, axis=[0, 2])
        active = tf.transpose(tf.reduce_any(adj > 0, axis=2), [2, 0, 1])  # [K, B, S]
        idx = tf.where(active)  # (k, b, i), grouped by k
        counts = tf.reduce_sum(tf.cast(active, tf.int32), axis=[1, 2])
        groups = tf.split(tf.gather_nd(h0, idx), counts, num=self.num_graphs)
        w1, w2 = tf.cast(self.w1, nodes.dtype), tf.cast(self.w2, nodes.dtype)
        h2 = tf.concat([tf.nn.relu(tf.matmul(tf.nn.relu(tf.matmul(rows, w1[k])), w2[k]))
                        for k, rows in enumerate(groups)], axis=0)
        pooled += tf.math.unsorted_segment_sum(h2, idx[:, 1], tf.shape(nodes)[0])
        return pooled / 2.0

    def dense(self, nodes: tf.Tensor, relations: tf.Tensor) -> tf.Tensor:
        """`__call__` with static shapes (for XLA): W1 and W2 over every row, the zero ones too."""
        adj = tf.cast(self.adjacency(relations), nodes.dtype)
        h0 = tf.einsum("bijk,bjd->kbid", adj, nodes)  # [K, B, S, D]
        w1, w2 = tf.cast(self.w1, nodes.dtype), tf.cast(self.w2, nodes.dtype)
        h2 = tf.nn.relu(tf.einsum("kbid,kde->kbie", tf.nn.relu(tf.einsum("kbid,kde->kbie", h0, w1)), w2))
        return tf.reduce_sum(h0 + h2, axis=[0, 2]) / 2.0


class GridEncoder(tf.Module):
    """Sketch graph -> (mu, s, y) with `y = mu + exp(s/2) eps` in training, `mu` otherwise.

    `sample_noise` (default True) switches the reparameterisation noise; tests turn it
    off to compare training steps exactly (e.g. distributed vs single device).
    `dtype` is the compute dtype of the piece encoder and the GCN; batch norm and the
    mu/sigma heads always run in float32, so (mu, s, y) are float32.
    With `hps.jit_compile` the node encoder and the GCN take their static-shape
    variants (`PieceEncoder.padded`, `MultiGraphGCN.dense`): XLA cannot compile the
    default ones, which skip padding with data-dependent shapes. Same results to
    round-off, but the padding is computed (several times the encoder's FLOPs).
    """

    def __init__(self, hps, name: str | None = None, dtype: tf.DType = tf.float32):
        super().__init__(name=name)
        self.sample_noise = True
        self.dtype = dtype
        self.static_shapes = bool(hps.jit_compile)
        self.pieces = PieceEncoder(hps, name="piece_encoder")
        size = self.pieces.size
        self.gcn = MultiGraphGCN(size, hps.num_graphs, name="gcn")
        self.norm = BatchNorm(size, name="batch_norm")
        self.mu = Dense(size, hps.z_size, name="mu")
        self.sigma = Dense(size, hps.z_size, name="sigma")

    def __call__(self, batch: dict, training: bool):
        """Batch dict -> (mu, s, y), each [B, z_size]."""
        points = tf.cast(batch["points"], self.dtype)
        if self.static_shapes:
            nodes = self.pieces.padded(points, batch["piece_lengths"], training)
            pooled = self.gcn.dense(nodes, batch["relations"])
        else:
            nodes = self.pieces(points, batch["piece_lengths"], training)
            pooled = self.gcn(nodes, batch["relations"])
        h = tf.tanh(self.norm(pooled, training))
        mu, s = self.mu(h), self.sigma(h)
        noisy = training and self.sample_noise
        y = mu + tf.exp(s / 2.0) * tf.random.normal(tf.shape(mu)) if noisy else mu
        return mu, s, y
