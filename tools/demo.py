"""`make demo`: train on the built-in dataset, train the classifier, print the Rec/Ret table.

Each stage is the command a user would type; a stage whose output already
exists is skipped (model training resumes, which ends at once when done).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # the project's modules, when run as `python tools/<name>.py`

import cli  # noqa: E402
import demo_data  # noqa: E402


def stage(title: str, command: list[str]) -> None:
    """Run one command, echoing it; stop the demo if it fails."""
    print(f"\n=== {title}\n$ {' '.join(command)}", flush=True)
    start = time.perf_counter()
    if subprocess.call(command, cwd=REPO) != 0:
        sys.exit(f"demo stopped: '{title}' failed")
    print(f"=== {title}: {time.perf_counter() - start:.0f} s", flush=True)


def main() -> None:
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo_run")
    parser.add_argument("--sample_size", type=int, default=50)
    args = parser.parse_args()
    py = sys.executable
    model_dir, clf_dir = os.path.join(args.out, "model"), os.path.join(args.out, "classifier")
    data_dir, categories = demo_data.ensure_demo_dataset()
    resume = os.path.exists(os.path.join(model_dir, "model_config.json"))
    stage("train SketchGloc (small preset, encoder 128, demo data)",
          [py, "train.py", "--demo", f"--log_root={model_dir}", f"--resume_training={resume}"])
    if not os.path.exists(os.path.join(clf_dir, "classifier.json")):
        stage("train the Sketch-a-Net classifier (Rec)",
              [py, "-m", "sketch_a_net.train", f"--data_dir={data_dir}",
               f"--categories={','.join(categories)}", f"--out={clf_dir}", "--epochs=4"])
    stage("generate at re_scale 0, 0.1, 0.3 and evaluate",
          [py, "evaluate.py", f"--checkpoint={model_dir}", f"--classifier={clf_dir}", "--demo",
           f"--sample_size={args.sample_size}", f"--out={os.path.join(args.out, 'evaluation')}"])
    print(f"\nsamples, overviews and results.md are in {os.path.join(args.out, 'evaluation')}")


if __name__ == "__main__":
    main()
