"""The `claims` study's design and report: arms x seeds, the paper's claims as paired differences.

An arm is one configuration; its models are the arm trained with seeds 0, 1, 2.
The runs are listed in seed order (seed 0 of every arm, then seed 1, ...), so a
study cut short is balanced. A claim compares two arms at one test `re_scale`
(or the drop of a metric from test `re_scale` 0 to it), paired by seed.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import os

import study_stats

SEEDS = (0, 1, 2)
METRICS = (("rec", "Rec"), ("top_1", "Top-1"), ("top_10", "Top-10"), ("knn_acc", "kNN acc"))


@dataclasses.dataclass(frozen=True)
class Arm:
    """One configuration of the study: a name and the --hparams it adds to the study's."""

    name: str
    hparams: str
    label: str


@dataclasses.dataclass(frozen=True)
class Claim:
    """`better` beats `worse` at test `re_scale` (with `drop`: loses less from test re_scale 0 to it)."""

    name: str
    question: str
    better: str
    worse: str
    re_scale: float
    drop: bool = False
    short: str = ""  # the README's row label


ARMS_2X2 = (
    Arm("g9_rs0.3", "re_scale=0.3", "9 graphs, trained re_scale 0.3 (SketchGloc)"),
    Arm("g9_rs0", "re_scale=0.0", "9 graphs, trained re_scale 0"),
    Arm("g1_rs0.3", "num_graphs=1,re_scale=0.3", "1 graph, trained re_scale 0.3"),
    Arm("g1_rs0", "num_graphs=1,re_scale=0.0", "1 graph, trained re_scale 0"),
)
# The `small` preset's encoder when the study ran (128) against 64 and 256, on the SketchGloc arm
# (g9_rs0.3 is enc 128: the study pins it, tools/reproduce.py).
ARMS_ENCODER = (
    Arm("enc64", "re_scale=0.3,enc_rnn_size=64", "9 graphs, trained 0.3, encoder 64"),
    Arm("enc256", "re_scale=0.3,enc_rnn_size=256", "9 graphs, trained 0.3, encoder 256"),
)
ARMS = ARMS_2X2 + ARMS_ENCODER

CLAIMS = (
    Claim("graphs_rs0.3", "9 graphs beat 1 graph (both trained re_scale 0.3), test re_scale 0",
          "g9_rs0.3", "g1_rs0.3", 0.0, short="9 vs 1 graph (both trained 0.3), test 0"),
    Claim("graphs_rs0", "9 graphs beat 1 graph (both trained re_scale 0), test re_scale 0",
          "g9_rs0", "g1_rs0", 0.0, short="9 vs 1 graph (both trained 0), test 0"),
    Claim("reorg_9", "training at re_scale 0.3 beats 0 on disrupted input (9 graphs), test re_scale 0.3",
          "g9_rs0.3", "g9_rs0", 0.3, short="trained 0.3 vs 0 (9 graphs), test 0.3"),
    Claim("reorg_9_drop", "training at re_scale 0.3 loses less from test re_scale 0 to 0.3 (9 graphs)",
          "g9_rs0.3", "g9_rs0", 0.3, drop=True,
          short="trained 0.3 vs 0 (9 graphs), less lost from test 0 to 0.3"),
    Claim("reorg_1", "training at re_scale 0.3 beats 0 on disrupted input (1 graph), test re_scale 0.3",
          "g1_rs0.3", "g1_rs0", 0.3, short="trained 0.3 vs 0 (1 graph), test 0.3"),
    Claim("enc128_vs_64", "encoder 128 beats 64 (9 graphs, trained 0.3), test re_scale 0",
          "g9_rs0.3", "enc64", 0.0, short="encoder 128 vs 64, test 0"),
    Claim("enc256_vs_128", "encoder 256 beats 128 (9 graphs, trained 0.3), test re_scale 0",
          "enc256", "g9_rs0.3", 0.0, short="encoder 256 vs 128, test 0"),
)


# The `small` preset's encoder sizes, fastest first, with the arm that trains each (9 graphs, trained 0.3).
ENCODER_SIZES = ((64, "enc64"), (128, "g9_rs0.3"), (256, "enc256"))
ENCODER_METRICS = ("rec", "top_1", "top_10")
ENCODER_RULE = ("One size beats another when, at test re_scale 0 and paired over the seeds, its 95% interval "
                "is above 0 in at least one of Rec, Top-1, Top-10 and below 0 in none. The preset takes the "
                "fastest size that no other size beats, so \"cannot tell\" keeps the faster size. Fixed "
                "before the last seed was in (tools/claims.py).")


def run_name(arm: str, seed: int) -> str:
    """The study run of one arm and seed."""
    return f"{arm}_s{seed}"


def seed_order(arms: tuple, seeds: tuple = SEEDS) -> list:
    """(arm, seed) pairs: every arm at seed 0, then seed 1, ...; the 2x2 before the encoder arms."""
    groups = [a for a in arms if a in ARMS_2X2], [a for a in arms if a not in ARMS_2X2]
    return [(arm, seed) for group in groups for seed in seeds for arm in group]


def metric_at(result: dict, key: str, re_scale: float) -> float | None:
    """One metric of one evaluated model at one test re_scale (None when not measured)."""
    for row in result.get("settings", []):
        if abs(row["re_scale"] - re_scale) < 1e-9:
            value = row.get(key)
            return None if value is None else float(value)
    return None


def claim_value(result: dict, claim: Claim, key: str) -> float | None:
    """What a claim compares for one model: the metric at its re_scale, or the metric's drop from 0."""
    at = metric_at(result, key, claim.re_scale)
    if not claim.drop or at is None:
        return at
    base = metric_at(result, key, 0.0)
    return None if base is None else at - base  # minus the drop: higher is better, as for the metric


def claim_rows(claims: tuple, results: dict, seeds: tuple = SEEDS) -> list:
    """Every claim and metric: the paired difference over the seeds both arms have, interval, verdict."""
    rows = []
    for claim in claims:
        for key, title in METRICS:
            pairs = []
            for seed in seeds:
                a = results.get(run_name(claim.better, seed))
                b = results.get(run_name(claim.worse, seed))
                va = claim_value(a, claim, key) if a else None
                vb = claim_value(b, claim, key) if b else None
                if va is not None and vb is not None:
                    pairs.append((seed, va, vb))
            if not pairs and key == "knn_acc":
                continue  # evaluated before the kNN column existed
            stats = study_stats.paired_interval([p[1] for p in pairs], [p[2] for p in pairs])
            rows.append({"claim": claim.name, "question": claim.question, "metric": key,
                         "metric_title": title, "better": claim.better, "worse": claim.worse,
                         "test_re_scale": claim.re_scale, "drop": claim.drop,
                         "seeds": [p[0] for p in pairs], **stats,
                         "verdict": study_stats.verdict(stats["ci95"])})
    return rows


def arm_rows(arms: tuple, results: dict, re_scales: tuple, seeds: tuple = SEEDS) -> list:
    """Mean and sd over seeds of every arm, test re_scale and metric (only seeds already evaluated)."""
    rows = []
    for arm in arms:
        done = [results[run_name(arm.name, s)] for s in seeds if results.get(run_name(arm.name, s))]
        for r in re_scales:
            row = {"arm": arm.name, "label": arm.label, "re_scale": r}
            for key, _ in METRICS:
                values = [v for v in (metric_at(d, key, r) for d in done) if v is not None]
                row[key] = study_stats.mean_sd(values)
            rows.append(row)
    return rows


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def arms_markdown(rows: list) -> str:
    """Markdown: mean ± sd (%) over the seeds per arm and test re_scale."""
    keys = [(k, t) for k, t in METRICS if any(r[k]["n"] for r in rows)]
    header = ["arm", "test re_scale", "n seeds"] + [t + " (%)" for _, t in keys]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = []
        for key, _ in keys:
            s = row[key]
            cells.append("-" if not s["n"] else _pct(s["mean"]) + ("" if s["sd"] is None
                                                                    else f" ± {100 * s['sd']:.1f}"))
        seeds = max(row[k]["n"] for k, _ in METRICS)
        lines.append("| " + " | ".join([row["label"], f"{row['re_scale']:g}", str(seeds)] + cells) + " |")
    return "\n".join(lines) + "\n"


def claims_markdown(rows: list) -> str:
    """Markdown: one row per claim and metric with the paired difference, its 95% interval and verdict."""
    lines = ["| claim | metric | n seeds | difference (points) | 95% interval | verdict |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        ci = row["ci95"]
        interval = "-" if ci is None else f"[{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"
        diff = "-" if row["difference"] is None else f"{100 * row['difference']:+.1f}"
        lines.append(f"| {row['question']} | {row['metric_title']}{' drop' if row['drop'] else ''} | "
                     f"{row['n']} | {diff} | {interval} | {row['verdict']} |")
    return "\n".join(lines) + "\n"


def _difference_cell(row: dict | None) -> str:
    """One README cell: the mean paired difference in points, its interval and verdict once n >= 2."""
    if row is None or not row["n"]:
        return "-"
    diff = f"{100 * row['difference']:+.1f}"
    if row["ci95"] is None:
        return f"{diff} (1 seed)"
    low, high = (100 * v for v in row["ci95"])
    return f"{diff} [{low:+.1f}, {high:+.1f}] {row['verdict']}"


README_METRICS = ("top_1", "top_10", "rec")


def readme_markdown(claims: tuple, rows: list, done: int, total: int, encoder: dict | None = None) -> str:
    """The README's summary: one line per claim, Top-1 / Top-10 / Rec differences with intervals."""
    by = {(r["claim"], r["metric"]): r for r in rows}
    titles = dict(METRICS)
    lines = [f"**{done} of {total} models evaluated.** Each cell: the first arm minus the second in "
             "points, mean over the paired seeds; with two or more, its 95% interval and verdict.", "",
             "| claim | seeds | " + " | ".join(titles[k] for k in README_METRICS) + " |",
             "|---|---|" + "---|" * len(README_METRICS)]
    for claim in claims:
        cells = [by.get((claim.name, k)) for k in README_METRICS]
        seeds = max((c["n"] for c in cells if c), default=0)
        lines.append(f"| {claim.short or claim.question} | {seeds} | "
                     + " | ".join(_difference_cell(c) for c in cells) + " |")
    if encoder:
        lines += ["", f"The `small` preset's encoder by the study's rule (results/claims/results.md): "
                      f"**{encoder['size']}**{'' if encoder['complete'] else ' so far (not every seed in)'}."]
    return "\n".join(lines) + "\n"


def errorbar_picture(rows: list, path: str) -> None:
    """Top-1 and Top-10 against test re_scale: one line per 2x2 arm, mean ± sd over seeds."""
    import plots

    names = [a.name for a in ARMS_2X2]
    series = {}
    for row in rows:
        if row["arm"] in names and row["top_1"]["n"]:
            series.setdefault(row["label"], []).append(row)
    if series:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        plots.metric_errorbars(series, [("top_1", "Top-1 Ret (%)"), ("top_10", "Top-10 Ret (%)")], path)


def encoder_choice(results: dict, seeds: tuple = SEEDS) -> dict:
    """The `small` preset's encoder by the rule above, with every pairwise comparison behind it."""
    comparisons, beaten = [], set()
    for (small, small_arm), (large, large_arm) in itertools.combinations(ENCODER_SIZES, 2):
        claim = Claim(f"enc{large}_vs_{small}", f"encoder {large} beats {small}", large_arm, small_arm, 0.0)
        rows = [r for r in claim_rows((claim,), results, seeds) if r["metric"] in ENCODER_METRICS]
        verdicts = {r["verdict"] for r in rows}
        winner = None
        if study_stats.HOLDS in verdicts and study_stats.REVERSED not in verdicts:
            winner, loser = large, small
        elif study_stats.REVERSED in verdicts and study_stats.HOLDS not in verdicts:
            winner, loser = small, large
        if winner:
            beaten.add(loser)
        comparisons.append({"larger": large, "smaller": small, "winner": winner,
                            "rows": [{k: r[k] for k in ("metric", "n", "difference", "ci95", "verdict")}
                                     for r in rows]})
    free = [size for size, _ in ENCODER_SIZES if size not in beaten]
    complete = all(results.get(run_name(a, s)) for _, a in ENCODER_SIZES for s in seeds)
    return {"size": free[0] if free else None, "beaten": sorted(beaten), "complete": complete,
            "comparisons": comparisons}


def encoder_markdown(choice: dict) -> str:
    """Markdown: each pairwise comparison of encoder sizes with its intervals, and the size the rule picks."""
    lines = ["| comparison (test re_scale 0) | " + " | ".join(dict(METRICS)[k] for k in ENCODER_METRICS)
             + " | clearly better |", "|---|" + "---|" * (len(ENCODER_METRICS) + 1)]
    for c in choice["comparisons"]:
        by = {r["metric"]: r for r in c["rows"]}
        lines.append(f"| encoder {c['larger']} vs {c['smaller']} | "
                     + " | ".join(_difference_cell(by.get(k)) for k in ENCODER_METRICS)
                     + f" | {c['winner'] or 'neither'} |")
    state = "all seeds in" if choice["complete"] else "not every seed in yet, so not final"
    beaten = ", ".join(str(b) for b in choice["beaten"]) or "none"
    picked = ("no size: each is beaten by another" if choice["size"] is None
              else f"encoder **{choice['size']}**")
    return "\n".join(lines) + f"\n\nBeaten: {beaten}. The rule picks {picked} ({state}).\n"


def speed_markdown(path: str) -> str:
    """One line: sketches/s per encoder size from a committed benchmarks/bench_train.py run (or '')."""
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8") as f:
        bench = json.load(f)
    # The variant without extra hparams runs the preset's encoder as it was at the bench's commit.
    sizes = {f"enc_rnn_size={size}": size for size, _ in ENCODER_SIZES}
    sizes[""] = bench["baseline_enc_rnn_size"]
    rates = sorted((sizes[v["extra"]], v["sketches_per_sec"]) for v in bench["result"]["variants"])
    return ("Training speed, sketches/s on 2 CPU cores (median of alternating rounds, "
            f"[`{os.path.basename(path)}`]({os.path.basename(path)})): "
            + ", ".join(f"encoder {size}: {rate:g}" for size, rate in rates) + ".\n")
