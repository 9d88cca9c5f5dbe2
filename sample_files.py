"""The names of the files in a sample folder and in an evaluation folder, defined once.

sample_abs.py writes a sample folder; retrieval.py, sketch_a_net.evaluate and
evaluate.py read it and add their results. Per generated sketch (c = category
index, i = sample index): `<c>_<i>.svg`, `<c>_<i>.png`, `code_<c>_<i>.npy`
(code of the undisturbed original) and `s_<c>_<i>.npy` (the generated absolute
5-D sequence); per category `overview_<c>.png`; per folder `sample_meta.json`,
`ret.json` (Ret) and `rec.json` (Rec). evaluate.py writes one sample folder
`re_scale_<r>` per setting and `results.json` / `results.md` beside them, by
default in `<log_root>/evaluation`. Standard library only.
"""
from __future__ import annotations

import glob
import os
import re

META_NAME = "sample_meta.json"
RET_NAME = "ret.json"
REC_NAME = "rec.json"
RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
EVALUATION_DIR = "evaluation"

SEQ_RE = re.compile(r"^s_(\d+)_(\d+)\.npy$")
CODE_RE = re.compile(r"^code_(\d+)_(\d+)\.npy$")
# Every file name sample_abs.py, retrieval.py or Rec writes into a sample folder.
OUTPUT_RE = re.compile(r"^((s_|code_)\d+_\d+\.npy|\d+_\d+\.(svg|png)|overview_\d+\.png|"
                       r"(sample_meta|ret|rec)\.json)$")


def seq_name(c: int, i: int) -> str:
    """The generated sequence of sketch i of category c."""
    return f"s_{c}_{i}.npy"


def code_name(c: int, i: int) -> str:
    """The code of the original of sketch i of category c."""
    return f"code_{c}_{i}.npy"


def image_names(c: int, i: int) -> tuple:
    """(SVG, PNG) drawings of sketch i of category c."""
    return f"{c}_{i}.svg", f"{c}_{i}.png"


def overview_name(c: int) -> str:
    """The side-by-side picture of category c."""
    return f"overview_{c}.png"


def planned_files(counts: list) -> set:
    """Names of the files a sampling run writes, for `counts[c]` sketches of category c."""
    names = {META_NAME}
    for c, n in enumerate(counts):
        names.add(overview_name(c))
        for i in range(n):
            names.update({*image_names(c, i), seq_name(c, i), code_name(c, i)})
    return names


def setting_folder(out: str, re_scale: float) -> str:
    """evaluate.py's sample folder of one re_scale setting inside `out`."""
    return os.path.join(out, f"re_scale_{re_scale:g}")


def _indexed(folder: str, pattern: re.Pattern, glob_pattern: str) -> dict:
    """{(c, i): path} of the files in folder whose name matches pattern."""
    found = {}
    for path in glob.glob(os.path.join(glob.escape(folder), glob_pattern)):
        m = pattern.match(os.path.basename(path))
        if m:
            found[(int(m.group(1)), int(m.group(2)))] = path
    return found


def seq_files(folder: str) -> dict:
    """{(c, i): path} of the folder's generated sequences `s_<c>_<i>.npy` (none: {})."""
    return _indexed(folder, SEQ_RE, "s_*.npy")


def code_files(folder: str) -> dict:
    """{(c, i): path} of the folder's original codes `code_<c>_<i>.npy` (none: {})."""
    return _indexed(folder, CODE_RE, "code_*.npy")
