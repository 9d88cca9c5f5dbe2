"""Ret metric (METHOD.md §11): find each generated sketch's original among all original codes.

    python retrieval.py sample_input_path checkpoint_path [--ckpt_id=N]

Every `s_<c>_<i>.npy` of the sample folder is encoded without disruption
(y = mu); all `code_<c>_<i>.npy` are ranked by mean squared distance to it;
Top-k Ret is the fraction of generated sketches whose own original
(`code_<c>_<i>`) is among the k nearest. Prints `Top 1 Ret: x`, `Top 10 Ret: x`,
`Top 50 Ret: x` and writes `ret.json` into the sample folder.

The folder's `sample_meta.json` must name the checkpoint given (its config
and weights hashes, see provenance.py): codes ranked by another model give
plausible but meaningless numbers. `--force` ranks anyway, with a warning.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import checkpoints  # noqa: E402
import errors  # noqa: E402
import fileio  # noqa: E402
import provenance  # noqa: E402
from sample_files import RET_NAME, code_files, seq_files  # noqa: E402
import utils  # noqa: E402

KS = (1, 10, 50)
# Bytes of one block of the distance matrix: bounds memory for any number of codes.
BLOCK_BYTES = 64 * 2 ** 20


class RetrievalError(errors.UserError):
    """A sample folder or checkpoint that cannot be used; the message is one line."""


# ------------------------------------------------------------------ ranking

def own_ranks(gen_codes: np.ndarray, orig_codes: np.ndarray, own: np.ndarray | None = None) -> np.ndarray:
    """0-based rank of each generated code's own original among all originals (by distance).

    own[i] is the row of orig_codes that generated code i came from (default i).
    Rank = originals strictly nearer + equally near ones with a smaller index,
    i.e. the position a stable sort by distance would give; no sort is done.
    Distances come from ||b||^2 - 2ab in float32 on codes centred on the
    originals' mean (centring keeps the cancellation error small).
    """
    gen = np.asarray(gen_codes, np.float32)
    orig = np.asarray(orig_codes, np.float32)
    own = np.arange(len(gen)) if own is None else np.asarray(own, np.int64)
    if gen.ndim != 2 or orig.ndim != 2 or gen.shape[1] != orig.shape[1]:
        raise ValueError(f"codes must be [n, z] and [m, z] with the same z, got {gen.shape} and {orig.shape}")
    if len(own) != len(gen) or (len(own) and (own.min() < 0 or own.max() >= len(orig))):
        raise ValueError("own must give one row of orig_codes per generated code")
    # A NaN compares False with everything: it would count nothing as nearer, a perfect rank.
    for name, codes in (("generated", gen), ("original", orig)):
        if not np.isfinite(codes).all():
            raise ValueError(f"{name} code {int(np.argmin(np.isfinite(codes).all(axis=1)))} "
                             "holds NaN or Inf values")
    centre = orig.mean(axis=0, dtype=np.float64).astype(np.float32) if len(orig) else 0.0
    gen, orig = gen - centre, orig - centre
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is caught below, by name
        orig_sq = np.einsum("ij,ij->i", orig, orig)
    ranks = np.empty(len(gen), np.int64)
    rows = max(1, BLOCK_BYTES // (4 * max(1, len(orig))))
    for lo in range(0, len(gen), rows):
        o = own[lo:lo + rows]
        # Squared distances less the per-row constant ||g||^2, which cannot change a ranking.
        with np.errstate(over="ignore", invalid="ignore"):
            d = orig_sq[None, :] - 2.0 * (gen[lo:lo + rows] @ orig.T)
        mine = d[np.arange(len(o)), o][:, None]
        if not np.isfinite(d).all():  # codes so large that float32 distances overflow
            raise ValueError("codes too large: their distances overflow float32")
        ranks[lo:lo + rows] = np.count_nonzero(d < mine, axis=1) + _earlier_ties(d, mine, o)
    return ranks


def _earlier_ties(d: np.ndarray, mine: np.ndarray, own: np.ndarray) -> np.ndarray:
    """Per row: originals before the own one (by index) at exactly the own distance."""
    ties = np.count_nonzero(d == mine, axis=1) - 1  # the own original always ties itself
    out = np.zeros(len(d), np.int64)
    for r in np.flatnonzero(ties):  # exact ties are rare (duplicate codes): a short loop
        out[r] = np.count_nonzero(d[r, :own[r]] == mine[r, 0])
    return out


def topk_retrieval(gen_codes: np.ndarray, orig_codes: np.ndarray, ks=KS,
                   own: np.ndarray | None = None) -> dict:
    """{k: fraction of generated codes whose own original is among the k nearest originals}."""
    ranks = own_ranks(gen_codes, orig_codes, own)
    if not len(ranks):
        raise ValueError("no generated codes to rank")
    return {int(k): float(np.mean(ranks < k)) for k in ks}


def chance_levels(num_codes: int, ks=KS) -> dict:
    """Top-k Ret of a random ranking: k / number of original codes (at most 1)."""
    return {int(k): min(1.0, k / num_codes) for k in ks}


# ------------------------------------------------------------------- inputs

def find_files(sample_dir: str) -> tuple:
    """(sorted original keys, their code paths, sorted generated keys, their paths); checks pairing."""
    if not os.path.isdir(sample_dir):
        raise RetrievalError(f"{sample_dir}: sample folder not found")
    codes = code_files(sample_dir)
    if not codes:
        raise RetrievalError(f"{sample_dir}: no original codes code_<c>_<i>.npy "
                             "(write them with sample_abs.py)")
    seqs = seq_files(sample_dir)
    if not seqs:
        raise RetrievalError(f"{sample_dir}: no generated sketches s_<c>_<i>.npy "
                             "(write them with sample_abs.py)")
    orphans = sorted(set(seqs) - set(codes))
    if orphans:
        c, i = orphans[0]
        raise RetrievalError(f"{sample_dir}: {len(orphans)} generated sketches have no original code "
                             f"(first: s_{c}_{i}.npy without code_{c}_{i}.npy)")
    code_keys, seq_keys = sorted(codes), sorted(seqs)
    return code_keys, [codes[k] for k in code_keys], seq_keys, [seqs[k] for k in seq_keys]


def load_codes(paths: list, z_size: int) -> np.ndarray:
    """Stack the saved codes [n, z_size]; RetrievalError naming a bad file."""
    out = np.empty((len(paths), z_size), np.float32)
    for row, path in enumerate(paths):
        try:
            code = np.load(path).reshape(-1)
        except (OSError, ValueError) as err:
            raise RetrievalError(f"{path}: unreadable ({err})") from None
        if code.size != z_size:
            raise RetrievalError(f"{path}: code of size {code.size}, the checkpoint's z_size is {z_size}")
        if code.dtype.kind not in "biuf" or not np.isfinite(code).all():
            raise RetrievalError(f"{path}: code holds non-numeric, NaN or Inf values")
        out[row] = code
    return out


def load_sketches(paths: list, max_seq_len: int) -> list:
    """Generated absolute 5-D sequences -> stroke-3 sketches the encoder can take."""
    out = []
    for path in paths:
        try:
            seq = utils.load_five(path)
        except utils.DataError as err:
            raise RetrievalError(str(err)) from None
        if seq.dtype.kind not in "biuf" or not np.isfinite(seq).all():
            raise RetrievalError(f"{path}: sequence holds non-numeric, NaN or Inf values")
        points = utils.five_to_points(seq)[:max_seq_len]
        if not len(points):
            # A generation that ended at once: encode it as a single dot at the origin.
            points = np.array([[0.0, 0.0, 1.0]], np.float32)
        out.append(utils.to_stroke3(points))
    return out


def check_provenance(sample_dir: str, checkpoint_path: str, ckpt_id: int = 0,
                     force: bool = False) -> None:
    """RetrievalError unless sample_meta.json names this checkpoint; with `force` a warning line instead."""
    expected = provenance.checkpoint_provenance(checkpoint_path, ckpt_id)
    try:
        meta = provenance.read_meta(sample_dir)
    except ValueError as err:
        problem = f"{err}; cannot tell which checkpoint made these samples"
    else:
        problem = provenance.mismatch(meta, expected)
        problem = problem and f"{sample_dir}: {problem}"
    if problem and not force:
        raise RetrievalError(f"{problem} (pass --force to rank anyway)")
    if problem:
        print(f"warning: {problem}; ranking anyway (--force)", file=sys.stderr, flush=True)


def check_output(sample_dir: str) -> None:
    """RetrievalError unless ret.json can be written: a writable folder, no ret.json of the user's."""
    problem = fileio.own_file_problem(sample_dir, RET_NAME)
    if problem:
        raise RetrievalError(problem)


# ---------------------------------------------------------------------- run

def run(sample_dir: str, checkpoint_path: str, ckpt_id: int = 0, batch_size: int = 256,
        encoder=None, verbose: bool = True, force: bool = False) -> dict:
    """Encode the generated sketches, rank the originals, print and write ret.json.

    `encoder` (an inference.SketchEncoder) skips restoring the checkpoint again.
    Provenance and the output are checked before any model is built.
    """
    if batch_size < 1:
        raise errors.UsageError(f"--batch_size must be >= 1, got {batch_size}")
    code_keys, code_paths, seq_keys, seq_paths = find_files(sample_dir)
    hps = checkpoints.check_folder(checkpoint_path, ckpt_id)[0]
    check_provenance(sample_dir, checkpoint_path, ckpt_id, force)
    check_output(sample_dir)
    orig = load_codes(code_paths, hps.z_size)
    sketches = load_sketches(seq_paths, hps.max_seq_len)
    if encoder is None:
        import inference  # TensorFlow only now that the inputs are known to be good

        model, _, _, prefix = inference.load_model(checkpoint_path, ckpt_id)
        encoder = inference.SketchEncoder(model, prefix)
    gen = encoder.encode(sketches, batch_size)
    bad = np.flatnonzero(~np.isfinite(gen).all(axis=1))
    if len(bad):
        raise RetrievalError(f"{seq_paths[bad[0]]}: its code is NaN or Inf ({len(bad)} generated "
                             "sketches give such codes); no ranking")
    position = {key: row for row, key in enumerate(code_keys)}
    own = np.array([position[key] for key in seq_keys])
    try:
        top = topk_retrieval(gen, orig, KS, own)
    except ValueError as err:
        raise RetrievalError(f"{sample_dir}: {err}") from None
    result = {f"top_{k}": v for k, v in top.items()}
    result.update(num_generated=len(gen), num_codes=len(orig), checkpoint=encoder.checkpoint,
                  chance={f"top_{k}": v for k, v in chance_levels(len(orig)).items()})
    fileio.write_own_json(sample_dir, RET_NAME, result)
    if verbose:
        for k in KS:
            print(f"Top {k} Ret: {top[k]}")
    return result


@errors.guarded
def main(argv: list) -> None:
    """CLI entry: `error: ...` on stderr and exit status 1 (2 for a bad command line) on a user error."""
    from absl import flags

    if len(argv) != 3:
        raise errors.UsageError(f"expected 2 positional arguments (sample_input_path checkpoint_path), "
                                f"got {len(argv) - 1}")
    run(argv[1], argv[2], flags.FLAGS.ckpt_id, flags.FLAGS.batch_size, force=flags.FLAGS.force)


if __name__ == "__main__":
    from absl import flags

    import cli

    flags.DEFINE_integer("ckpt_id", 0, "0: latest best checkpoint; N: ckpt-N.")
    flags.DEFINE_integer("batch_size", 256, "Sketches encoded together.")
    flags.DEFINE_boolean("force", False, "Rank even when sample_meta.json names another checkpoint.")
    cli.run_absl(main)
