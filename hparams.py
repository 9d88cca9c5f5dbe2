"""Hyper-parameters of SketchGloc (METHOD.md §12): one dataclass, the original `--hparams` syntax, presets.

`parse("categories=[bee,bus],z_size=64")` reads the comma-separated `key=value`
string of the original code; `preset=small` anywhere in the string starts from
a named preset before the other keys are applied.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import fileio
from errors import UserError

DATASETS = {
    1: ["pig", "bee", "flower", "bus", "giraffe"],
    2: ["airplane", "angel", "apple", "butterfly", "bus", "cake", "fish",
        "spider", "The Great Wall", "umbrella"],
    3: ["pig", "bee", "flower", "bus", "giraffe", "car", "cat", "horse"],
}


class HParamsError(UserError, ValueError):
    """A bad `--hparams` string or config file; the message names the key."""


@dataclasses.dataclass
class HParams:
    """Every hyper-parameter of docs/METHOD.md; defaults are the paper configuration."""

    categories: list = dataclasses.field(default_factory=lambda: list(DATASETS[1]))
    num_per_category: int = 70000
    batch_size: int = 100
    # -1 = computed from the loaded data (METHOD.md §1 and §4), as in the original.
    max_seq_len: int = -1  # longest sketch
    max_stroke_len: int = -1  # a node holds at most max_stroke_len + 1 points; 5 = 6-point pieces
    max_strokes_num: int = -1  # node cap per sketch
    num_graphs: int = 9
    enc_model: str = "lstm"
    enc_rnn_size: int = 512
    dec_model: str = "hyper"
    dec_rnn_size: int = 512
    z_size: int = 128
    dec_num_mixture: int = 20
    # The original's decoder ignores num_mixture and always uses 20 components (dec_num_mixture).
    num_mixture: int = 5
    hyper_num_units: int = 256
    hyper_embedding_size: int = 32
    use_recurrent_dropout: bool = True
    recurrent_dropout_prob: float = 0.9  # keep probability, as in sketch-rnn
    # sketch-rnn's decoder dropouts (keep probabilities; training only).
    use_input_dropout: bool = False
    input_dropout_prob: float = 0.9
    use_output_dropout: bool = False
    output_dropout_prob: float = 0.9
    random_scale_factor: float = 0.1
    augment_stroke_prob: float = 0.1
    re_scale: float = 0.0
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-5
    decay_rate: float = 0.99999
    grad_clip: float = 1.0
    # Accepted for the original's command lines; neither has an effect (see NO_EFFECT).
    de_weight: float = 1.0
    is_training: bool = True
    num_steps: int = 1000000
    save_every: int = 1  # epochs between validations
    early_stop_patience: int = 5
    seed: int = 0
    precision: str = "float32"
    jit_compile: bool = False
    # Opt-in speed knob (not in the original): sort windows of this many shuffled
    # training batches by sketch length so each batch pads less; 0 = plain shuffling.
    bucket_batches: int = 0
    # Opt-in (not in the original): round every batch's padded time, node and point sizes up
    # to one of this many size classes (graph_builder.shape_class), so that jit_compile=True
    # compiles a bounded number of programs; the losses do not change. 0 = pad to the batch.
    shape_buckets: int = 0

    @classmethod
    def from_dict(cls, values: dict) -> "HParams":
        """Build from a dict, checking keys and types; extra keys are refused."""
        hps = cls()
        for key, value in values.items():
            _set(hps, key, value)
        return hps

    def replace(self, **kwargs: Any) -> "HParams":
        """A copy with some fields changed (checked like `parse`)."""
        new = dataclasses.replace(self)
        for key, value in kwargs.items():
            _set(new, key, value)
        return new


PRESETS = {
    "paper": {},
    # Encoder 256, by the claims study's rule (results/claims/results.md, 3 seeds x 3000 steps):
    # 256 beats 128 on Rec (+1.8 points, 95% interval [+0.3, +3.2]) and 64 on Top-1 and Top-10;
    # nothing beats 256. It trains at 0.64x the speed of 128. (It was 128 until then.)
    "small": {"enc_rnn_size": 256, "dec_rnn_size": 128, "z_size": 32},
    # The original's top-level variant: 6-point pieces instead of whole strokes (METHOD.md §0).
    "pieces": {"max_stroke_len": 5},
    # The whole top-level variant (docs/DIFFERENCES.md): its pieces, sizes and training settings
    # (no recurrent dropout, no augmentation). Its greedy decoding is the samplers' --greedy.
    "toplevel": {"max_stroke_len": 5, "enc_rnn_size": 256, "z_size": 64, "batch_size": 300,
                 "decay_rate": 0.9999, "use_recurrent_dropout": False,
                 "random_scale_factor": 0.0, "augment_stroke_prob": 0.0},
}
# Keys of the original's command line that change nothing, and why (printed when set).
NO_EFFECT = {
    "num_mixture": "the decoder's mixture size is dec_num_mixture (20), as in the original, "
                   "which never reads num_mixture",
    "de_weight": "it weighs a deconvolution loss that the original no longer has",
    "is_training": "training and evaluation set it themselves",
}
# Renamed keys: old name -> (new name, conversion of the old value).
RENAMED = {"piece_len": ("max_stroke_len", lambda points: int(points) - 1)}

_FIELDS = {f.name: f for f in dataclasses.fields(HParams)}
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def _field_type(key: str) -> type:
    default = HParams()
    return type(getattr(default, key))


def _coerce(key: str, value: Any) -> Any:
    """Convert a raw string (or JSON value) to the type of field `key`."""
    kind = _field_type(key)
    try:
        if kind is list:
            if isinstance(value, str):
                value = _split_list(value)
            if not isinstance(value, (list, tuple)):
                raise TypeError
            return [str(v) for v in value]
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise TypeError
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            if isinstance(value, str) and not value.strip().lstrip("+-").isdigit():
                raise TypeError
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        return str(value).strip().strip("'\"")
    except (TypeError, ValueError):
        raise HParamsError(
            f"hparam '{key}' expects {kind.__name__}, got {value!r}") from None


def _split_list(text: str) -> list:
    """`[a, 'b c',d]` -> ['a', 'b c', 'd']."""
    text = text.strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise ValueError
    items = [item.strip().strip("'\"").strip() for item in split_top(text[1:-1])]
    return [item for item in items if item]


def split_top(text: str) -> list:
    """Split on commas that are outside brackets and quotes."""
    parts, depth, quote, current = [], 0, None, []
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def _set(hps: HParams, key: str, value: Any) -> None:
    if key in RENAMED:
        new, _ = RENAMED[key]
        raise HParamsError(f"hparam '{key}' was renamed: use {new} = {key} - 1 "
                           f"({new}=5 gives 6-point pieces)")
    if key not in _FIELDS:
        raise HParamsError(f"unknown hparam '{key}' (known: {', '.join(sorted(_FIELDS))})")
    setattr(hps, key, _coerce(key, value))


def parse(text: str, base: HParams | None = None) -> HParams:
    """Parse the original `--hparams` string; `preset=NAME` selects a starting preset."""
    pairs = []
    for part in split_top(text or ""):
        if not part.strip():
            continue
        if "=" not in part:
            raise HParamsError(f"hparam entry '{part.strip()}' is not key=value")
        key, value = part.split("=", 1)
        pairs.append((key.strip(), value.strip()))
    hps = dataclasses.replace(base) if base is not None else HParams()
    for key, value in pairs:
        if key == "preset":
            hps = preset(value, base=hps)
    for key, value in pairs:
        if key != "preset":
            _set(hps, key, value)
    return hps


def preset(name: str, base: HParams | None = None) -> HParams:
    """The named preset (`paper` or `small`) applied on top of `base` or the defaults."""
    if name not in PRESETS:
        raise HParamsError(f"unknown preset '{name}' (known: {', '.join(PRESETS)})")
    hps = dataclasses.replace(base) if base is not None else HParams()
    for key, value in PRESETS[name].items():
        _set(hps, key, value)
    return hps


def save(hps: HParams, path: str, **extra: Any) -> None:
    """Write hparams (plus extra entries such as `scale_factor`) as JSON."""
    values = dataclasses.asdict(hps)
    clash = sorted(set(extra) & set(values))
    if clash:
        raise HParamsError(f"extra config entries shadow hparams: {', '.join(clash)}")
    values.update(extra)
    # Atomic: a kill -9 mid-write leaves the previous file, never a torn one.
    fileio.write_json(path, values, indent=2, sort_keys=True)


def no_effect_notices(hps: HParams) -> list:
    """One line per key of NO_EFFECT that `hps` sets to a non-default value."""
    default = HParams()
    return [f"note: {key}={getattr(hps, key)!r} has no effect: {why}"
            for key, why in NO_EFFECT.items() if getattr(hps, key) != getattr(default, key)]


def upgrade_legacy(values: dict) -> dict:
    """A saved config with renamed keys converted, keeping each key's old meaning.

    Configs written before stroke nodes hold `piece_len` (points per node): their
    nodes are `max_stroke_len = piece_len - 1`, which builds exactly the same nodes.
    """
    values = dict(values)
    for old, (new, convert) in RENAMED.items():
        if old in values:
            if new in values:
                raise HParamsError(f"config holds both '{old}' and its new name '{new}'")
            values[new] = convert(values.pop(old))
    return values


def load(path: str) -> tuple[HParams, dict]:
    """Read a JSON written by `save` (or an older version): (hparams, extra entries); HParamsError if torn."""
    try:
        values = fileio.read_json(path)
    except ValueError as err:
        raise HParamsError(f"{err}; the file is damaged (torn write?): restore it or use another "
                           "folder") from None
    if not isinstance(values, dict):
        raise HParamsError(f"{path}: expected a JSON object of hparams, got {type(values).__name__}")
    values = upgrade_legacy(values)
    known = {k: v for k, v in values.items() if k in _FIELDS}
    extra = {k: v for k, v in values.items() if k not in _FIELDS}
    return HParams.from_dict(known), extra


def diff(a: HParams, b: HParams, ignore: tuple = ()) -> dict:
    """Fields whose values differ: {key: (a_value, b_value)}."""
    da, db = dataclasses.asdict(a), dataclasses.asdict(b)
    return {k: (da[k], db[k]) for k in da if da[k] != db[k] and k not in ignore}


# ---------------------------------------------------------------- validation
# Kept here (not imported from rnn.py / layers.py) so that checking needs no TensorFlow;
# tests check that these agree with rnn.CELL_KINDS and layers.COMPUTE_DTYPES.
CELL_KINDS = ("lstm", "layer_norm", "hyper")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
GRAPH_COUNTS = (9, 1)


def _at_least(low: float) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: math.isfinite(v) and v >= low), f"a number >= {low}" if low else "a number >= 0"


def _positive() -> tuple[Callable[[Any], bool], str]:
    return (lambda v: math.isfinite(v) and v > 0), "a finite number > 0"


def _unit(low_open: bool, high_open: bool) -> tuple[Callable[[Any], bool], str]:
    def ok(v: float) -> bool:
        return (0 < v if low_open else 0 <= v) and (v < 1 if high_open else v <= 1)
    return ok, f"a number in {'(' if low_open else '['}0, 1{')' if high_open else ']'}"


def _one_of(options: tuple) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: v in options), "one of " + ", ".join(repr(o) for o in options)


def _categories() -> tuple[Callable[[Any], bool], str]:
    return (lambda v: len(v) > 0 and all(str(c).strip() for c in v)
            and len(set(v)) == len(v)), "a non-empty list of distinct, non-empty category names"


def _computed_or_at_least_1() -> tuple[Callable[[Any], bool], str]:
    return (lambda v: v == -1 or v >= 1), "-1 (computed from the data) or an integer >= 1"


# field -> (check, what is allowed); booleans need no rule (parsing checks their type).
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "categories": _categories(),
    "max_seq_len": _computed_or_at_least_1(),
    "max_stroke_len": _computed_or_at_least_1(),
    "max_strokes_num": _computed_or_at_least_1(),
    "num_per_category": _at_least(1),
    "batch_size": _at_least(1),
    "num_graphs": _one_of(GRAPH_COUNTS),
    "enc_model": _one_of(CELL_KINDS),
    "enc_rnn_size": _at_least(1),
    "dec_model": _one_of(CELL_KINDS),
    "dec_rnn_size": _at_least(1),
    "z_size": _at_least(1),
    "dec_num_mixture": _at_least(1),
    "hyper_num_units": _at_least(1),
    "hyper_embedding_size": _at_least(1),
    "recurrent_dropout_prob": _unit(low_open=True, high_open=False),  # a keep probability
    "input_dropout_prob": _unit(low_open=True, high_open=False),
    "output_dropout_prob": _unit(low_open=True, high_open=False),
    "num_mixture": _at_least(1),  # read by nothing, as in the original, but still a count
    "de_weight": _at_least(0),
    "random_scale_factor": _unit(low_open=False, high_open=True),  # scales by 1 +- r: r < 1
    "augment_stroke_prob": _unit(low_open=False, high_open=True),
    "re_scale": _at_least(0),
    "learning_rate": _positive(),
    "min_learning_rate": _at_least(0),
    "decay_rate": _unit(low_open=True, high_open=False),
    "grad_clip": _positive(),
    "num_steps": _at_least(1),
    "save_every": _at_least(1),
    "early_stop_patience": _at_least(1),
    "seed": (lambda v: 0 <= v < 2 ** 32, "an integer in [0, 2**32)"),
    "precision": _one_of(PRECISIONS),
    "bucket_batches": _at_least(0),
    "shape_buckets": _at_least(0),
}


def _combinations(hps: HParams) -> list:
    """Lines for rules that involve several fields."""
    lines = []
    if math.isfinite(hps.min_learning_rate) and hps.min_learning_rate > hps.learning_rate:
        lines.append(f"hparam 'min_learning_rate' = {hps.min_learning_rate!r}: must be <= "
                     f"learning_rate ({hps.learning_rate!r})")
    return lines


def problems(hps: HParams) -> list:
    """One line per hparam value outside its allowed range (empty when all are valid)."""
    lines = []
    for key, (check, allowed) in RULES.items():
        value = getattr(hps, key)
        try:
            ok = bool(check(value))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            lines.append(f"hparam '{key}' = {value!r}: expected {allowed}")
    return lines + (_combinations(hps) if not lines else [])


def validate(hps: HParams, memory: int | None = None) -> HParams:
    """`hps` unchanged when every value is allowed and the model fits in `memory` bytes (the machine's
    by default), else HParamsError with one line per problem."""
    lines = problems(hps)
    if not lines:
        problem = memory_problem(hps, machine_memory() if memory is None else memory)
        lines = [problem] if problem else []
    if lines:
        raise HParamsError("\n".join(lines))
    return hps


def fit_to(hps: HParams, data: Any, **changes: Any) -> HParams:
    """`hps` with the three length caps the loaded `data` fixed (and any `changes`)."""
    # The data resolves caps left at -1 and may lower given ones; the model must be built for
    # exactly what the batches will hold.
    return hps.replace(max_seq_len=data.max_seq_len, max_strokes_num=data.max_strokes_num,
                       max_stroke_len=data.max_stroke_len, **changes)


# ---------------------------------------------------------------- memory
# A lower bound of what training needs, so that a config that cannot fit is refused in one line
# before a model is built (instead of an out-of-memory traceback, or a sampler that never ends).
# Each term is (float32 values, the keys that make it large). Caps still at -1 (computed from the
# data later) count as 0; train.py checks again once the data fixed them.
FLOAT_BYTES = 4
# The paper's configuration on sketch-rnn's data (sketches of at most 250 points).
ORDINARY = HParams(max_seq_len=250, max_strokes_num=100, max_stroke_len=100)
# Weights, their gradients and Adam's two moments.
COPIES_PER_PARAMETER = 4


def _cell_parameters(kind: str, units: int, inputs: int, hps: HParams) -> int:
    """Weights of one recurrent cell (the HyperLSTM's small hyper cell included)."""
    count = 4 * units * (units + inputs + 1)
    if kind == "hyper":
        hyper = hps.hyper_num_units
        count += 4 * hyper * (hyper + inputs + units + 1) + 3 * 4 * units * hps.hyper_embedding_size
    return count


def memory_terms(hps: HParams) -> list:
    """[(float32 values, keys)]: the model's parameters and the main activations of one training batch."""
    enc, dec, z, mix = hps.enc_rnn_size, hps.dec_rnn_size, hps.z_size, hps.dec_num_mixture
    batch = hps.batch_size
    steps = max(hps.max_seq_len, 0) + 1 if hps.max_seq_len > 0 else 0
    node_points = max(hps.max_strokes_num, 0) * max(hps.max_stroke_len + 1, 0)
    state = 2 * dec + (2 * hps.hyper_num_units if hps.dec_model == "hyper" else 0)
    weights = COPIES_PER_PARAMETER
    return [
        (weights * 2 * _cell_parameters(hps.enc_model, enc, 2, hps), ("enc_rnn_size",)),
        (weights * 2 * hps.num_graphs * (2 * enc) ** 2, ("enc_rnn_size",)),
        (weights * 2 * 2 * enc * z, ("enc_rnn_size", "z_size")),
        (weights * _cell_parameters(hps.dec_model, dec, z + 5, hps), ("dec_rnn_size", "z_size")),
        (weights * z * state, ("z_size", "dec_rnn_size")),
        (weights * dec * (3 + 6 * mix), ("dec_rnn_size", "dec_num_mixture")),
        # Kept for the backward pass: the encoder's outputs at every point of every node, the
        # decoder's gates and state at every step, and the mixture's parameters at every step.
        (batch * node_points * 2 * enc, ("batch_size", "max_strokes_num", "max_stroke_len", "enc_rnn_size")),
        (batch * steps * (4 * dec + state), ("batch_size", "max_seq_len", "dec_rnn_size")),
        (batch * steps * 2 * (3 + 6 * mix), ("batch_size", "max_seq_len", "dec_num_mixture")),
        (batch * steps * z, ("batch_size", "max_seq_len", "z_size")),
    ]


def memory_bytes(hps: HParams) -> int:
    """A lower bound of the memory (bytes) training `hps` takes."""
    return FLOAT_BYTES * sum(values for values, _ in memory_terms(hps))


def memory_problem(hps: HParams, memory: int) -> str | None:
    """One line naming the keys behind a model that needs more than `memory` bytes (None if it fits)."""
    terms = [(FLOAT_BYTES * values, keys) for values, keys in memory_terms(hps)]
    total = sum(size for size, _ in terms)
    if total <= memory:
        return None
    keys = []
    for size, names in sorted(terms, key=lambda term: -term[0]):
        if size >= total / 4:  # the terms that make it too large
            keys += [name for name in names if name not in keys]
    # Of their keys, those above the paper's configuration (sketch-rnn's data caps) are the culprits.
    keys = [key for key in keys if getattr(hps, key) > getattr(ORDINARY, key)] or keys
    values = ", ".join(f"{key}={getattr(hps, key)!r}" for key in keys)
    return (f"hparams {values}: the model needs at least {_size(total)} to train with batch_size "
            f"{hps.batch_size} (parameters and activations), more than the {_size(memory)} of memory "
            "of this machine")


def _size(count: int) -> str:
    """Bytes in GB (or MB below 1 GB), for messages."""
    return f"{count / 1e9:.1f} GB" if count >= 1e9 else f"{count / 1e6:.0f} MB"


def machine_memory() -> int:
    """Bytes of memory this process may use: the physical memory, or a smaller cgroup limit."""
    import os
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: assume plenty, refuse nothing
        return 2 ** 62
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        if limit.isdigit():
            total = min(total, int(limit))
    except OSError:
        pass
    return total
