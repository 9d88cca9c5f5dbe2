"""cli.py: --help exits 0 and lists the flags, a bad command line is one `error:` line and exit 2,
for every entry point (absl scripts through cli.absl_parse, argparse ones through cli.ArgumentParser)."""
import os
import subprocess
import sys
import warnings

import pytest
from absl import flags

import cli
import demo_data
import evaluate
import graph_builder
from sketch_a_net import train as classifier_train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def exit_code(call) -> int:
    with pytest.raises(SystemExit) as info:
        call()
    return info.value.code


def one_error_line(capsys, *parts) -> str:
    """The one `error:` line on stderr (nothing else), holding every part."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    for part in parts:
        assert part in err, err
    return err.strip()


# ---- the absl parser, in-process on a private FlagValues -------------------------------------

def own_flags() -> flags.FlagValues:
    fv = flags.FlagValues()
    flags.DEFINE_enum("strategy", "default", ["default", "mirrored"], "how to run", flag_values=fv)
    flags.DEFINE_integer("steps", 3, "steps to take", flag_values=fv)
    flags.DEFINE_string("out", None, "output folder", flag_values=fv)
    flags.mark_flag_as_required("out", flag_values=fv)
    return fv


@pytest.mark.parametrize("arg", ["--help", "-h", "--helpfull", "--helpshort", "-?", "--help=true"])
def test_absl_help_exits_0_listing_every_flag(arg, capsys):
    argv = ["prog", "--steps=x", arg]  # help wins over a bad value
    assert exit_code(lambda: cli.absl_parse(argv, own_flags(), doc="Does a thing.")) == 0
    out = capsys.readouterr().out
    assert out.startswith("Does a thing.\n")
    for line in ("--out: output folder (default: none)", "--steps: steps to take (default: '3')",
                 "--strategy: <default|mirrored>: how to run"):
        assert line in out
    assert "--helpxml" not in out and "--only_check_args" not in out  # absl's own flags stay out


@pytest.mark.parametrize("argv, parts", [
    (["prog", "--out=o", "--bogus"], ["Unknown command line flag 'bogus'"]),
    (["prog", "--out=o", "--strategy=x"], ["--strategy=x", "default|mirrored"]),
    (["prog", "--out=o", "--steps=many"], ["--steps", "many"]),
    (["prog"], ["--out"]),  # a required flag missing
])
def test_absl_bad_command_line_is_one_error_line_and_exit_2(argv, parts, capsys):
    assert exit_code(lambda: cli.absl_parse(argv, own_flags())) == 2
    assert one_error_line(capsys, *parts).endswith("(see --help)")


def test_absl_parse_returns_the_positional_arguments_and_honours_a_custom_parser():
    fv = own_flags()
    assert cli.absl_parse(["prog", "a", "--out=o", "--", "--help"], fv) == ["prog", "a", "--help"]
    assert fv.out == "o"
    assert cli.absl_parse(["prog", "x"], own_flags(), parse=lambda argv: ["custom"]) == ["custom"]


def test_warnings_print_as_one_line_without_the_source():
    class DataWarning(UserWarning):
        pass
    text = cli.format_warning("data.npz: dropped 2 sketches", DataWarning, "/x/utils.py", 7, "source()")
    assert text == "warning: data.npz: dropped 2 sketches\n"
    assert "source()" not in cli.format_warning("old", DeprecationWarning, "f.py", 3, "source()")
    saved = warnings.formatwarning
    try:
        cli.plain_warnings()  # what Python's default showwarning prints from now on
        assert warnings.formatwarning("x.npz: clipped", DataWarning, "u.py", 1) == "warning: x.npz: clipped\n"
    finally:
        warnings.formatwarning = saved


# ---- every entry point ------------------------------------------------------------------------

# absl scripts that start without TensorFlow: one process each for --help and a bad flag.
ABSL_SCRIPTS = {"train.py": "--log_root", "sample_abs.py": "--temperature", "evaluate.py": "--classifier",
                "retrieval.py": "--ckpt_id"}


@pytest.mark.parametrize("script, flag", sorted(ABSL_SCRIPTS.items()))
def test_absl_scripts_help_and_bad_flag(script, flag):
    run = [sys.executable, os.path.join(REPO, script)]
    proc = subprocess.run(run + ["--help"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0 and f"  {flag}: " in proc.stdout and proc.stderr == "", proc.stderr
    proc = subprocess.run(run + ["--no_such_flag=1"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == "error: Unknown command line flag 'no_such_flag' (see --help)\n"


def test_train_bad_strategy_is_exit_2():
    proc = subprocess.run([sys.executable, "train.py", "--strategy=gpu"], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: flag --strategy=gpu: value should be")
    assert proc.stderr.count("\n") == 1


def test_classifier_evaluation_help_and_missing_classifier(capsys):
    from sketch_a_net import evaluate as rec_evaluate
    fv = flags.FlagValues()
    rec_evaluate.define_flags(fv)
    assert exit_code(lambda: cli.absl_parse(["m", "--help"], fv)) == 0
    assert "  --classifier: " in capsys.readouterr().out
    assert exit_code(lambda: cli.absl_parse(["m", "samples"], fv)) == 2
    one_error_line(capsys, "--classifier")


def classifier_flags() -> flags.FlagValues:
    fv = flags.FlagValues()
    classifier_train.define_flags(fv)
    return fv


def test_classifier_training_help_and_missing_flags(capsys):
    assert exit_code(lambda: cli.absl_parse(["m", "--help"], classifier_flags())) == 0
    out = capsys.readouterr().out
    assert "  --width_multiplier: " in out and "  --out: " in out
    assert exit_code(lambda: cli.absl_parse(["m", "--data_dir=d", "--categories=a"], classifier_flags())) == 2
    one_error_line(capsys, "--out")


@pytest.mark.parametrize("arg, name", [("--width_multiplier=-1", "width_multiplier"),
                                       ("--width_multiplier=nan", "width_multiplier"),
                                       ("--width_multiplier=1000", "width_multiplier"),
                                       ("--learning_rate=nan", "learning_rate"),
                                       ("--learning_rate=0", "learning_rate"), ("--epochs=0", "epochs")])
def test_classifier_training_refuses_bad_numbers(arg, name, capsys, tmp_path):
    argv = ["m", "--data_dir=d", "--categories=a", f"--out={tmp_path / 'out'}", arg]
    assert exit_code(lambda: cli.absl_parse(argv, classifier_flags())) == 2
    one_error_line(capsys, f"--{name}")
    assert not os.path.exists(tmp_path / "out")


@pytest.mark.parametrize("arg, message", [("--batch_size=0", "--batch_size must be >= 1, got 0"),
                                          ("--temperature=0", "--temperature must be a finite number > 0"),
                                          ("--temperature=nan", "--temperature must be a finite number > 0"),
                                          ("--ckpt_id=-2", "--ckpt_id must be >= 0")])
def test_evaluate_refuses_bad_numbers_before_reading_anything(arg, message, capsys, tmp_path):
    fv = flags.FlagValues()
    evaluate.define_flags(fv)
    argv = cli.absl_parse(["evaluate.py", f"--checkpoint={tmp_path}", f"--classifier={tmp_path}", arg], fv)
    assert exit_code(lambda: evaluate.main(argv, fv)) == 2
    assert one_error_line(capsys, message).startswith(f"error: {message}")
    assert os.listdir(tmp_path) == []


def tool(name):
    sys.path.insert(0, os.path.join(REPO, "tools"))
    import importlib
    return importlib.import_module(name)


# argparse entry points, in-process: (main, a flag its --help lists).
def argparse_mains():
    return {"graph_builder": (graph_builder.main, "--max_stroke_len"),
            "demo_data": (demo_data.main, "--out"),
            "convert_quickdraw": (tool("convert_quickdraw").main, "--out_dir"),
            "download_quickdraw": (tool("download_quickdraw").main, "--base_url"),
            "export": (tool("export").main, "--checkpoint"),
            "pack_pretrained": (tool("pack_pretrained").main, "--classifier"),
            "reproduce": (tool("reproduce").main, "--study")}


@pytest.mark.parametrize("name", ["graph_builder", "demo_data", "convert_quickdraw", "download_quickdraw",
                                  "export", "pack_pretrained", "reproduce"])
def test_argparse_entry_points_help_and_bad_flag(name, capsys):
    main, flag = argparse_mains()[name]
    assert exit_code(lambda: main(["--help"])) == 0
    assert flag in capsys.readouterr().out
    assert exit_code(lambda: main(["--no_such_flag"])) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and lines[0].endswith("(see --help)"), err
    assert "usage:" not in err


def test_tools_demo_uses_the_convention(monkeypatch, capsys):
    demo = tool("demo")
    monkeypatch.setattr(sys, "argv", ["demo.py", "--no_such_flag"])
    assert exit_code(demo.main) == 2
    assert capsys.readouterr().err.startswith("error: unrecognized arguments: --no_such_flag")


def test_data_warnings_print_as_one_line_in_a_real_command(tmp_path):
    from conftest import obj_array, sketch, write_npz
    # Two too-short sketches (a warning) and an empty validation split (an error before TensorFlow).
    write_npz(tmp_path / "cat.npz", train=obj_array([sketch(8), sketch(1), sketch(1, 2), sketch(9)]),
              valid=obj_array([sketch(1, 3)]))
    command = [sys.executable, "train.py", f"--data_dir={tmp_path}", f"--log_root={tmp_path / 'run'}",
               "--hparams=categories=[cat]"]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == (f"warning: {tmp_path / 'cat.npz'}, split 'train': dropped 2 sketches with fewer "
                        "than 2 points (sketches 1, 2)")
    assert all(line.startswith(("warning: ", "error: ")) for line in lines), proc.stderr
