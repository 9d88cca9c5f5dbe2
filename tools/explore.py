"""See what a model learned: walk between two sketches' codes, or map all test codes.

    python tools/explore.py interpolate --checkpoint pretrained/quickdraw4 --data_dir data \
        --a face:3 --b pig:7 [--steps 8] [--mode both|lerp|slerp] --out out/
    python tools/explore.py map --checkpoint pretrained/quickdraw4 --data_dir data --out out/

A sketch is `category:index` (the index-th usable test sketch of a category of
the model), `file.npz[:index]` (a sketch of the file's test split, default 0)
or `file.npy` (one stroke-3 [N, 3] array); files are in the data's raw units
and divided by the model's scale_factor, like the training data.

`interpolate` encodes both sketches to their code means mu (a code is
y = mu + exp(s/2) eps; the mean is the model's best guess), decodes `--steps`
codes from A to B (both ends included) and writes `interpolate.png` (one row
per mode, the two inputs at the ends) and one SVG per decoded code.
`lerp` moves on the straight line; `slerp` on the great circle between the two
codes' directions, its length interpolated linearly, so that middle codes keep
the norm typical of codes instead of shrinking toward the origin.

`map` encodes the test sketches (all, or --sample_size per category), undisturbed
and disrupted (--re_scale, seeded), projects each set with t-SNE (`--projection pca`: instant) and writes
`map.png` (coloured by category, a few sketches drawn at their points) and
`map.json` with code_metrics.code_metrics of both sets (5-NN leave-one-out
category accuracy and silhouette score), also printed.

Files sketchgloc did not write are never replaced (the folder's manifest lists ours).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # the project's modules, when run as `python tools/explore.py`

import numpy as np  # noqa: E402

import checkpoints  # noqa: E402
import code_metrics  # noqa: E402
import errors  # noqa: E402
import fileio  # noqa: E402
import safe_npz  # noqa: E402
import sample_abs  # noqa: E402
import utils  # noqa: E402

STRIP_PNG = "interpolate.png"
MAP_PNG, MAP_JSON = "map.png", "map.json"
MODES = ("lerp", "slerp")
SVG_SIZE = 256


class ExploreError(errors.UserError):
    """A bad sketch reference, file or output folder."""


# ------------------------------------------------------------------ sketches

def parse_ref(ref: str) -> tuple[str, str, int]:
    """'face:3' -> ('category', 'face', 3); 'a.npz:2' -> ('npz', 'a.npz', 2); 'a.npy' -> ('npy', ..., 0)."""
    head, sep, tail = ref.rpartition(":")
    has_index = bool(sep) and tail.strip().lstrip("-").isdigit()
    name, index = (head, int(tail)) if has_index else (ref, 0)
    if index < 0:
        raise ExploreError(f"{ref}: the sketch index must be >= 0")
    if name.lower().endswith(".npy"):
        if has_index:
            raise ExploreError(f"{ref}: an .npy file holds one sketch, give no index")
        return "npy", name, 0
    if name.lower().endswith(".npz"):
        return "npz", name, index
    if not has_index:
        raise ExploreError(f"{ref}: expected category:index (e.g. face:3), file.npz[:index] or file.npy")
    return "category", name, index


def _checked_points(where: str, arr: object) -> np.ndarray:
    """One stroke-3 sketch, checked like the data loader's; ExploreError naming `where` otherwise."""
    holder = np.empty(1, object)
    holder[0] = arr
    try:
        flat, _ = safe_npz.check_split(where, "sketch", holder)
    except safe_npz.DataError as err:
        raise ExploreError(errors.first_line(err)) from None
    return flat


def file_sketch(kind: str, path: str, index: int, scale_factor: float) -> np.ndarray:
    """The stroke-3 sketch of an .npy file or of an .npz file's test split, normalised."""
    if not os.path.isfile(path):
        raise ExploreError(f"{path}: no such file")
    try:
        if kind == "npy":
            arr = np.load(path, allow_pickle=False)
        else:
            test = safe_npz.read_splits(path, index + 1)["test"]
            if index >= len(test):
                raise ExploreError(f"{path}: the test split has {len(test)} sketches, no index {index}")
            arr = test[index]
    except (OSError, ValueError) as err:  # DataError is a ValueError
        raise ExploreError(f"{path}: unreadable ({errors.first_line(err)})") from None
    flat = _checked_points(f"{path}[{index}]" if kind == "npz" else path, arr)
    flat[:, :2] /= np.float32(scale_factor)
    return flat


def load_refs(refs: list, data_dir: str, hps, scale_factor: float) -> list:
    """Normalised stroke-3 sketches of the references, in their order."""
    parsed = [parse_ref(r) for r in refs]
    wanted = {}
    for kind, name, index in parsed:
        if kind == "category":
            if name not in hps.categories:
                raise ExploreError(f"{name}: not a category of the model ({', '.join(hps.categories)})")
            wanted[name] = max(wanted.get(name, 0), index + 1)
    tests = {}
    for name, size in wanted.items():
        try:
            tests[name] = sample_abs.load_test_sketches(data_dir, [name], size, hps, scale_factor)[0]
        except safe_npz.DataError as err:
            raise ExploreError(errors.first_line(err)) from None
    out = []
    for ref, (kind, name, index) in zip(refs, parsed):
        if kind != "category":
            out.append(file_sketch(kind, name, index, scale_factor))
        elif index >= len(tests[name]):
            raise ExploreError(f"{ref}: {data_dir} has {len(tests[name])} usable test sketches of {name}")
        else:
            out.append(np.array(tests[name][index], np.float32))
    return out


# ------------------------------------------------------------- interpolation

def lerp(a: np.ndarray, b: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Codes (1 - t) a + t b for every t: [len(ts), z]."""
    ts = np.asarray(ts, np.float64)[:, None]
    return ((1.0 - ts) * a + ts * b).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Spherical: direction along the great circle, norm linear; lerp for (anti)parallel codes."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na, nb = np.linalg.norm(a64), np.linalg.norm(b64)
    if na == 0 or nb == 0:
        return lerp(a, b, ts)
    ua, ub = a64 / na, b64 / nb
    omega = np.arccos(np.clip(ua @ ub, -1.0, 1.0))
    if omega < 1e-6 or np.pi - omega < 1e-6:  # no unique great circle
        return lerp(a, b, ts)
    ts = np.asarray(ts, np.float64)[:, None]
    direction = (np.sin((1 - ts) * omega) * ua + np.sin(ts * omega) * ub) / np.sin(omega)
    return (direction * ((1 - ts) * na + ts * nb)).astype(np.float32)


def interpolation_codes(a: np.ndarray, b: np.ndarray, steps: int, mode: str) -> np.ndarray:
    """`steps` codes from a to b (both included) by 'lerp' or 'slerp'."""
    ts = np.linspace(0.0, 1.0, steps)
    return lerp(a, b, ts) if mode == "lerp" else slerp(a, b, ts)


def decode(generator, codes: np.ndarray, greedy: bool, temperature: float, seed: int) -> list:
    """Absolute (x, y, pen_lifted) points of the sketch decoded from every code."""
    seqs, lengths = generator.generate(np.asarray(codes, np.float32), greedy, temperature, seed)
    return [utils.five_to_points(sample_abs.cut_sequence(s, n)) for s, n in zip(seqs, lengths)]


def planned_interpolation(modes: list, steps: int) -> list:
    """Names of the files `interpolate` writes."""
    return [STRIP_PNG] + [f"interp_{m}_{i}.svg" for m in modes for i in range(steps)]


def strip_picture(rows: dict, a: np.ndarray, b: np.ndarray, path: str) -> None:
    """One row per mode: input A, the decoded codes (t from 0 to 1), input B."""
    import plots
    plt = plots.plt

    steps = len(next(iter(rows.values())))
    fig, axes = plt.subplots(len(rows), steps + 2, figsize=(1.4 * (steps + 2), 1.6 * len(rows)),
                             squeeze=False)
    for r, (mode, sketches) in enumerate(rows.items()):
        cells = [(a, "A (input)")] + [(p, f"t={t:.2f}") for p, t in
                                      zip(sketches, np.linspace(0, 1, steps))] + [(b, "B (input)")]
        for c, (points, title) in enumerate(cells):
            ax = axes[r][c]
            plots.draw_sketch(ax, points, color="tab:blue" if c in (0, steps + 1) else "black")
            ax.set_title(title if r == 0 else "", fontsize=8)
        axes[r][0].text(-0.15, 0.5, mode, transform=axes[r][0].transAxes, rotation=90,
                        va="center", ha="right", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def interpolate(generator, sketch_a: np.ndarray, sketch_b: np.ndarray, out: str, *, steps: int = 8,
                modes=MODES, greedy: bool = True, temperature: float = 0.24, seed: int = 0) -> dict:
    """Decode codes between two sketches' code means; write the strip and the SVGs; returns a summary."""
    mu = generator.encode([sketch_a, sketch_b])
    rows = {}
    for mode in modes:
        rows[mode] = decode(generator, interpolation_codes(mu[0], mu[1], steps, mode),
                            greedy, temperature, seed)
        for i, points in enumerate(rows[mode]):
            sample_abs.write_svg(points, os.path.join(out, f"interp_{mode}_{i}.svg"), size=SVG_SIZE)
    strip_picture(rows, utils.to_absolute(sketch_a), utils.to_absolute(sketch_b),
                  os.path.join(out, STRIP_PNG))
    fileio.add_to_manifest(out, planned_interpolation(list(modes), steps))
    return {"code_distance": float(np.linalg.norm(mu[0] - mu[1])),
            "points": {m: [len(p) for p in rows[m]] for m in modes}}


# ----------------------------------------------------------------------- map

def input_codes(generator, sketches: list, re_scale: float, seed: int) -> tuple[np.ndarray, list]:
    """(codes, inputs): all categories' sketches disrupted with re_scale as the evaluation does."""
    inputs = sample_abs.disrupt_categories(sketches, re_scale, seed)
    flat = [s for group in inputs for s in group]
    return generator.encode(flat), flat


def project(codes: np.ndarray, seed: int, method: str = "tsne") -> np.ndarray:
    """2-D embedding of the codes: t-SNE (scikit-learn, seeded) or the first two principal components."""
    x = np.asarray(codes, np.float64)
    if method == "pca" or len(x) < 4:
        centred = x - x.mean(0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        return centred @ vt[:2].T if vt.shape[0] >= 2 else np.pad(centred @ vt.T, ((0, 0), (0, 1)))
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, (len(x) - 1) / 3))
    # 500 iterations instead of 1000: the clusters have settled by then, at half the time.
    return TSNE(n_components=2, perplexity=perplexity, init="pca", max_iter=500,
                random_state=seed).fit_transform(x)


def _draw_at(ax, points: np.ndarray, centre: np.ndarray, size: float, color) -> None:
    """A sketch scaled into a size x size box at `centre` (y downwards, as drawn), on a white card."""
    from matplotlib.patches import Rectangle

    xy = points[:, :2] - (points[:, :2].min(0) + points[:, :2].max(0)) / 2
    xy = xy / max(float(np.ptp(points[:, :2], axis=0).max()), 1e-6) * size
    xy = xy * np.array([1.0, -1.0]) + centre  # the map's y grows upwards
    ax.add_patch(Rectangle(centre - 0.6 * size, 1.2 * size, 1.2 * size, facecolor="white",
                           edgecolor=color, lw=0.8, alpha=0.9, zorder=3))
    ends = np.flatnonzero(points[:, 2] > 0.5) + 1
    for stroke in np.split(xy, ends):
        if len(stroke):
            ax.plot(stroke[:, 0], stroke[:, 1], color="black", lw=0.7, zorder=4)


def map_picture(panels: list, labels: np.ndarray, categories: list, path: str, shown: int = 3) -> None:
    """Scatter per panel (title, embedding [n, 2], metrics, absolute sketches), `shown` per category drawn."""
    import plots
    plt = plots.plt
    from matplotlib import colormaps

    colours = colormaps["tab10"]
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 7), squeeze=False)
    for ax, (title, emb, metrics, sketches) in zip(axes[0], panels):
        size = 0.07 * float(np.ptp(emb, axis=0).max())
        for c, name in enumerate(categories):
            mask = labels == c
            ax.scatter(emb[mask, 0], emb[mask, 1], s=6, color=colours(c % 10), label=name, alpha=0.7)
            for i in np.flatnonzero(mask)[:shown]:
                _draw_at(ax, sketches[i], emb[i], size, colours(c % 10))
        sil = metrics["silhouette"]
        ax.set_title(f"{title}\n5-NN acc {100 * metrics['knn_acc']:.1f}% (chance "
                     f"{100 * metrics['chance']:.0f}%), silhouette {sil if sil is None else round(sil, 3)}",
                     fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=8, markerscale=2, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def code_map(generator, sketches: list, categories: list, out: str, *, re_scale: float = 0.3,
             seed: int = 0, shown: int = 3, projection: str = "tsne") -> dict:
    """Codes of the test sketches undisturbed and disrupted: metrics, t-SNE picture, map.json."""
    start = time.perf_counter()
    labels = np.concatenate([np.full(len(s), c) for c, s in enumerate(sketches)])
    sets = {"undisturbed": 0.0, f"disrupted (re_scale {re_scale:g})": re_scale}
    panels, results = [], {}
    for i, (title, r) in enumerate(sets.items()):
        codes, inputs = input_codes(generator, sketches, r, seed)
        metrics = code_metrics.code_metrics(codes, labels)
        results["undisturbed" if i == 0 else "disrupted"] = {"re_scale": r, **metrics}
        panels.append((title, project(codes, seed, projection), metrics,
                       [utils.to_absolute(s) for s in inputs]))
    map_picture(panels, labels, categories, os.path.join(out, MAP_PNG), shown)
    summary = {"checkpoint": generator.checkpoint, "categories": list(categories),
               "counts": [len(s) for s in sketches], "seed": seed, "projection": projection, **results,
               "seconds": round(time.perf_counter() - start, 2)}
    fileio.write_json(os.path.join(out, MAP_JSON), summary)
    fileio.add_to_manifest(out, [MAP_PNG, MAP_JSON])
    return summary


# ----------------------------------------------------------------------- CLI

def check_out(out: str, names: list) -> None:
    """ExploreError unless every planned file can be written without replacing a file of the user's."""
    for name in names:
        problem = fileio.own_file_problem(out, name)
        if problem:
            raise ExploreError(problem)


def parser() -> argparse.ArgumentParser:
    """The command line of both verbs."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    verbs = p.add_subparsers(dest="verb", required=True)
    for verb in ("interpolate", "map"):
        v = verbs.add_parser(verb)
        v.add_argument("--checkpoint", required=True, help="training folder (e.g. pretrained/quickdraw4)")
        v.add_argument("--ckpt_id", type=int, default=0)
        v.add_argument("--data_dir", default="data", help="folder of <category>.npz files")
        v.add_argument("--out", required=True, help="output folder")
        v.add_argument("--seed", type=int, default=0)
    i = verbs.choices["interpolate"]
    i.add_argument("--a", required=True, help="category:index, file.npz[:index] or file.npy")
    i.add_argument("--b", required=True, help="category:index, file.npz[:index] or file.npy")
    i.add_argument("--steps", type=int, default=8, help="decoded codes, both ends included (>= 2)")
    i.add_argument("--mode", choices=("both",) + MODES, default="both")
    i.add_argument("--sample", action="store_true",
                   help="temperature sampling (seeded) instead of greedy decoding")
    i.add_argument("--temperature", type=float, default=0.24)
    m = verbs.choices["map"]
    m.add_argument("--sample_size", type=int, default=0, help="test sketches per category (0: all)")
    m.add_argument("--re_scale", type=float, default=0.3, help="disruption of the second set")
    m.add_argument("--shown", type=int, default=3, help="sketches drawn per category")
    m.add_argument("--projection", choices=("tsne", "pca"), default="tsne",
                   help="t-SNE (1-2 minutes for 2 x 1,000 codes on 2 busy cores) or PCA (instant)")
    return p


def check_args(args: argparse.Namespace) -> None:
    """UsageError for values out of range."""
    if args.verb == "interpolate":
        if not 2 <= args.steps <= 64:
            raise errors.UsageError(f"--steps must be in 2..64, got {args.steps}")
        if not 0 < args.temperature < float("inf"):
            raise errors.UsageError(f"--temperature must be > 0, got {args.temperature}")
    else:
        if args.sample_size < 0:
            raise errors.UsageError(f"--sample_size must be >= 0, got {args.sample_size}")
        if not 0 <= args.re_scale < float("inf"):
            raise errors.UsageError(f"--re_scale must be >= 0, got {args.re_scale}")


@errors.guarded
def main(argv: list | None = None, generator=None) -> dict:
    """CLI entry; `generator` (a sample_abs.SketchGenerator) skips restoring the model again."""
    args = parser().parse_args(argv)
    check_args(args)
    hps, extras, _ = checkpoints.check_folder(args.checkpoint, args.ckpt_id)
    scale_factor = float(extras["scale_factor"])
    if args.verb == "interpolate":
        modes = list(MODES) if args.mode == "both" else [args.mode]
        check_out(args.out, planned_interpolation(modes, args.steps))
        a, b = load_refs([args.a, args.b], args.data_dir, hps, scale_factor)
    else:
        check_out(args.out, [MAP_PNG, MAP_JSON])
        size = args.sample_size or hps.num_per_category
        try:
            sketches = sample_abs.load_test_sketches(args.data_dir, list(hps.categories), size, hps,
                                                     scale_factor)
        except safe_npz.DataError as err:
            raise ExploreError(errors.first_line(err)) from None
    generator = generator or sample_abs.SketchGenerator(args.checkpoint, args.ckpt_id)
    if args.verb == "interpolate":
        result = interpolate(generator, a, b, args.out, steps=args.steps, modes=modes,
                             greedy=not args.sample, temperature=args.temperature, seed=args.seed)
        print(f"code distance |mu_a - mu_b| = {result['code_distance']:.3f}; wrote "
              f"{os.path.join(args.out, STRIP_PNG)} and {args.steps * len(modes)} SVGs")
        return result
    result = code_map(generator, sketches, list(hps.categories), args.out, re_scale=args.re_scale,
                      seed=args.seed, shown=args.shown, projection=args.projection)
    for key in ("undisturbed", "disrupted"):
        r = result[key]
        sil = "n/a" if r["silhouette"] is None else f"{r['silhouette']:.3f}"
        print(f"{key:11s} re_scale {r['re_scale']:g}: 5-NN category acc {100 * r['knn_acc']:.1f}% "
              f"(chance {100 * r['chance']:.1f}%), silhouette {sil}, {r['n']} codes")
    print(f"wrote {os.path.join(args.out, MAP_PNG)} and {MAP_JSON} in {result['seconds']:.1f} s")
    return result


if __name__ == "__main__":
    main()
