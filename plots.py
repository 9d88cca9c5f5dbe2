"""Matplotlib pictures: sketches side by side (reconstructions, samples), loss curves, grid graphs."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import colormaps  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

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


def loss_curves(runs: dict[str, list[dict]], path: str, title: str = "") -> None:
    """Save the validation loss of several runs (name -> losses.json records) on one plot."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, records in runs.items():
        points = [(r["step"], r["valid"]) for r in records if r.get("valid") is not None]
        if points:
            ax.plot(*zip(*points), ".-", label=name, linewidth=1)
    ax.set_xlabel("step")
    ax.set_ylabel("validation loss")
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def grid_graphs(pieces: list, chosen: int, box: np.ndarray, reach: np.ndarray, title: str,
                path: str) -> None:
    """Save the nodes of a sketch and, for each of the 9 cells of node `chosen`'s grid, the nodes reaching it.

    box: the chosen node's (x0, x1, y0, y1); reach: [n, 9] relations of the chosen
    node to every node (graph_builder.grid_relations), drawn by `python graph_builder.py --show`.
    """
    fig = plt.figure(figsize=(13, 6.2))
    grid = fig.add_gridspec(3, 6)
    _draw_pieces(fig.add_subplot(grid[:, :3]), pieces, chosen)
    for k in range(9):
        c, r = divmod(k, 3)  # k = 3*column + row; rows grow downwards like the sketch's y
        _draw_cell(fig.add_subplot(grid[r, 3 + c]), pieces, chosen, box, reach[:, k], k)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _draw_pieces(ax: object, pieces: list, chosen: int) -> None:
    """All pieces, one colour each, with their index at their first point."""
    colours = colormaps["tab20"]
    for i, p in enumerate(pieces):
        ax.plot(p[:, 0], p[:, 1], "-o", ms=2, lw=3 if i == chosen else 1.5, color=colours(i % 20))
        ax.annotate(str(i), p[0], fontsize=7)
    ax.set_title(f"nodes, one colour each (node {chosen} thick)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.invert_yaxis()  # y points down, as the sketch was drawn


def _draw_cell(ax: object, pieces: list, chosen: int, box: np.ndarray, reach: np.ndarray,
               k: int) -> None:
    """Relation k: cell k of the chosen piece's grid shaded, the pieces reaching it in red."""
    flat = np.concatenate(pieces)
    margin = max(0.05 * np.ptp(flat, axis=0).max(), 1e-3)
    xs = [flat[:, 0].min() - margin, box[0], box[1], flat[:, 0].max() + margin]
    ys = [flat[:, 1].min() - margin, box[2], box[3], flat[:, 1].max() + margin]
    c, r = divmod(k, 3)
    ax.add_patch(Rectangle((xs[c], ys[r]), xs[c + 1] - xs[c], ys[r + 1] - ys[r],
                           color="tab:blue", alpha=0.12, lw=0))
    for i, p in enumerate(pieces):
        colour = "black" if i == chosen else ("tab:red" if reach[i] else "0.8")
        ax.plot(p[:, 0], p[:, 1], "-", lw=1 if colour == "0.8" else 2, color=colour)
    for x in box[:2]:
        ax.axvline(x, color="tab:blue", lw=0.8)
    for y in box[2:]:
        ax.axhline(y, color="tab:blue", lw=0.8)
    others = int(reach.sum() - reach[chosen])
    ax.set_title(f"k={k} (col {c}, row {r}): {others}", fontsize=8)
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[-1], ys[0])  # y points down, as the sketch was drawn
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])


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


def metric_errorbars(series: dict[str, list[dict]], metrics: list[tuple[str, str]], path: str) -> None:
    """One panel per metric: mean ± sd (over seeds, in %) against test re_scale, one line per series.

    `series` maps a label to rows {"re_scale", key: {"mean", "sd", "n"}}.
    """
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4), squeeze=False)
    for ax, (key, title) in zip(axes[0], metrics):
        for i, (label, rows) in enumerate(series.items()):
            rows = [r for r in rows if r[key]["n"]]
            x = np.array([r["re_scale"] for r in rows]) + 0.004 * (i - len(series) / 2)  # side by side
            mean = np.array([100 * r[key]["mean"] for r in rows])
            sd = np.array([100 * (r[key]["sd"] or 0.0) for r in rows])
            n = max(r[key]["n"] for r in rows)
            ax.errorbar(x, mean, yerr=sd, marker="o", capsize=3, label=f"{label} (n={n})")
        ax.set_xlabel("test re_scale (disruption of the input)")
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("mean ± sd over training seeds", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
