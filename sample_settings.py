"""The settings of sample_abs.py: the original's 6 positional arguments, or absl flags.

    python sample_abs.py sample_size dataset_id sample_output re_scale checkpoint_path ckpt_id
    python sample_abs.py --sample_size=100 ... [--greedy] [--unconditional] [--demo] [--overwrite]

Both forms give the same settings dict (the keys of DEFAULTS); negative
numbers among the positional arguments stay positional, so that the range
check names them. A bad setting is a SettingsError (a UsageError: exit 2).
absl is imported only when flags are defined or parsed.
"""
from __future__ import annotations

import re

from errors import UsageError, UserError
import hparams as hparams_lib

POSITIONAL = ("sample_size", "dataset_id", "sample_output", "re_scale", "checkpoint_path", "ckpt_id")
DEFAULTS = {
    "sample_size": 100, "dataset_id": 0, "sample_output": None, "re_scale": 0.0,
    "checkpoint_path": None, "ckpt_id": 0, "data_dir": "datasets", "demo": False,
    "greedy": False, "temperature": 0.24, "seed": 0, "batch_size": 500, "unconditional": False,
    "overwrite": False,
}
HELP = {
    "sample_size": "Test sketches per category.",
    "dataset_id": "1/2/3: the paper's category lists; 0: the checkpoint's.",
    "sample_output": "Output folder.",
    "re_scale": "Disruption of the input sketches (0: none).",
    "checkpoint_path": "Training folder (--log_root) with model_config.json.",
    "ckpt_id": "0: latest best checkpoint; N: ckpt-N.",
    "data_dir": "Folder of <category>.npz files.",
    "demo": "Read the built-in demo dataset instead of --data_dir.",
    "greedy": "Most probable component, its mean and the most probable pen state (the original's "
              "top-level variant); default: temperature sampling with --temperature.",
    "temperature": "Sampling temperature tau (without --greedy): log-probabilities / tau, "
                   "standard deviations * tau.",
    "unconditional": "Decode sample_size codes z ~ N(0, I) instead of encoded test sketches.",
    "seed": "Seed of the disruption and of temperature sampling.",
    "batch_size": "Sketches generated together.",
    "overwrite": "Write into a folder that holds files sketchgloc did not write (sample-file "
                 "names among them are replaced or removed; other files are kept).",
}
_KINDS = {"sample_size": int, "dataset_id": int, "re_scale": float, "ckpt_id": int}
# absl reads "-0.3" as a flag named "0.3"; such arguments are positional numbers.
NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


class SampleError(UserError):
    """Bad arguments or inputs for sampling; the message is one line."""


class SettingsError(SampleError, UsageError):
    """A setting that cannot be run (missing, malformed or out of range); the message is one line."""


def settings_with(**overrides) -> dict:
    """DEFAULTS with some values replaced and range-checked (for callers other than the CLI)."""
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise SettingsError(f"unknown settings: {', '.join(sorted(unknown))}")
    return check_settings({**DEFAULTS, **overrides})


def define_flags(flag_values=None) -> None:
    """Register the CLI flags (only when run as a script, so that importers stay flag-free)."""
    from absl import flags

    fv = flag_values if flag_values is not None else flags.FLAGS
    define = {int: flags.DEFINE_integer, float: flags.DEFINE_float, bool: flags.DEFINE_boolean}
    for name, default in DEFAULTS.items():
        kind = type(default) if default is not None else str
        define.get(kind, flags.DEFINE_string)(name, default, HELP[name], flag_values=fv)


def _convert(name: str, text: str, kind: type):
    try:
        return kind(text)
    except ValueError:
        raise SettingsError(f"{name} must be {'an integer' if kind is int else 'a number'}, "
                            f"got {text!r}") from None


def parse_settings(argv: list, flag_values) -> dict:
    """Settings from the 6 positional arguments (original form) or the flags."""
    settings = {name: flag_values[name].value for name in DEFAULTS}
    args = argv[1:]
    if args:
        if len(args) != len(POSITIONAL):
            raise SettingsError(f"expected {len(POSITIONAL)} positional arguments "
                                f"({' '.join(POSITIONAL)}), got {len(args)}; or pass them as flags")
        clash = [n for n in POSITIONAL if flag_values[n].present]
        if clash:
            raise SettingsError(f"{', '.join(clash)} given both positionally and as flags")
        for name, text in zip(POSITIONAL, args):
            settings[name] = _convert(name, text, _KINDS[name]) if name in _KINDS else text
    return check_settings(settings)


def check_settings(settings: dict) -> dict:
    """Range checks; SettingsError naming the first bad value."""
    for name in ("sample_output", "checkpoint_path"):
        if not settings.get(name):
            raise SettingsError(f"{name} is required (6 positional arguments: "
                                f"{' '.join(POSITIONAL)}, or --{name})")
    if settings["sample_size"] < 1:
        raise SettingsError(f"sample_size must be >= 1, got {settings['sample_size']}")
    if not 0.0 <= settings["re_scale"] < float("inf"):
        raise SettingsError(f"re_scale must be >= 0, got {settings['re_scale']}")
    if settings["temperature"] <= 0:
        raise SettingsError(f"temperature must be > 0, got {settings['temperature']}")
    if settings["batch_size"] < 1:
        raise SettingsError(f"batch_size must be >= 1, got {settings['batch_size']}")
    if settings["ckpt_id"] < 0:
        raise SettingsError(f"ckpt_id must be >= 0, got {settings['ckpt_id']}")
    if settings["dataset_id"] not in (0, *hparams_lib.DATASETS):
        raise SettingsError(f"dataset_id must be 0, 1, 2 or 3, got {settings['dataset_id']}")
    return settings


def parse_flags(argv: list) -> list:
    """absl's flag parsing, keeping negative numbers as positional arguments (for app.run).

    They are set aside, absl parses the rest, and they are put back in their
    place among the positional arguments, so that check_settings names them
    ("re_scale must be >= 0, got -0.3") instead of absl's "Unknown command line flag".
    """
    from absl import flags

    fv = flags.FLAGS
    kept, negatives, positional, takes_value = [argv[0]], [], 0, False
    for k, arg in enumerate(argv[1:], 1):
        if arg == "--":
            kept.extend(argv[k:])
            break
        if takes_value:  # the value of "--flag value"
            kept.append(arg)
            takes_value = False
        elif NEGATIVE_NUMBER.match(arg):
            negatives.append((positional, arg))
            positional += 1
        else:
            kept.append(arg)
            if arg.startswith("-"):
                name = arg.lstrip("-")
                takes_value = "=" not in name and name in fv and not fv[name].boolean
            else:
                positional += 1
    rest = fv(kept)  # a flags.Error is reported by cli.absl_parse
    for index, arg in negatives:
        rest.insert(1 + index, arg)
    return rest
