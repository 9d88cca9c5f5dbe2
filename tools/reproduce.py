"""Real-data studies in one resumable command: train several models, one classifier, evaluate all.

    python tools/reproduce.py --study small_encoder      # the `small` preset's encoder size
    python tools/reproduce.py --study quickdraw4 --list  # what a study runs, without running it
    python tools/reproduce.py --study claims             # the paper's claims: 3 seeds, 3000 steps

Every stage is the command a user would type (train.py, sketch_a_net.train,
evaluate.py), run in a subprocess. Checkpoints go to `runs/<study>/` (not
committed); each finished evaluation is copied to `results/<study>/<run>.json`,
which is small and meant to be committed: a rerun skips every run whose result
is there and resumes (`--resume_training=True`) a model whose training was cut.
`results/<study>/results.md` and `results.json` are rewritten after each stage
with the table, the commit, the date, the wall time of every stage and the command.
A run whose recorded hparams differ from the study's (e.g. a larger num_steps)
is resumed from its checkpoints and evaluated again; hparams are compared
resolved, so a changed preset counts too, unless the study pins the old value.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import claims  # noqa: E402
import cli  # noqa: E402
import fileio  # noqa: E402
import sample_files  # noqa: E402
from errors import UserError  # noqa: E402
from hparams import parse as parse_hparams, split_top  # noqa: E402

QUICKDRAW4 = ["pig", "face", "radio", "alarm clock"]


@dataclasses.dataclass(frozen=True)
class Run:
    """One model of a study: a name and the --hparams it adds to the study's."""

    name: str
    hparams: str
    label: str = ""


@dataclasses.dataclass(frozen=True)
class Ship:
    """The model a study ships: one of its runs, trained on to `num_steps`, packed into `out`."""

    run: str
    num_steps: int
    out: str
    hparams: str = ""  # added when training on (resumable keys only)


@dataclasses.dataclass(frozen=True)
class Study:
    """Models trained with the same budget on the same data, evaluated the same way."""

    categories: tuple
    hparams: str
    runs: tuple
    re_scales: tuple = (0.0, 0.1, 0.3)
    sample_size: int = 250
    classifier_epochs: int = 10
    about: str = ""
    ship: Ship | None = None
    classifier_from: str = ""  # a committed classifier to evaluate with (else the shipped one, else trained)
    arms: tuple = ()  # claims.Arm: the runs are these arms x seeds, and the report has the claims
    data: str = ""  # its data folder (relative to the repository); default: data/, else ../shared/data
    # Keys that hold the study's models at the values a preset had when they were trained, after the
    # preset changed (see `finished`); a run that sets such a key itself keeps its own value.
    pinned: str = ""

    def hparams_of(self, run: Run) -> str:
        """The --hparams of one of its runs: the study's, its pins, then the run's own (later keys win)."""
        # split_top, not split(","): a list value such as categories=['pig','face'] holds commas
        own = {part.split("=", 1)[0] for part in split_top(run.hparams)}
        pins = [part for part in split_top(self.pinned) if part and part.split("=", 1)[0] not in own]
        return ",".join(filter(None, (self.hparams, *pins, run.hparams)))


def seeded_runs(arms: tuple, seeds: tuple = claims.SEEDS) -> tuple:
    """The runs of arms x seeds, in seed order."""
    return tuple(Run(claims.run_name(a.name, s), f"{a.hparams},seed={s}", f"{a.label}, seed {s}")
                 for a, s in claims.seed_order(arms, seeds))


# The `small` preset's encoder was 128 units when these studies ran; the claims study moved it to 256.
SMALL_WAS = "enc_rnn_size=128"

# Patience 10 (validation every 80 steps): no model stops before 3000 steps on a noisy validation.
CLAIMS = Study(
    categories=tuple(QUICKDRAW4),
    hparams="preset=small,num_steps=3000,save_every=1,decay_rate=0.9999,early_stop_patience=10",
    runs=seeded_runs(claims.ARMS), arms=claims.ARMS, pinned=SMALL_WAS,
    classifier_from="pretrained/quickdraw4/classifier",
    about="the paper's claims with error bars: {9 graphs, 1 graph} x {trained re_scale 0, 0.3} "
          "and the small preset's encoder size, seeds 0-2, 3000 steps each",
    # The new `small` default (encoder 256, 9 graphs, trained re_scale 0.3), seed 0 as before,
    # trained on after the whole study: it replaces the 128-unit model that results/quickdraw4 shipped.
    ship=Ship("enc256_s0", num_steps=10000, out="pretrained/quickdraw4"))

STUDIES = {
    "small_encoder": Study(
        categories=tuple(QUICKDRAW4),
        hparams="preset=small,num_steps=1000,save_every=1,decay_rate=0.9999",
        runs=tuple(Run(f"enc{size}", f"enc_rnn_size={size}", f"stroke nodes, encoder {size}")
                   for size in (64, 128, 256)),  # every run sets its size: nothing to pin
        re_scales=(0.0, 0.3), sample_size=100,
        about="the `small` preset's node-encoder size with stroke nodes (1000 steps each)"),
    "quickdraw4": Study(
        categories=tuple(QUICKDRAW4),
        hparams="preset=small,num_steps=1000,save_every=1,decay_rate=0.9999", pinned=SMALL_WAS,
        runs=(Run("strokes9_rs0.3", "re_scale=0.3", "SketchGloc, 9 graphs, strokes, trained re_scale 0.3"),
              Run("strokes9_rs0", "re_scale=0.0", "SketchGloc, 9 graphs, strokes, trained re_scale 0"),
              Run("strokes1_rs0.3", "num_graphs=1,re_scale=0.3", "single graph, strokes, trained 0.3"),
              Run("strokes1_rs0", "num_graphs=1,re_scale=0.0", "single graph, strokes, trained 0"),
              Run("pieces9_rs0.3", "max_stroke_len=5,re_scale=0.3", "9 graphs, 6-point pieces, trained 0.3"),
              Run("pieces9_rs0", "max_stroke_len=5,re_scale=0.0", "9 graphs, 6-point pieces, trained 0"),
              Run("strokes9_rs0.3_seed1", "re_scale=0.3,seed=1",
                  "SketchGloc, 9 graphs, strokes, trained 0.3, seed 1"),
              Run("strokes9_rs0_seed1", "re_scale=0.0,seed=1",
                  "SketchGloc, 9 graphs, strokes, trained 0, seed 1")),
        about="the paper's claims on real QuickDraw: 9 graphs vs 1, strokes vs pieces, "
              "trained with and without disruption (1000 steps each)",
        # Until the claims study, this study shipped pretrained/quickdraw4: its 9-graph re_scale 0.3
        # run trained on to 10000 steps with early_stop_patience=10 (results/quickdraw4/shipped.json).
        classifier_from="pretrained/quickdraw4/classifier"),
    "claims": CLAIMS,
    # The same design on the paper's 70,000 training sketches per category (tools/download_quickdraw.py):
    # a GPU job. One epoch is 2,800 steps, so 10,000 steps validate 3 times; the same classifier scores it.
    "claims_full": dataclasses.replace(
        CLAIMS, hparams=CLAIMS.hparams.replace("num_steps=3000", "num_steps=10000"), data="datasets",
        ship=None,
        about="the claims study on the full QuickDraw categories (70,000 training sketches each), "
              "10000 steps per model"),
}


def data_dir(study: Study) -> str:
    """The study's own data folder, else data/ when it holds the study's files, else ../shared/data."""
    files = [c + ".npz" for c in study.categories]
    if study.data:
        folder = os.path.join(REPO, study.data)
        missing = [f for f in files if not os.path.exists(os.path.join(folder, f))]
        if missing:
            raise SystemExit(f"error: {os.path.join(study.data, missing[0])} does not exist: run python "
                             f"tools/download_quickdraw.py --categories \"{','.join(study.categories)}\" "
                             f"--out {study.data}")
        return folder
    for folder in (os.path.join(REPO, "data"), os.path.join(REPO, "..", "shared", "data")):
        if all(os.path.exists(os.path.join(folder, f)) for f in files):
            return folder
    raise SystemExit(f"error: no folder holds {', '.join(files)} (looked in data/ and ../shared/data)")


class StageTimes(dict):
    """Wall seconds per stage, saved to `path` whenever a stage ends (resumed stages add up)."""

    def __init__(self, path: str):
        super().__init__(json.load(open(path)) if os.path.exists(path) else {})
        self.path = path

    def add(self, title: str, seconds: float) -> None:
        """Count `seconds` more for `title` and save."""
        self[title] = round(self.get(title, 0.0) + seconds, 1)
        fileio.write_json(self.path, dict(self))


HEARTBEAT_S = 60.0  # a killed study (a session's end) loses at most this much of a stage's recorded time


def stage(title: str, command: list, log: StageTimes, heartbeat_s: float = HEARTBEAT_S) -> None:
    """Run one command, echoing it; record its wall time as it runs (also when it fails); stop if it fails."""
    print(f"\n=== {title}\n$ {' '.join(command)}", flush=True)
    process = subprocess.Popen(command, cwd=REPO)
    last = time.perf_counter()
    while True:
        try:
            code = process.wait(timeout=heartbeat_s)
        except subprocess.TimeoutExpired:
            code = None
        now = time.perf_counter()
        log.add(title, now - last)
        last = now
        if code is not None:
            break
    if code != 0:
        sys.exit(f"study stopped: '{title}' failed (rerun the same command to resume)")


def committed_classifier(study: Study) -> str:
    """The committed classifier a study evaluates with ('' when it trains its own)."""
    if study.classifier_from:
        return os.path.join(REPO, study.classifier_from)
    return os.path.join(REPO, study.ship.out, "classifier") if study.ship else ""


def classifier(study: Study, runs_dir: str, data: str, log: dict) -> str:
    """The Sketch-a-Net classifier of the study's categories (trained once)."""
    out = os.path.join(runs_dir, "classifier")
    shipped = committed_classifier(study)
    if not os.path.exists(os.path.join(out, "classifier.json")) and shipped and os.path.isdir(shipped):
        # A later session (runs/ is not committed) evaluates with the very classifier of the earlier ones.
        shutil.copytree(shipped, out)
    if not os.path.exists(os.path.join(out, "classifier.json")):
        stage("classifier", [sys.executable, "-m", "sketch_a_net.train", f"--data_dir={data}",
                             f"--categories={','.join(study.categories)}", f"--out={out}",
                             f"--epochs={study.classifier_epochs}"], log)
    return out


def train(study: Study, name: str, hparams: str, runs_dir: str, data: str, log: StageTimes) -> None:
    """Train (or resume) one model of the study in runs_dir/name."""
    log_root = os.path.join(runs_dir, name)
    categories = ",".join(f"'{c}'" for c in study.categories)
    resume = os.path.exists(os.path.join(log_root, "model_config.json"))
    stage(f"train {name}", [sys.executable, "train.py", f"--log_root={log_root}", f"--data_dir={data}",
                            f"--hparams={hparams},categories=[{categories}]",
                            f"--resume_training={resume}"], log)


def evaluate(study: Study, name: str, log_root: str, data: str, clf: str, log: StageTimes) -> dict:
    """Evaluate one trained model at the study's re_scales; returns its results.json."""
    out = os.path.join(log_root, sample_files.EVALUATION_DIR)
    # --overwrite: the folder is the study's own, and an earlier evaluation (of a shorter run,
    # or by a version without output manifests) is replaced.
    stage(f"evaluate {name}", [sys.executable, "evaluate.py", "--overwrite", f"--checkpoint={log_root}",
                               f"--classifier={clf}", f"--data_dir={data}", f"--out={out}",
                               f"--sample_size={study.sample_size}",
                               f"--re_scales={','.join(f'{r:g}' for r in study.re_scales)}"], log)
    with open(os.path.join(out, sample_files.RESULTS_JSON)) as f:
        return json.load(f)


def finished(path: str, wanted: str, pinned: str = "") -> dict | None:
    """The saved result of a run when it was made with the `wanted` hparams, else None.

    The hparams are compared resolved, so a preset that changed since a result was recorded
    makes it stale; `pinned` (the study's pins) reads results recorded before the pins existed.
    """
    if not os.path.exists(path):
        return None
    with open(path) as f:
        done = json.load(f)
    try:
        same = parse_hparams(f"{pinned},{done.get('run_hparams', '')}") == parse_hparams(wanted)
    except UserError:
        return None  # recorded with keys this version no longer has: redo
    return done if same else None  # else the study changed: redo


def keep_losses(runs_dir: str, name: str, out_dir: str) -> None:
    """Copy a run's losses.json into results/ (the runs/ folder is not committed)."""
    source = os.path.join(runs_dir, name, "losses.json")
    if os.path.exists(source):
        os.makedirs(os.path.join(out_dir, "losses"), exist_ok=True)
        fileio.write_json(os.path.join(out_dir, "losses", name + ".json"), fileio.read_json(source), indent=1)


def plot_losses(study: Study, out_dir: str) -> None:
    """The study's validation-loss curves on one picture; the shipped model's longer run on its own."""
    import plots

    def kept(name: str) -> list | None:
        path = os.path.join(out_dir, "losses", name + ".json")
        return fileio.read_json(path) if os.path.exists(path) else None

    runs = {r.name: records for r in study.runs if (records := kept(r.name))}
    if runs:
        plots.loss_curves(runs, os.path.join(out_dir, "loss_curves.png"),
                          title=f"validation loss, {', '.join(study.categories)}")
    if study.ship and (shipped := kept("shipped")):
        plots.loss_curve(shipped, os.path.join(out_dir, "shipped_loss_curve.png"))


def picture_path(out_dir: str, name: str) -> str:
    """Where the picture of one model of the study goes."""
    return os.path.join(out_dir, "pictures", name + ".png")


def forget_picture(out_dir: str, name: str) -> None:
    """Drop a model's picture after a new evaluation, so that the next `picture` draws the new samples."""
    if os.path.exists(picture_path(out_dir, name)):
        os.remove(picture_path(out_dir, name))


def picture(study: Study, name: str, runs_dir: str, data: str, out_dir: str, per_category: int = 2) -> None:
    """Original, disrupted input and generations of the same test sketches, for one evaluated model."""
    import numpy as np

    import checkpoints
    import plots
    import sample_abs
    import utils

    path = picture_path(out_dir, name)
    evaluation = os.path.join(runs_dir, name, sample_files.EVALUATION_DIR)
    moved = max(study.re_scales)
    folders = {r: sample_files.setting_folder(evaluation, r) for r in (0.0, moved)}
    if os.path.exists(path) or not all(os.path.isdir(f) for f in folders.values()):
        return  # drawn already, or the model's samples are gone (a fresh clone keeps the picture)
    hps, extras = checkpoints.load_config(os.path.join(runs_dir, name))
    sketches = sample_abs.load_test_sketches(data, list(study.categories), per_category, hps,
                                             float(extras["scale_factor"]))
    rows = []
    # The same draw as the evaluation's (evaluate.py -> sample_abs.sample, seed 0).
    disrupted_sets = sample_abs.disrupt_categories(sketches, moved, 0)
    for c, (strokes, disrupted) in enumerate(zip(sketches, disrupted_sets)):
        for i, original in enumerate(strokes):
            generated = [utils.five_to_points(np.load(os.path.join(folders[r], sample_files.seq_name(c, i))))
                         for r in (moved, 0.0)]
            rows.append([utils.to_absolute(original), utils.to_absolute(disrupted[i])] + generated)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    plots.sketch_grid(rows, ["original", f"disrupted ({moved:g})", f"generated from {moved:g}",
                             "generated from original"], path)


def trained_result(study: Study, name: str, wanted: str, runs_dir: str, data: str, log: StageTimes,
                   out_dir: str, start_from: str = "") -> dict:
    """A model's saved result; without one made with the `wanted` hparams, train (or resume) and evaluate it.

    `start_from` names a study run whose checkpoints a new model continues from.
    """
    path = os.path.join(out_dir, name + ".json")
    done = finished(path, wanted, study.pinned)
    if done is None:
        log_root = os.path.join(runs_dir, name)
        source = os.path.join(runs_dir, start_from)
        if start_from and not os.path.exists(os.path.join(log_root, "model_config.json")):
            if os.path.isdir(source):
                # The study run's own folder stays as it is; its samples and logs are not carried over.
                skip = shutil.ignore_patterns(sample_files.EVALUATION_DIR, "samples", "tensorboard")
                shutil.copytree(source, log_root, ignore=skip)
            else:  # a fresh machine: the same config and seed, trained from step 0
                print(f"note: {source} is gone (runs/ is not committed): {name} trains from step 0")
        clf = classifier(study, runs_dir, data, log)
        train(study, name, wanted, runs_dir, data, log)
        done = dict(evaluate(study, name, log_root, data, clf, log), run_hparams=wanted, commit=commit())
        fileio.write_json(path, done)
        forget_picture(out_dir, name)
    keep_losses(runs_dir, name, out_dir)
    picture(study, name, runs_dir, data, out_dir)
    return done


def ship_hparams(study: Study) -> str:
    """The --hparams of the shipped model: its study run's, trained on to the ship's num_steps."""
    base = next(r for r in study.runs if r.name == study.ship.run)
    return ",".join(filter(None, (study.hparams_of(base), f"num_steps={study.ship.num_steps}",
                                  study.ship.hparams)))


def ship(study: Study, runs_dir: str, data: str, log: StageTimes, out_dir: str) -> dict:
    """Train the shipped model on from its study run, evaluate it and pack it for inference."""
    spec = study.ship
    done = trained_result(study, "shipped", ship_hparams(study), runs_dir, data, log, out_dir,
                          start_from=spec.run)
    target = os.path.join(REPO, spec.out)
    packed = os.path.join(target, os.path.basename(done["checkpoint"]) + ".index")
    if not os.path.exists(packed):  # not packed yet, or packed from an earlier best checkpoint
        clf = classifier(study, runs_dir, data, log)
        stage("pack shipped", [sys.executable, "tools/pack_pretrained.py",
                               f"--checkpoint={os.path.join(runs_dir, 'shipped')}", f"--classifier={clf}",
                               f"--out={target}"], log)
    return done


def table(study: Study, results: dict) -> str:
    """Markdown: one row per (run, re_scale), then the chance levels."""
    lines = ["| model | re_scale | Rec (%) | Top-1 Ret (%) | Top-10 Ret (%) | Top-50 Ret (%) |",
             "|---|---|---|---|---|---|"]
    chance = None
    entries = [(r.name, r.label or r.name) for r in study.runs]
    if study.ship:
        entries.append(("shipped", f"shipped: {study.ship.run} trained on to {study.ship.num_steps} steps"))
    for name, label in entries:
        if not results.get(name):
            lines.append(f"| {label} | (not run yet) | | | | |")
            continue
        chance = results[name]["chance"]
        for row in results[name]["settings"]:
            cells = [100 * row[k] for k in ("rec", "top_1", "top_10", "top_50")]
            lines.append(f"| {label} | {row['re_scale']:g} | "
                         + " | ".join(f"{v:.1f}" for v in cells) + " |")
    if chance:
        cells = [100 * chance[k] for k in ("rec", "top_1", "top_10", "top_50")]
        lines.append("| chance level | - | " + " | ".join(f"{v:.1f}" for v in cells) + " |")
    return "\n".join(lines) + "\n"


def commit(repo: str = REPO) -> str:
    """The repository's HEAD commit (with '+changes' when code, not a study's output, differs from it)."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True,
                          text=True).stdout.strip() or "unknown"
    # The study rewrites its committed results, pack and README block as it goes; none is code.
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                            ":(exclude)results", ":(exclude)pretrained", ":(exclude)README.md"],
                           cwd=repo,
                           capture_output=True, text=True).stdout.strip()
    return head + ("+changes" if dirty else "")


def write_summary(name: str, study: Study, results: dict, times: dict, out_dir: str) -> None:
    """results.json and results.md of the study (rewritten after every stage)."""
    command = f"python tools/reproduce.py --study {name}"
    summary = {"study": name, "about": study.about, "command": command, "commit": commit(),
               "date": datetime.date.today().isoformat(), "stage_seconds": dict(times),
               "categories": list(study.categories), "hparams": study.hparams,
               "runs": {r.name: r.hparams for r in study.runs}, "results": results}
    report = ""
    if study.arms:
        arm_rows = claims.arm_rows(study.arms, results, study.re_scales)
        claim_rows = claims.claim_rows(claims.CLAIMS, results)
        done = sum(1 for r in study.runs if results.get(r.name))
        encoder = claims.encoder_choice(results)
        report = arms_report(study, done, arm_rows, claim_rows, encoder, out_dir)
        update_readme(name, claims.readme_markdown(claims.CLAIMS, claim_rows, done, len(study.runs),
                                                      encoder))
        summary.update(models=models(study, results, times), arms=arm_rows, claims=claim_rows,
                       encoder_choice=encoder, statistics=STATISTICS)
    fileio.write_json(os.path.join(out_dir, "results.json"), summary)
    decoding = next((r["greedy"] for r in results.values() if r), False)
    text = (f"# Study `{name}`: {study.about}\n\n"
            f"`{command}` at commit {summary['commit']}, {summary['date']}; categories "
            f"{', '.join(study.categories)}; every model: `{study.hparams}`{pinned_note(study)} "
            "plus its own hparams; "
            f"{study.sample_size} test sketches per category; "
            f"{'greedy' if decoding else 'temperature 0.24 (seeded)'} decoding.\n\n"
            + report + table(study, results)
            + "\nWall time per stage (s): "
            + ", ".join(f"{k} {v:g}" for k, v in times.items()) + "\n")
    fileio.write_text(os.path.join(out_dir, "results.md"), text)


def pinned_note(study: Study) -> str:
    """How results.md names the study's pins ('' without any)."""
    if not study.pinned:
        return ""
    return f", `{study.pinned}` (the preset's value when the study ran) unless the model sets it,"


def readme_markers(name: str) -> tuple:
    """The lines around a study's summary in README.md."""
    return f"<!-- {name}: written by tools/reproduce.py --study {name} -->", f"<!-- /{name} -->"


def update_readme(name: str, block: str) -> bool:
    """Put `block` between the study's markers in README.md (False, untouched, when it has none)."""
    path = os.path.join(REPO, "README.md")
    begin, end = readme_markers(name)
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    head, has_begin, rest = text.partition(begin)
    _, has_end, tail = rest.partition(end)
    if not (has_begin and has_end):
        return False
    fileio.write_text(path, f"{head}{begin}\n{block}{end}{tail}")
    return True


STATISTICS = ("mean and sample sd over the training seeds per arm; each claim is the mean paired "
              "difference (same seed, same 1,000 test sketches, same decoding seed) with a 95% Student-t "
              "interval over the seeds (n-1 degrees of freedom); it holds when the interval is above 0. "
              "No correction for the number of claims and metrics.")


def models(study: Study, results: dict, times: dict) -> dict:
    """Every evaluated model of an arm study: arm, seed, commit, hparams, wall time and metrics."""
    out = {}
    for arm, seed in claims.seed_order(study.arms):
        name = claims.run_name(arm.name, seed)
        if results.get(name):
            r = results[name]
            out[name] = {"arm": arm.name, "seed": seed, "commit": r.get("commit", "unknown"),
                         "hparams": r["run_hparams"], "train_seconds": times.get(f"train {name}"),
                         "evaluate_seconds": times.get(f"evaluate {name}"), "decoding_seed": r.get("seed"),
                         "settings": r["settings"]}
    return out


def arms_report(study: Study, done: int, arm_rows: list, claim_rows: list, encoder: dict,
                out_dir: str) -> str:
    """Markdown of the arms (mean ± sd), claims (paired intervals) and encoder rule; draws the error bars."""
    claims.errorbar_picture(arm_rows, os.path.join(out_dir, "errorbars.png"))
    return (f"{done} of {len(study.runs)} models evaluated.\n\n## Claims\n\n{STATISTICS}\n\n"
            + claims.claims_markdown(claim_rows)
            + f"\n## The `small` preset's encoder\n\n{claims.ENCODER_RULE}\n\n"
            + claims.encoder_markdown(encoder)
            + "\n" + claims.speed_markdown(os.path.join(out_dir, "encoder_speed.json"))
            + "\n## Arms (mean ± sd over seeds)\n\n![error bars](errorbars.png)\n\n"
            + claims.arms_markdown(arm_rows) + "\n## Every model\n\n")


def summarise(name: str, study: Study, results: dict, times: StageTimes, out_dir: str) -> None:
    """The loss curves, results.md/.json and the study's pictures from the results so far."""
    plot_losses(study, out_dir)
    write_summary(name, study, results, times, out_dir)


def report(name: str, study: Study) -> int:
    """The study's report from the per-model results already in results/<study>/ (no training)."""
    out_dir = os.path.join(REPO, "results", name)
    results = {r.name: finished(os.path.join(out_dir, r.name + ".json"), study.hparams_of(r), study.pinned)
               for r in study.runs}
    if study.ship and os.path.exists(os.path.join(out_dir, "shipped.json")):
        results["shipped"] = fileio.read_json(os.path.join(out_dir, "shipped.json"))
    os.makedirs(out_dir, exist_ok=True)
    summarise(name, study, results, StageTimes(os.path.join(out_dir, "stage_seconds.json")), out_dir)
    print(open(os.path.join(out_dir, "results.md")).read())
    return 0


def main(argv: list | None = None) -> int:
    """Run (or list) a study; every finished run is kept, a rerun continues."""
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", choices=sorted(STUDIES), required=True)
    parser.add_argument("--list", action="store_true", help="print the runs and exit")
    parser.add_argument("--report", action="store_true",
                        help="rewrite results.md/.json and the pictures from the committed results only "
                             "(trains and evaluates nothing; models not finished show as not run)")
    args = parser.parse_args(argv)
    study = STUDIES[args.study]
    if args.list:
        for run in study.runs:
            print(f"{run.name}: {study.hparams_of(run)}")
        if study.ship:
            print(f"shipped (after every run, from {study.ship.run}; packed into {study.ship.out}): "
                  f"{ship_hparams(study)}")
        return 0
    if args.report:
        return report(args.study, study)
    data = data_dir(study)
    runs_dir = os.path.join(REPO, "runs", args.study)
    out_dir = os.path.join(REPO, "results", args.study)
    os.makedirs(out_dir, exist_ok=True)
    times = StageTimes(os.path.join(out_dir, "stage_seconds.json"))
    results = {}
    for run in study.runs:
        results[run.name] = trained_result(study, run.name, study.hparams_of(run), runs_dir,
                                           data, times, out_dir)
        summarise(args.study, study, results, times, out_dir)
    if study.ship:  # last, so that a partial study is balanced over its seeds
        results["shipped"] = ship(study, runs_dir, data, times, out_dir)
        summarise(args.study, study, results, times, out_dir)
    print(open(os.path.join(out_dir, "results.md")).read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
