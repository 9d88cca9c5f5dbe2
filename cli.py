"""The command-line convention of every entry point, in one place.

`--help` prints the command's flags and exits 0; a command line that cannot be
run (an unknown flag, a bad value, a missing required flag) prints one
`error: ...` line on stderr and exits 2; a warning for the user is one
`warning: ...` line. absl scripts run through `run_absl`, argparse scripts
build their parser with `ArgumentParser`. absl is imported only when used.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any, Callable, NoReturn

import errors

# Every spelling of "help" that absl (and argparse) accept.
HELP_ARGS = ("-h", "--help", "-help", "--helpshort", "-helpshort", "--helpfull", "-helpfull", "-?")


def format_warning(message: Any, category: type, filename: str, lineno: int, line: str | None = None) -> str:
    """A warning as one line, without Python's source line: `warning: ...` for the user's warnings."""
    if issubclass(category, UserWarning):
        return f"warning: {message}\n"
    return f"warning: {category.__name__}: {message} ({filename}:{lineno})\n"


def plain_warnings() -> None:
    """Print every warning as `format_warning` does (the source line means nothing to a user)."""
    warnings.formatwarning = format_warning


def usage_error(message: str) -> NoReturn:
    """Report a command line that cannot be run: one `error:` line, exit 2."""
    errors.report(errors.UsageError(" ".join(message.split()) + " (see --help)"))


def wants_help(argv: list) -> bool:
    """Whether the command line asks for help (before any `--` that ends the flags)."""
    for arg in argv[1:]:
        if arg == "--":
            return False
        if arg in HELP_ARGS or arg.split("=", 1)[0] in ("--help", "-help"):
            return True
    return False


def absl_help(fv, doc: str = "") -> str:
    """The command's description and every flag it defines (absl's own flags left out)."""
    parts = [doc.strip()] if doc and doc.strip() else []
    for module, module_flags in sorted(fv.flags_by_module_dict().items()):
        if module.startswith("absl") or not module_flags:
            continue
        parts.append("flags:\n" + "\n".join(flag_help(flag) for flag in sorted(module_flags,
                                                                                 key=lambda f: f.name)))
    return "\n\n".join(parts) + "\n"


def flag_help(flag) -> str:
    """One flag: `--name: help (default: value)`."""
    default = flag.default_as_str or "none"
    return f"  --{flag.name}: {' '.join(str(flag.help).split())} (default: {default})"


def absl_parse(argv: list, fv=None, parse: Callable[[list], list] | None = None, doc: str = "") -> list:
    """absl flag parsing under the convention (a flags_parser for absl's app.run).

    `parse` replaces the plain `fv(argv)` (sample_abs keeps negative numbers positional).
    """
    from absl import flags

    fv = flags.FLAGS if fv is None else fv
    if wants_help(argv):
        sys.stdout.write(absl_help(fv, doc))
        sys.stdout.flush()
        sys.exit(0)
    try:
        return parse(argv) if parse is not None else fv(argv)
    except flags.Error as err:
        usage_error("; ".join(line.strip() for line in str(err).splitlines() if line.strip()))


def run_absl(main: Callable[[list], Any], parse: Callable[[list], list] | None = None) -> None:
    """absl's app.run(main) with `absl_parse` as its flag parser and plain warnings."""
    from absl import app

    doc = getattr(sys.modules.get("__main__"), "__doc__", None) or ""
    plain_warnings()
    app.run(main, flags_parser=lambda argv: absl_parse(argv, parse=parse, doc=doc))


class ArgumentParser(argparse.ArgumentParser):
    """argparse under the convention: a bad command line is one `error:` line and exit 2."""

    def error(self, message: str) -> NoReturn:
        """Report a command line that cannot be run (argparse would print its usage first)."""
        usage_error(message)

    def parse_known_args(self, args=None, namespace=None):
        """argparse's parsing; warnings print as one line from here on (the command has started)."""
        plain_warnings()
        return super().parse_known_args(args, namespace)


def folder_problem(folder: str) -> str | None:
    """Why `folder` cannot be used for new files (None when it can), creating nothing; names no `folder`.

    A missing folder is judged by its nearest existing ancestor: it must be a folder in
    which a folder can really be made (a probe, removed at once: os.access says yes to
    root on read-only mounts, and /proc refuses only when asked).
    """
    import os
    import tempfile

    path = os.path.abspath(folder)
    if os.path.isdir(path):
        base = path
    else:
        base = path
        while not os.path.lexists(base):
            base = os.path.dirname(base)
        if not os.path.isdir(base):
            kind = "a file" if os.path.isfile(base) else "not a folder"
            return f"{base} is {kind}, not a folder"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".sketchgloc-probe-", dir=base))
    except OSError as err:
        return f"cannot write in {base} ({err.strerror or type(err).__name__})"
    return None
