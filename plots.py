"""Matplotlib pictures: sketches side by side (reconstruction grids, sample overviews)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import utils  # noqa: E402


def draw_sketch(ax, points: np.ndarray, color: str = "black") -> None:
    """Draw absolute (x, y, pen_lifted) points on `ax`, y downwards as in QuickDraw."""
    ends = np.flatnonzero(points[:, 2] > 0.5) + 1
    for stroke in np.split(points[:, :2], ends):
        if len(stroke):
            ax.plot(stroke[:, 0], stroke[:, 1], color=color, linewidth=1.2,
                    marker="." if len(stroke) == 1 else None)
    ax.set_aspect("equal")
    if not ax.yaxis_inverted():
        ax.invert_yaxis()
    ax.axis("off")


def sketch_grid(rows: list[list[np.ndarray]], titles: list[str], path: str) -> None:
    """Save a grid: one row per example, one column per title (e.g. input / disrupted / output)."""
    n_rows, n_cols = len(rows), len(titles)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2 * n_cols, 2 * n_rows), squeeze=False)
    for r, row in enumerate(rows):
        for c, points in enumerate(row):
            draw_sketch(axes[r][c], points)
            if r == 0:
                axes[r][c].set_title(titles[c], fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def loss_curve(records: list[dict], path: str) -> None:
    """Save train (epoch mean) and validation loss against the step."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, style in (("train", "-"), ("valid", "o-")):
        points = [(r["step"], r[key]) for r in records if r.get(key) is not None]
        if points:
            ax.plot(*zip(*points), style, label=key)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (sum over time, mean over sketches)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def reconstructions(batch: dict, outputs: list, disrupted: bool, path: str) -> None:
    """Save a grid of a batch's input, its disrupted pieces (when `disrupted`) and the model's output."""
    rows, titles = [], ["input"] + (["disrupted"] if disrupted else []) + ["output"]
    for b in range(len(outputs)):
        row = [utils.five_to_points(batch["targets"][b, 1:])]
        if disrupted:
            row.append(pieces_as_points(batch["points"][b], batch["piece_lengths"][b]))
        rows.append(row + [utils.five_to_points(outputs[b])])
    sketch_grid(rows, titles, path)


def pieces_as_points(points: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The encoder's pieces [S, P, 2] as one absolute point list, a pen lift after each piece."""
    parts = []
    for piece, n in zip(points, lengths):
        if n > 0:
            pen = np.zeros((n, 1), np.float32)
            pen[-1] = 1.0
            parts.append(np.concatenate([piece[:n], pen], axis=1))
    return np.concatenate(parts) if parts else np.zeros((0, 3), np.float32)
