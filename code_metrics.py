"""How well a model's codes separate the categories: kNN accuracy and silhouette score.

Numpy only for kNN (its leave-one-out rule is spelled out below, so that a
tie cannot change with a library's version); scikit-learn's silhouette_score
is imported only when asked for. Used by tools/explore.py (`map`) and
evaluate.py (the `kNN acc` column).
"""
from __future__ import annotations

import numpy as np

K = 5


def _distances(codes: np.ndarray) -> np.ndarray:
    """Euclidean distances [n, n] between the rows of codes (float64, never negative)."""
    x = np.asarray(codes, np.float64)
    sq = np.sum(x * x, axis=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    return np.sqrt(np.maximum(d2, 0.0))


def knn_predictions(codes: np.ndarray, labels: np.ndarray, k: int = K) -> np.ndarray:
    """Leave-one-out k-nearest-neighbour label of every code (each code excluded from its own vote).

    The majority label of the k nearest other codes; a tie goes to the tied label
    whose nearest member is closest (neighbours at equal distance: the lower index first).
    """
    labels = np.asarray(labels)
    n = len(labels)
    if n < 2:
        raise ValueError(f"kNN needs at least 2 codes, got {n}")
    k = min(k, n - 1)
    d = _distances(codes)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :k]  # ordered nearest first
    votes = labels[nearest]
    out = np.empty(n, labels.dtype)
    for i, row in enumerate(votes):
        values, counts = np.unique(row, return_counts=True)
        tied = set(values[counts == counts.max()].tolist())
        out[i] = next(v for v in row if v in tied)  # first tied label in distance order
    return out


def knn_accuracy(codes: np.ndarray, labels: np.ndarray, k: int = K) -> float:
    """Fraction of codes whose leave-one-out kNN label is their own category."""
    labels = np.asarray(labels)
    return float(np.mean(knn_predictions(codes, labels, k) == labels))


def silhouette(codes: np.ndarray, labels: np.ndarray) -> float | None:
    """Mean silhouette (Euclidean) of the categories in code space; None with fewer than 2 categories."""
    labels = np.asarray(labels)
    if not 2 <= len(np.unique(labels)) <= len(labels) - 1:
        return None
    from sklearn.metrics import silhouette_score

    return float(silhouette_score(np.asarray(codes, np.float64), labels, metric="euclidean"))


def code_metrics(codes: np.ndarray, labels: np.ndarray, k: int = K) -> dict:
    """{knn_acc, silhouette, k, n, chance}: chance is the share of the most frequent category."""
    labels = np.asarray(labels)
    codes = np.asarray(codes)
    if codes.ndim != 2 or len(codes) != len(labels):
        raise ValueError(f"expected codes [n, z] and n labels, got {codes.shape} and {labels.shape}")
    _, counts = np.unique(labels, return_counts=True)
    return {"knn_acc": knn_accuracy(codes, labels, k), "silhouette": silhouette(codes, labels),
            "k": int(min(k, len(labels) - 1)), "n": int(len(labels)),
            "chance": float(counts.max() / len(labels))}
