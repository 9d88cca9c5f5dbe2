"""The paper's evaluation in one command (METHOD.md §11): generate at several re_scale, then Rec and Ret.

    python evaluate.py --checkpoint RUN --classifier CLS [--data_dir D | --demo]
                       [--sample_size 100] [--out DIR] [--re_scales 0,0.1,0.3]

For every re_scale (0 = controllable synthesis, > 0 = the reorganization task)
the first `sample_size` test sketches of each category are disrupted, encoded
and redrawn into `<out>/re_scale_<r>/` (as sample_abs.py does); Rec is the
accuracy of the Sketch-a-Net classifier in CLS on the generations
(sketch_a_net.evaluate), Ret the top-1/10/50 retrieval of the originals'
codes (retrieval.py), kNN acc the leave-one-out 5-NN category accuracy of the
codes of the (disrupted) test sketches (code_metrics.py). Prints a Markdown
table with the chance levels, and a per-category table (Rec, Top-1, Top-10),
and writes them to `<out>/results.md` and `<out>/results.json`.

Every input and output (checkpoint, classifier weights, writable folders free
of files sketchgloc did not write; see sample_abs.py) is checked before
anything is generated. `--overwrite` allows folders holding other files.
"""
from __future__ import annotations

import json
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import checkpoints  # noqa: E402
import code_metrics  # noqa: E402
import errors  # noqa: E402
import fileio  # noqa: E402
import retrieval  # noqa: E402
import sample_abs  # noqa: E402
from sample_files import EVALUATION_DIR, RESULTS_JSON, RESULTS_MD, setting_folder  # noqa: E402

CLASSIFIER_CONFIG = "classifier.json"  # sketch_a_net.train.CONFIG_NAME


class EvaluationError(errors.UserError):
    """Bad arguments for the evaluation; the message is one line."""


class FlagError(EvaluationError, errors.UsageError):
    """A command line that cannot be run (exit status 2)."""


def parse_re_scales(text: str) -> list:
    """'0,0.1,0.3' -> [0.0, 0.1, 0.3]; FlagError on a bad entry."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise FlagError(f"--re_scales must be comma-separated numbers, got {text!r}") from None
    if not values or any(not 0.0 <= v < float("inf") for v in values):
        raise FlagError(f"--re_scales needs numbers >= 0, got {text!r}")
    return values


def task_name(re_scale: float) -> str:
    """The paper's name of a setting."""
    return "controllable synthesis" if re_scale == 0 else "reorganization"


def classifier_categories(classifier_dir: str) -> list:
    """Categories of a sketch_a_net.train folder whose weights exist (no TensorFlow)."""
    path = os.path.join(classifier_dir, CLASSIFIER_CONFIG)
    try:
        with open(path) as f:
            config = json.load(f)
        categories, weights = list(config["categories"]), os.path.join(classifier_dir, config["checkpoint"])
    except OSError:
        raise EvaluationError(f"{classifier_dir}: no {CLASSIFIER_CONFIG} (train one with "
                              "python -m sketch_a_net.train)") from None
    except (ValueError, KeyError, TypeError) as err:
        raise EvaluationError(f"{path}: unreadable ({err!r})") from None
    if not os.path.isfile(weights + ".index"):
        raise EvaluationError(f"{classifier_dir}: checkpoint {config['checkpoint']} is missing")
    return categories


def prepare_out(out: str, re_scales, overwrite: bool = False) -> None:
    """Check `out` and its sample folders (writable, no files of the user's) and record them as ours."""
    problem = fileio.output_folder_problem(out, overwrite)
    if problem:
        raise EvaluationError(problem)
    for r in re_scales:
        sample_abs.check_output(setting_folder(out, r), overwrite)
    names = [os.path.basename(setting_folder(out, r)) for r in re_scales]
    fileio.add_to_manifest(out, names + [RESULTS_JSON, RESULTS_MD])


def chance_levels(num_categories: int, num_codes: int) -> dict:
    """Rec and kNN acc chance 1/categories; Top-k Ret chance k/number of codes."""
    out = {"rec": 1.0 / num_categories, "knn_acc": 1.0 / num_categories}
    out.update({f"top_{k}": v for k, v in retrieval.chance_levels(num_codes).items()})
    return out


def evaluate(checkpoint: str, classifier: str, data_dir: str, out: str, *, ckpt_id: int = 0,
             sample_size: int = 100, re_scales=(0.0, 0.1, 0.3), greedy: bool = False,
             temperature: float = 0.24, seed: int = 0, batch_size: int = 500,
             overwrite: bool = False) -> dict:
    """Generate, score and write results.json / results.md; returns the results dict."""
    # Inputs are checked before TensorFlow is loaded and before any generation.
    hps, extras, _ = checkpoints.check_folder(checkpoint, ckpt_id)
    categories = list(hps.categories)
    known = classifier_categories(classifier)
    if sorted(known) != sorted(categories):
        raise EvaluationError(f"classifier {classifier} was trained on {known}, "
                              f"the model on {categories}")
    prepare_out(out, re_scales, overwrite)
    sketches = sample_abs.load_test_sketches(data_dir, categories, sample_size, hps,
                                             float(extras["scale_factor"]))
    from sketch_a_net.evaluate import evaluate_rec

    generator = sample_abs.SketchGenerator(checkpoint, ckpt_id)
    rows = []
    for r in re_scales:
        folder = setting_folder(out, r)
        print(f"== re_scale {r:g}: generating into {folder}", flush=True)
        meta = sample_abs.sample(generator, sketches, categories, folder, re_scale=r, greedy=greedy,
                                 temperature=temperature, seed=seed, batch_size=batch_size,
                                 extra_meta={"data_dir": data_dir}, overwrite=overwrite)
        recorder = RecordingEncoder(generator.encoder)
        ret = retrieval.run(folder, checkpoint, ckpt_id, encoder=recorder)
        rec = evaluate_rec(classifier, folder)
        print(f"Rec: {rec['rec']}", flush=True)
        knn = input_knn_accuracy(generator, sketches, r, seed)
        print(f"kNN acc of the input codes: {knn}", flush=True)
        per_ret = per_category_retrieval(folder, recorder.codes, generator.hps.z_size, categories)
        per_category = {name: {"rec": rec["per_category"].get(name), **per_ret[name]} for name in categories}
        rows.append({"task": task_name(r), "re_scale": r, "rec": rec["rec"],
                     **{f"top_{k}": ret[f"top_{k}"] for k in retrieval.KS},
                     "knn_acc": knn, "per_category": per_category,
                     "num_generated": ret["num_generated"], "sample_dir": folder,
                     "generation_seconds": meta["seconds"]})
    num_codes = rows[0]["num_generated"]
    results = {
        "checkpoint": generator.checkpoint, "classifier": os.path.abspath(classifier),
        "data_dir": data_dir, "categories": categories, "sample_size": sample_size,
        "num_codes": num_codes, "greedy": greedy, "temperature": temperature, "seed": seed,
        "settings": rows, "chance": chance_levels(len(categories), num_codes),
    }
    write_results(out, results)
    return results


class RecordingEncoder:
    """A SketchEncoder that keeps the codes of its last call (retrieval.run's generated sketches)."""

    def __init__(self, encoder):
        self.encoder, self.checkpoint, self.codes = encoder, encoder.checkpoint, None

    def encode(self, strokes: list, batch_size: int = 256) -> np.ndarray:
        """The wrapped encoder's codes, kept in self.codes."""
        self.codes = self.encoder.encode(strokes, batch_size)
        return self.codes


def input_knn_accuracy(generator, sketches: list, re_scale: float, seed: int) -> float:
    """5-NN leave-one-out category accuracy of the codes of the inputs sample_abs.sample encoded."""
    inputs = sample_abs.disrupt_categories(sketches, re_scale, seed)  # the same draw as the sample's
    labels = np.concatenate([np.full(len(group), c) for c, group in enumerate(inputs)])
    return code_metrics.knn_accuracy(generator.encode([s for group in inputs for s in group]), labels)


def per_category_retrieval(folder: str, gen_codes: np.ndarray, z_size: int, categories: list) -> dict:
    """{category: {top_1, top_10}} of the generated sketches of each category (all codes ranked)."""
    code_keys, code_paths, seq_keys, _ = retrieval.find_files(folder)
    position = {key: row for row, key in enumerate(code_keys)}
    ranks = retrieval.own_ranks(gen_codes, retrieval.load_codes(code_paths, z_size),
                                np.array([position[key] for key in seq_keys]))
    of = np.array([c for c, _ in seq_keys])
    return {name: {f"top_{k}": float(np.mean(ranks[of == c] < k)) if np.any(of == c) else None
                   for k in (1, 10)} for c, name in enumerate(categories)}


def decoding_mode(results: dict) -> str:
    """'greedy' or 'temperature 0.24 (seed 0)'."""
    if results["greedy"]:
        return "greedy"
    return f"temperature {results['temperature']:g} (seed {results['seed']})"


def _percent(value) -> str:
    """'12.50' for 0.125; '-' for a value an older results.json does not hold."""
    return "-" if value is None else f"{100 * value:.2f}"


def results_table(results: dict) -> str:
    """Markdown table of Rec, Ret and kNN acc (in %) per setting, chance levels last; per-category table."""
    keys = ["rec"] + [f"top_{k}" for k in retrieval.KS] + ["knn_acc"]
    header = ("| Task | re_scale | Rec (%) | " + " | ".join(f"Top-{k} Ret (%)" for k in retrieval.KS)
              + " | kNN acc (%) |")
    lines = [f"Decoding: {decoding_mode(results)}.", "", header, "|" + "---|" * (2 + len(keys))]
    for row in results["settings"]:
        lines.append(f"| {row['task']} | {row['re_scale']:g} | "
                     + " | ".join(_percent(row.get(k)) for k in keys) + " |")
    chance = results["chance"]
    lines.append("| chance level | - | " + " | ".join(_percent(chance.get(k)) for k in keys) + " |")
    lines.append("")
    lines.append(f"{len(results['categories'])} categories, {results['sample_size']} test sketches "
                 f"per category, {results['num_codes']} codes ranked; "
                 f"{decoding_mode(results)} decoding; checkpoint {results['checkpoint']}. "
                 "kNN acc: leave-one-out 5-NN category accuracy of the input sketches' codes.")
    lines += per_category_table(results)
    return "\n".join(lines) + "\n"


def per_category_table(results: dict) -> list:
    """Lines of the per-category Markdown table (none for results without per-category numbers)."""
    rows = [row for row in results["settings"] if row.get("per_category")]
    if not rows:
        return []
    lines = ["", "Per category:", "", "| Category | re_scale | Rec (%) | Top-1 Ret (%) | Top-10 Ret (%) |",
             "|---|---|---|---|---|"]
    for name in results["categories"]:
        for row in rows:
            cell = row["per_category"].get(name, {})
            lines.append(f"| {name} | {row['re_scale']:g} | "
                         + " | ".join(_percent(cell.get(k)) for k in ("rec", "top_1", "top_10")) + " |")
    return lines


def write_results(out: str, results: dict) -> None:
    """results.json and results.md in out; prints the table."""
    os.makedirs(out, exist_ok=True)
    table = results_table(results)
    fileio.write_json(os.path.join(out, RESULTS_JSON), results)
    fileio.write_text(os.path.join(out, RESULTS_MD), table)
    print(table, end="")


def default_out(checkpoint: str) -> str:
    """`evaluation/` inside the training folder (also when a checkpoint prefix was given)."""
    folder = checkpoint if os.path.isdir(checkpoint) else os.path.dirname(checkpoint)
    return os.path.join(folder, EVALUATION_DIR)


def define_flags(fv=None) -> None:
    """Register the CLI flags in `fv` (absl's FLAGS by default; only when run as a script)."""
    from absl import flags

    fv = flags.FLAGS if fv is None else fv
    on = {"flag_values": fv}
    flags.DEFINE_string("checkpoint", None, "Training folder (--log_root) with model_config.json.", **on)
    flags.DEFINE_integer("ckpt_id", 0, "0: latest best checkpoint; N: ckpt-N.", **on)
    flags.DEFINE_string("classifier", None, "Sketch-a-Net folder written by sketch_a_net.train.", **on)
    flags.DEFINE_string("data_dir", "datasets", "Folder of <category>.npz files.", **on)
    flags.DEFINE_boolean("demo", False, "Read the built-in demo dataset instead of --data_dir.", **on)
    flags.DEFINE_integer("sample_size", 100, "Test sketches per category.", **on)
    flags.DEFINE_string("out", None, "Output folder (default: <checkpoint>/evaluation).", **on)
    flags.DEFINE_string("re_scales", "0,0.1,0.3", "Comma-separated disruption settings.", **on)
    flags.DEFINE_boolean("greedy", False, "Greedy decoding (the original's top-level variant); "
                         "default: temperature sampling with --temperature, seeded.", **on)
    flags.DEFINE_float("temperature", 0.24, "Sampling temperature (without --greedy).", **on)
    flags.DEFINE_integer("seed", 0, "Seed of the disruption and of temperature sampling.", **on)
    flags.DEFINE_integer("batch_size", 500, "Sketches generated together.", **on)
    flags.DEFINE_boolean("overwrite", False, "Write into folders that hold files sketchgloc did not "
                         "write (sample-file names among them are replaced or removed; others are kept).",
                         **on)


def check_flags(argv: list, f) -> list:
    """The --re_scales of a runnable command line; FlagError otherwise."""
    if len(argv) > 1:
        raise FlagError(f"unexpected arguments: {' '.join(argv[1:])}")
    for name in ("checkpoint", "classifier"):
        if not f[name].value:
            raise FlagError(f"--{name} is required")
    for name in ("sample_size", "batch_size"):
        if f[name].value < 1:
            raise FlagError(f"--{name} must be >= 1, got {f[name].value}")
    if not (math.isfinite(f.temperature) and f.temperature > 0):
        raise FlagError(f"--temperature must be a finite number > 0, got {f.temperature}")
    if f.ckpt_id < 0:
        raise FlagError(f"--ckpt_id must be >= 0 (0: the latest best checkpoint), got {f.ckpt_id}")
    return parse_re_scales(f.re_scales)


@errors.guarded
def main(argv: list, f=None) -> None:
    """CLI entry (flags of `f`, absl's FLAGS by default): `error: ...` and exit 1 (2: bad command line)."""
    from absl import flags

    f = flags.FLAGS if f is None else f
    re_scales = check_flags(argv, f)
    out = f.out or default_out(f.checkpoint)
    # The quick checks, before TensorFlow is imported.
    checkpoints.check_folder(f.checkpoint, f.ckpt_id)
    classifier_categories(f.classifier)
    prepare_out(out, re_scales, f.overwrite)
    data_dir = sample_abs.demo_data_dir() if f.demo else f.data_dir
    evaluate(f.checkpoint, f.classifier, data_dir, out,
             ckpt_id=f.ckpt_id, sample_size=f.sample_size, re_scales=re_scales, greedy=f.greedy,
             temperature=f.temperature, seed=f.seed, batch_size=f.batch_size,
             overwrite=f.overwrite)


if __name__ == "__main__":
    import cli

    define_flags()
    cli.run_absl(main)
