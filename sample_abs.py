"""Generate sketches from the codes of test sketches (METHOD.md §10).

    python sample_abs.py sample_size dataset_id sample_output re_scale checkpoint_path ckpt_id
    python sample_abs.py --sample_size=100 --dataset_id=0 --sample_output=out \
        --re_scale=0.1 --checkpoint_path=run [--ckpt_id=0] [--data_dir=datasets | --demo]

dataset_id 1/2/3 picks the category lists of the paper (hparams.DATASETS);
0 takes the categories stored in the checkpoint's model_config.json. For each
category the first `sample_size` test sketches are disrupted with `re_scale`
(seeded), encoded (y = mu) and redrawn, by default with temperature sampling
(tau 0.24, seeded; the stroke variant's sampler), with `--greedy` by the most
probable component and pen state (the top-level variant's). `--unconditional`
draws `sample_size` codes z ~ N(0, I) instead (category index 0, no test data
needed). The folder receives, per sketch
(c = category index, i = sample index): `<c>_<i>.svg` and `<c>_<i>.png`
(48x48), `code_<c>_<i>.npy` (code of the undisturbed test sketch) and
`s_<c>_<i>.npy` (generated absolute 5-D sequence up to its end row); plus
`overview_<c>.png` and `sample_meta.json` (with the checkpoint's hashes, see
provenance.py). The folder's `.sketchgloc_manifest.json` lists the files
sketchgloc wrote there: a rerun replaces or removes only those, and a folder
holding other files is refused unless --overwrite is given. The file names
are defined in sample_files.py, the command line in sample_settings.py.
"""
from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import checkpoints  # noqa: E402
import errors  # noqa: E402
import fileio  # noqa: E402
import hparams as hparams_lib  # noqa: E402
import provenance  # noqa: E402
import sample_files  # noqa: E402
from sample_settings import SampleError, define_flags, parse_flags, parse_settings  # noqa: E402
import utils  # noqa: E402

IMAGE_SIZE = 48
MARGIN = 1.5
OVERVIEW_ROWS = 8

# ------------------------------------------------------------------- inputs

def categories_for(dataset_id: int, hps) -> list:
    """Category names: hparams.DATASETS[dataset_id], or the checkpoint's for 0."""
    if dataset_id == 0:
        return list(hps.categories)
    if dataset_id not in hparams_lib.DATASETS:
        raise SampleError(f"dataset_id must be 0 (checkpoint's categories) or one of "
                          f"{sorted(hparams_lib.DATASETS)}, got {dataset_id}")
    return list(hparams_lib.DATASETS[dataset_id])


def load_test_sketches(data_dir: str, categories: list, sample_size: int, hps,
                       scale_factor: float) -> list:
    """First `sample_size` usable test sketches per category, normalised by the checkpoint's scale_factor.

    Returns one list of stroke-3 float32 arrays per category.
    """
    # Load only a little more than needed; load the configured amount if that was too little.
    cap = min(hps.num_per_category, 2 * sample_size + 100)
    for limit in dict.fromkeys((cap, hps.num_per_category)):
        data = utils.load_dataset(data_dir, categories, limit, hps.max_seq_len,
                                  hps.max_strokes_num, hps.max_stroke_len)
        labels = np.asarray(data.test.labels)
        if all(np.sum(labels == c) >= sample_size for c in range(len(categories))):
            break
    # load_dataset divides by the std of the split it loaded; undo that, divide by the model's.
    ratio = np.float32(data.scale_factor / scale_factor)
    out = []
    for c, name in enumerate(categories):
        index = np.flatnonzero(labels == c)[:sample_size]
        if len(index) == 0:
            raise SampleError(f"{data_dir}: category '{name}' has no usable test sketches")
        out.append([_rescaled(data.test.strokes[i], ratio) for i in index])
    return out


def _rescaled(strokes: np.ndarray, ratio: np.float32) -> np.ndarray:
    out = np.array(strokes, np.float32)
    out[:, :2] *= ratio
    return out


def disrupt_strokes(strokes: list, re_scale: float, rng: np.random.Generator) -> list:
    """Stroke-3 sketches with every stroke but the first moved (METHOD.md §3); unchanged for 0."""
    if re_scale <= 0:
        return list(strokes)
    return [utils.to_stroke3(utils.disrupt(utils.to_absolute(s), re_scale, rng)) for s in strokes]


def disrupt_categories(sketches: list, re_scale: float, seed: int) -> list:
    """The disrupted inputs of every category's sketches; category c draws from rng([seed, c])."""
    return [disrupt_strokes(strokes, re_scale, np.random.default_rng([seed, c]))
            for c, strokes in enumerate(sketches)]


def chunk_seed(seed: int, chunk: int) -> int:
    """Independent int32 generation seed of one batch of a run."""
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1)[0] >> 1)


# --------------------------------------------------------------- generation

class SketchGenerator:
    """A restored model with its sampler and the sampler's compiled encoder (one trace for both)."""

    def __init__(self, checkpoint_path: str, ckpt_id: int = 0):
        import inference  # TensorFlow only once the inputs are known to be good

        model, self.hps, self.extras, self.checkpoint = inference.load_model(checkpoint_path, ckpt_id)
        self.sampler = inference.Sampler(model)
        self.encoder = self.sampler.sketch_encoder(self.checkpoint)
        self.provenance = provenance.checkpoint_provenance(self.checkpoint)

    @property
    def scale_factor(self) -> float:
        """The normalisation of the training data."""
        return float(self.extras["scale_factor"])

    def encode(self, strokes: list, batch_size: int = 256) -> np.ndarray:
        """Codes y = mu [n, z] of normalised stroke-3 sketches."""
        return self.encoder.encode(strokes, batch_size)

    def generate(self, codes: np.ndarray, greedy: bool, temperature: float, seed: int,
                 batch_size: int = 500) -> tuple:
        """(sequences [n, max_seq_len, 5], lengths [n]) decoded for max_seq_len steps."""
        seqs, lengths = [], []
        for k, lo in enumerate(range(0, len(codes), batch_size)):
            seq, n = self.sampler.generate(codes[lo:lo + batch_size], self.hps.max_seq_len,
                                           greedy=greedy, temperature=temperature,
                                           seed=chunk_seed(seed, k))
            seqs.append(seq)
            lengths.append(n)
        return np.concatenate(seqs), np.concatenate(lengths)


def cut_sequence(seq: np.ndarray, length: int) -> np.ndarray:
    """Rows up to and including the end-of-sketch row (all rows if the sketch never ended)."""
    return np.array(seq[:min(int(length) + 1, len(seq))], np.float32)


# ------------------------------------------------------------------ outputs

def check_output(out: str, overwrite: bool = False) -> None:
    """SampleError unless `out` is (or can become) a writable folder without files of the user's.

    Files listed in the folder's manifest are sketchgloc's and may be replaced;
    any other file is the user's: the folder is refused, unless `overwrite`.
    A manifest naming anything but plain files of this folder, and a link or
    folder under a name a run writes or removes, are refused in any case.
    """
    problem = fileio.output_folder_problem(out, overwrite, files_only=True) or _link_problem(out)
    if problem:
        raise SampleError(problem)


def _link_problem(out: str) -> str | None:
    """Why an entry with a sample-file name cannot be replaced: a link or folder (never written through)."""
    for name in sorted(os.listdir(out)):
        if sample_files.OUTPUT_RE.match(name):
            kind = fileio.entry_kind(os.path.join(out, name))
            if kind != "file":
                return (f"{os.path.join(out, name)}: is {kind}; sketchgloc never writes "
                        "through it or removes it (move it away)")
    return None


def fresh_path(out: str, name: str) -> str:
    """Path of `name` in `out` with an earlier file there removed, so a write creates a new file.

    A writer that opens an existing path writes through a link (or a hard link)
    into a file elsewhere; removing our own earlier file first never does.
    """
    path = os.path.join(out, name)
    try:
        fileio.remove_own_file(path)
    except ValueError as err:
        raise SampleError(str(err)) from None
    return path


def prepare_output(out: str, planned: set, overwrite: bool = False) -> int:
    """Record `planned` in the manifest and remove the files of an earlier run it does not rewrite.

    With `overwrite`, files of the user's with sample-file names are treated as
    an earlier run's. Returns the number of files removed. The manifest lists
    every file that may exist from here on, so an interrupted run is still ours.
    """
    check_output(out, overwrite)
    earlier = fileio.read_manifest(out)
    if overwrite:
        earlier |= {name for name in os.listdir(out) if sample_files.OUTPUT_RE.match(name)}
    fileio.write_manifest(out, earlier | planned)
    removed = 0
    for name in sorted(earlier - planned):  # stale sketches, and ret/rec.json of the earlier run
        try:
            removed += fileio.remove_own_file(os.path.join(out, name))
        except ValueError as err:
            raise SampleError(str(err)) from None
    return removed


def write_svg(points: np.ndarray, path: str, size: int = IMAGE_SIZE, margin: float = MARGIN) -> None:
    """SVG of absolute (x, y, pen_lifted) points, fitted as the PNG rasteriser fits them."""
    import svgwrite

    from sketch_a_net.raster import fit_to_canvas

    drawing = svgwrite.Drawing(path, size=(size, size))
    drawing.add(drawing.rect((0, 0), (size, size), fill="white"))
    xy = fit_to_canvas(points, size, margin)
    ends = np.flatnonzero(np.asarray(points)[:, 2] > 0.5) + 1
    for stroke in np.split(xy, ends):
        if len(stroke) == 1:
            drawing.add(drawing.circle(tuple(np.round(stroke[0], 3)), r=0.5, fill="black"))
        elif len(stroke) > 1:
            drawing.add(drawing.polyline([tuple(p) for p in np.round(stroke, 3)], stroke="black",
                                         fill="none", stroke_width=1, stroke_linecap="round",
                                         stroke_linejoin="round"))
    drawing.save()


def write_category(out: str, c: int, seqs: list, codes: np.ndarray) -> list:
    """Write the files of category c; returns the generated absolute points."""
    from sketch_a_net.raster import rasterize_many, save_png

    points = [utils.five_to_points(s) for s in seqs]
    images = rasterize_many(points, IMAGE_SIZE, MARGIN)
    for i, (seq, code, pts, image) in enumerate(zip(seqs, codes, points, images)):
        svg, png = sample_files.image_names(c, i)
        np.save(fresh_path(out, sample_files.seq_name(c, i)), seq)
        np.save(fresh_path(out, sample_files.code_name(c, i)), np.asarray(code, np.float32))
        write_svg(pts, fresh_path(out, svg))
        save_png(image, fresh_path(out, png))
    return points


def write_overview(path: str, originals: list | None, disrupted: list | None, generated: list,
                   rows: int = OVERVIEW_ROWS) -> None:
    """Original (if any), disrupted input (if any) and generation side by side."""
    import plots

    titles = ((["original"] if originals is not None else [])
              + (["disrupted input"] if disrupted is not None else []) + ["generated"])
    grid = []
    for i in range(min(rows, len(generated))):
        row = [utils.to_absolute(originals[i])] if originals is not None else []
        if disrupted is not None:
            row.append(utils.to_absolute(disrupted[i]))
        grid.append(row + [generated[i]])
    plots.sketch_grid(grid, titles, path)


# ---------------------------------------------------------------------- run

def sample(generator: SketchGenerator, sketches: list, categories: list, out: str, *,
           re_scale: float, greedy: bool = False, temperature: float = 0.24, seed: int = 0,
           batch_size: int = 500, extra_meta: dict | None = None, verbose: bool = True,
           overwrite: bool = False) -> dict:
    """Disrupt, encode, generate and write one sample folder; returns its metadata."""
    planned = sample_files.planned_files([len(strokes) for strokes in sketches])
    removed = prepare_output(out, planned, overwrite)
    if removed and verbose:
        print(f"removed {removed} files of an earlier run from {out}", flush=True)
    start = time.perf_counter()
    inputs = disrupt_categories(sketches, re_scale, seed)
    originals_codes = [generator.encode(strokes) for strokes in sketches]
    flat_inputs = [s for group in inputs for s in group]
    input_codes = (generator.encode(flat_inputs) if re_scale > 0
                   else np.concatenate(originals_codes))
    seqs, lengths = generator.generate(input_codes, greedy, temperature, seed, batch_size)
    counts, lo = [], 0
    for c, strokes in enumerate(sketches):
        n = len(strokes)
        cut = [cut_sequence(seqs[lo + i], lengths[lo + i]) for i in range(n)]
        generated = write_category(out, c, cut, originals_codes[c])
        write_overview(fresh_path(out, sample_files.overview_name(c)), strokes,
                       inputs[c] if re_scale > 0 else None, generated)
        counts.append(n)
        if verbose:
            print(f"{categories[c]}: {n} sketches, mean length {lengths[lo:lo + n].mean():.1f}, "
                  f"{int(np.sum(lengths[lo:lo + n] >= generator.hps.max_seq_len))} without an end",
                  flush=True)
        lo += n
    meta = {"categories": list(categories), "re_scale": float(re_scale),
            "max_strokes_num": generator.hps.max_strokes_num, **(extra_meta or {})}
    return finish_folder(out, planned, meta, generator, counts, lengths, start,
                         seed=seed, greedy=greedy, temperature=temperature)


def finish_folder(out: str, planned: set, meta: dict, generator: SketchGenerator, counts: list,
                  lengths: np.ndarray, start: float, *, seed: int, greedy: bool,
                  temperature: float) -> dict:
    """Write sample_meta.json (`meta` plus what every run records) and the manifest; returns the meta."""
    meta = {
        "sample_size": int(max(counts)), "counts": counts, "checkpoint": generator.checkpoint,
        "seed": int(seed), "greedy": bool(greedy), "temperature": float(temperature),
        "scale_factor": generator.scale_factor, "max_seq_len": generator.hps.max_seq_len,
        "mean_length": float(lengths.mean()),
        "unfinished": int(np.sum(lengths >= generator.hps.max_seq_len)),
        "seconds": round(time.perf_counter() - start, 2), **generator.provenance, **meta,
    }
    fileio.write_json(os.path.join(out, sample_files.META_NAME), meta)
    fileio.write_manifest(out, planned)
    return meta


def sample_unconditional(generator: SketchGenerator, count: int, out: str, *, greedy: bool = False,
                         temperature: float = 0.24, seed: int = 0, batch_size: int = 500,
                         overwrite: bool = False) -> dict:
    """Decode `count` codes z ~ N(0, I) (seeded) into one sample folder; returns its metadata."""
    planned = sample_files.planned_files([count])
    prepare_output(out, planned, overwrite)
    start = time.perf_counter()
    codes = np.random.default_rng([seed, 1]).standard_normal((count, generator.hps.z_size))
    codes = codes.astype(np.float32)
    seqs, lengths = generator.generate(codes, greedy, temperature, seed, batch_size)
    cut = [cut_sequence(seq, n) for seq, n in zip(seqs, lengths)]
    generated = write_category(out, 0, cut, codes)
    write_overview(fresh_path(out, sample_files.overview_name(0)), None, None, generated)
    meta = {"unconditional": True, "categories": [], "re_scale": 0.0}
    return finish_folder(out, planned, meta, generator, [count], lengths, start,
                         seed=seed, greedy=greedy, temperature=temperature)


def demo_data_dir() -> str:
    """The built-in demo dataset (generated on first use)."""
    import demo_data

    return demo_data.ensure_demo_dataset()[0]


def run(settings: dict) -> dict:
    """Sample with parsed settings (the keys of POSITIONAL plus the other flags)."""
    # Everything that can fail on user input is checked before TensorFlow is loaded.
    hps, extras, _ = checkpoints.check_folder(settings["checkpoint_path"], settings["ckpt_id"])
    check_output(settings["sample_output"], settings["overwrite"])
    if settings["unconditional"]:
        generator = SketchGenerator(settings["checkpoint_path"], settings["ckpt_id"])
        meta = sample_unconditional(generator, settings["sample_size"], settings["sample_output"],
                                    greedy=settings["greedy"], temperature=settings["temperature"],
                                    seed=settings["seed"], batch_size=settings["batch_size"],
                                    overwrite=settings["overwrite"])
        print(f"wrote {meta['sample_size']} unconditional sketches to {settings['sample_output']} "
              f"in {meta['seconds']:.1f} s")
        return meta
    categories = categories_for(settings["dataset_id"], hps)
    data_dir = demo_data_dir() if settings["demo"] else settings["data_dir"]
    sketches = load_test_sketches(data_dir, categories, settings["sample_size"], hps,
                                  float(extras["scale_factor"]))
    generator = SketchGenerator(settings["checkpoint_path"], settings["ckpt_id"])
    meta = sample(generator, sketches, categories, settings["sample_output"],
                  re_scale=settings["re_scale"], greedy=settings["greedy"],
                  temperature=settings["temperature"], seed=settings["seed"],
                  batch_size=settings["batch_size"], extra_meta={"data_dir": data_dir},
                  overwrite=settings["overwrite"])
    print(f"wrote {sum(meta['counts'])} sketches to {settings['sample_output']} "
          f"in {meta['seconds']:.1f} s")
    return meta


# ---------------------------------------------------------------------- CLI

@errors.guarded
def main(argv: list) -> None:
    """CLI entry: `error: ...` on stderr and exit status 1 (2 for a bad command line) on a user error."""
    from absl import flags

    run(parse_settings(argv, flags.FLAGS))


if __name__ == "__main__":
    import cli

    define_flags()
    cli.run_absl(main, parse=parse_flags)
