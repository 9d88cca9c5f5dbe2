"""README.md and docs/*.md: every command shown runs a script that exists, with flags it defines.

The flags of each script are read in one fresh interpreter (this file run as a
script): each script is executed as `__main__` with argparse's `parse_args` and
absl's `app.run` replaced by a stop, so that only its flag definitions run.
"""
import ast
import builtins
import glob
import json
import os
import re
import shlex
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")
DOCS = sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))
MAX_README_LINES = 260
PRETRAINED_COMMAND_BY_LINE = 80
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
PYTHONS = ("python", "python3", ".venv/bin/python")


def read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def code_blocks(text: str) -> list:
    """(language, body) of every fenced code block."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(text)]


def shell_lines(body: str) -> list:
    """The lines of a shell block, backslash continuations joined."""
    return [line.strip() for line in body.replace("\\\n", " ").splitlines() if line.strip()]


def command_tokens(line: str) -> list:
    """Tokens of a `python ...` or `make ...` command line (comments dropped), else []."""
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError:
        return []
    return tokens if tokens and (tokens[0] in PYTHONS or tokens[0] == "make") else []


def commands_of(path: str, inline: bool) -> list:
    """Token lists of the commands in a markdown file's shell blocks (and inline spans)."""
    text = read(path)
    lines = [line for lang, body in code_blocks(text) if lang in ("bash", "sh", "")
             for line in shell_lines(body)]
    if inline:
        outside = FENCE.sub("", text)
        lines += [span for span in INLINE.findall(outside) if span.split(" ")[0] in PYTHONS + ("make",)]
    return [t for t in map(command_tokens, lines) if t]


def all_commands() -> list:
    """(file name, tokens) of every command of the README (blocks and inline) and of docs/ blocks."""
    found = [("README.md", t) for t in commands_of(README, inline=True)]
    return found + [(os.path.basename(p), t) for p in DOCS for t in commands_of(p, inline=False)]


def target_of(tokens: list) -> str | None:
    """'path/to/script.py' or '-m package.module' for a python command; None for `-c`."""
    if tokens[1] == "-m":
        return "-m " + tokens[2]
    return None if tokens[1] == "-c" else tokens[1]


def flag_names(tokens: list) -> list:
    """Names of the `--flags` among the arguments (optional ones in brackets included)."""
    names = []
    for token in tokens[2:]:
        match = re.match(r"[\[(]*--([A-Za-z_][\w-]*)", token)
        if match:
            names.append(match.group(1))
    return names


# ---------------------------------------------------------------- the flag collector (subprocess)

def argparse_flags(parser) -> set:
    """Long option names of an argparse parser and of all its subcommands (e.g. explore.py's)."""
    import argparse

    names = set()
    for action in parser._actions:
        names.update(o[2:] for o in action.option_strings if o.startswith("--"))
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                names |= argparse_flags(sub)
    return names


def collect_flags(targets: list) -> dict:
    """{target: {"kind", "flags", "booleans"}} of each script, run as __main__ up to its parsing."""
    import argparse
    import runpy

    from absl import app, flags

    class Stop(Exception):
        pass

    seen = {}

    def stop_argparse(self, *args, **kwargs):
        seen["argparse"] = self
        raise Stop

    def stop_absl(*args, **kwargs):
        seen["absl"] = True
        raise Stop

    argparse.ArgumentParser.parse_args = stop_argparse
    argparse.ArgumentParser.parse_known_args = stop_argparse
    app.run = stop_absl
    sys.path.insert(0, REPO)
    fv = flags.FLAGS
    out = {}
    for target in targets:
        flags_before, modules_before, path_before = set(fv), set(sys.modules), list(sys.path)
        seen.clear()
        sys.argv = [target]
        try:
            if target.startswith("-m "):
                runpy.run_module(target[3:], run_name="__main__", alter_sys=True)
            else:  # as `python path/script.py` does, the script's folder comes first on sys.path
                sys.path.insert(0, os.path.dirname(os.path.join(REPO, target)))
                runpy.run_path(os.path.join(REPO, target), run_name="__main__")
        except (Stop, SystemExit):
            pass
        finally:
            sys.path[:] = path_before
        if "argparse" in seen:
            out[target] = {"kind": "argparse", "flags": sorted(argparse_flags(seen["argparse"])),
                           "booleans": []}
        elif "absl" in seen:
            out[target] = {"kind": "absl", "flags": sorted(fv),
                           "booleans": sorted(n for n in fv if fv[n].boolean)}
        else:
            out[target] = {"kind": "none", "flags": [], "booleans": []}
        # Forget this script's flags and project modules, so the next one defines its own afresh.
        for name in set(fv) - flags_before:
            delattr(fv, name)
        for name in set(sys.modules) - modules_before:
            file = os.path.abspath(getattr(sys.modules[name], "__file__", None) or os.sep)
            if file.startswith(REPO + os.sep) and "site-packages" not in file:  # .venv lives in REPO
                del sys.modules[name]
    return out


@pytest.fixture(scope="module")
def defined_flags() -> dict:
    """The collector's answer for every python script the documentation runs (one subprocess)."""
    targets = sorted({target_of(t) for _, t in all_commands() if t[0] in PYTHONS} - {None})
    for target in targets:
        path = target[3:].replace(".", os.sep) + ".py" if target.startswith("-m ") else target
        assert os.path.isfile(os.path.join(REPO, path)), f"{target}: no such script"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, os.path.abspath(__file__), *targets], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- tests

def test_commands_are_found():
    # The parser must see the commands it is meant to check (a test that finds none checks nothing).
    found = all_commands()
    assert ["make", "demo"] in [t for _, t in found]
    scripts = {target_of(t) for _, t in found if t[0] in PYTHONS}
    assert {"train.py", "sample_abs.py", "evaluate.py", "tools/export.py", "-m sketch_a_net.train",
            "tools/download_quickdraw.py"} <= scripts
    assert any(name == "TRAINING.md" for name, _ in found)


def test_every_flag_shown_is_defined_by_its_script(defined_flags):
    problems = []
    for where, tokens in all_commands():
        if tokens[0] not in PYTHONS or target_of(tokens) is None:
            continue
        target = target_of(tokens)
        known = defined_flags[target]
        if known["kind"] == "none":
            problems.append(f"{where}: {target}: no argparse or absl command line found")
            continue
        for name in flag_names(tokens):
            negated = name.startswith("no") and name[2:] in known["booleans"]
            if name not in known["flags"] and not negated:
                problems.append(f"{where}: {target} has no flag --{name} ({' '.join(tokens)})")
    assert not problems, "\n".join(problems)


def test_collector_knows_both_kinds_of_command_line(defined_flags):
    # Hand-checked definitions: train.py's absl flags (a boolean among them), export.py's argparse.
    assert defined_flags["train.py"]["kind"] == "absl"
    assert {"log_root", "hparams", "cpu_layout"} <= set(defined_flags["train.py"]["flags"])
    assert "cpu_layout" in defined_flags["train.py"]["booleans"]
    export = ["checkpoint", "ckpt_id", "help", "out", "overwrite"]
    assert defined_flags["tools/export.py"] == {"kind": "argparse", "booleans": [], "flags": export}
    # Each script's flags are its own: evaluate's --classifier is not train.py's.
    assert "classifier" not in defined_flags["train.py"]["flags"]


def test_argparse_flags_include_subcommands():
    # tools/explore.py-style command lines: `explore.py map --out ...` defines --out in a subcommand.
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--top")
    parser.add_subparsers().add_parser("map").add_argument("--out")
    assert argparse_flags(parser) == {"help", "top", "out"}


def test_every_hparams_value_shown_parses():
    import hparams

    for where, tokens in all_commands():
        for token in tokens:
            if token.startswith("--hparams="):
                value = token.split("=", 1)[1]
                try:
                    hparams.validate(hparams.parse(value))
                except hparams.HParamsError as e:
                    pytest.fail(f"{where}: {token}: {e}")


def test_every_preset_named_exists():
    import hparams

    for path in [README] + DOCS:
        for name in re.findall(r"preset=([a-z]\w*)", read(path)):
            assert name in hparams.PRESETS, f"{os.path.basename(path)}: unknown preset '{name}'"


def test_make_targets_and_variables_exist():
    makefile = read(os.path.join(REPO, "Makefile"))
    targets = set(re.findall(r"^([\w.-]+)\s*:(?!=)", makefile, re.M))
    for where, tokens in all_commands():
        if tokens[0] != "make":
            continue
        for word in tokens[1:]:
            if "=" in word:
                assert re.search(rf"^{word.split('=')[0]}\s*\??=", makefile, re.M), f"{where}: {word}"
            else:
                assert word in targets, f"{where}: make has no target '{word}'"


def test_links_point_to_existing_files():
    for path in [README] + DOCS:
        for link in LINK.findall(FENCE.sub("", read(path))):
            if re.match(r"\w+:", link) or link.startswith("#"):
                continue
            target = os.path.join(os.path.dirname(path), link.split("#")[0])
            assert os.path.exists(target), f"{os.path.basename(path)}: broken link {link}"


def test_python_snippets_define_every_name_they_use():
    # The export snippet once used `padded_stroke3` and `lengths` without defining them.
    blocks = [body for path in [README] + DOCS for lang, body in code_blocks(read(path)) if lang == "python"]
    assert blocks
    for body in blocks:
        tree = ast.parse(body)
        bound = set(dir(builtins))
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                bound.add(node.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        assert used <= bound, f"undefined in a README snippet: {sorted(used - bound)}"


def test_export_snippet_normalises_its_input():
    # Raw coordinates give wrong codes without an error: the snippet must divide by scale_factor.
    body = next(b for path in [README] + DOCS for lang, b in code_blocks(read(path))
                if lang == "python" and "encode_strokes" in b)
    assert "scale_factor" in body and re.search(r"/=\s*scale\b", body)


def test_readme_is_short_and_starts_with_the_pretrained_model():
    lines = read(README).splitlines()
    assert len(lines) <= MAX_README_LINES
    first = [i for i, line in enumerate(lines, 1)
             if re.match(r"python sample_abs\.py .*pretrained/quickdraw4", line)]
    assert first and first[0] <= PRETRAINED_COMMAND_BY_LINE


def test_the_claims_summary_is_the_committed_results():
    # The README's block is written by the study; a hand edit or a stale copy fails here.
    sys.path.insert(0, os.path.join(REPO, "tools"))
    import claims
    import reproduce

    with open(os.path.join(REPO, "results", "claims", "results.json"), encoding="utf-8") as f:
        summary = json.load(f)
    begin, end = reproduce.readme_markers("claims")
    block = read(README).split(begin + "\n", 1)[1].split(end, 1)[0]
    assert block == claims.readme_markdown(claims.CLAIMS, summary["claims"], len(summary["models"]),
                                           len(summary["runs"]), summary["encoder_choice"])


def test_pretrained_evaluation_covers_the_tables_sketches():
    # The table beside it is on all 1,000 test sketches: 250 per category of the 4.
    line = next(line for line in read(README).splitlines()
                if line.startswith("python evaluate.py") and "pretrained/quickdraw4" in line)
    assert "--sample_size 250" in line


if __name__ == "__main__":
    print(json.dumps(collect_flags(sys.argv[1:])))
