"""kill -9 soak: train, SIGKILL at seeded moments, resume each time; prints one JSON line.

A tiny `train.py --demo` run is started with a short `--checkpoint_minutes`,
killed with SIGKILL at `--kills` seeded moments (each a seeded delay after the
run's first fresh resume checkpoint, so every kill lands in training, in a
validation or in a save) and resumed with `--resume_training=True`. Checked:

* after every kill: model_config.json, losses.json and history.json (when
  present) are valid JSON;
* every resume starts from the newest checkpoint on disk at the kill, and the
  wall time lost (kill time - that checkpoint's write time) is at most one
  `--checkpoint_minutes` interval plus `--slack_s` (one training step, or one
  validation, runs between two looks at the clock);
* at the end: the run finishes (exit 0), no stale `ckpt-N_temp/` folder is
  left, and the final resume and best checkpoints load with inference.load_model.

`ok` is true when all of these hold; the exit status is 0 then, else 1.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import checkpoints  # noqa: E402  (TensorFlow-free; inference.load_model is imported late)

TINY = ("enc_rnn_size=8,dec_rnn_size=16,z_size=8,hyper_num_units=16,hyper_embedding_size=4,"
        "num_per_category=60,batch_size=20,save_every=1")
JSON_FILES = ("model_config.json", "losses.json", "history.json")
RESUMED = re.compile(r"resumed from (\S+) at step (\d+)")
TEMP = re.compile(r"ckpt-\d+_temp")


def parse_args(argv: list | None = None) -> argparse.Namespace:
    """The soak's options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=10, help="number of SIGKILLs")
    p.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    p.add_argument("--checkpoint_minutes", type=float, default=0.05, help="train.py --checkpoint_minutes")
    p.add_argument("--slack_s", type=float, default=5.0,
                   help="allowed loss beyond one interval: one step or one validation between clock checks")
    p.add_argument("--cycle_timeout_s", type=float, default=240.0, help="give up on a run after this long")
    p.add_argument("--log_root", default=None, help="run folder (default: a temporary one, removed after)")
    return p.parse_args(argv)


def command(log_root: str, minutes: float, num_steps: int) -> list:
    """The train.py command line of every run of the soak."""
    return [sys.executable, os.path.join(REPO, "train.py"), "--demo", f"--log_root={log_root}",
            "--resume_training=True", f"--checkpoint_minutes={minutes}",
            f"--hparams={TINY},num_steps={num_steps}"]


def resume_files(log_root: str) -> dict:
    """{prefix: mtime of its .index} of every resume candidate on disk now."""
    out = {}
    for prefix in checkpoints.resume_candidates(log_root):
        try:
            out[prefix] = os.path.getmtime(prefix + ".index")
        except OSError:  # deleted by the manager between listing and stat
            pass
    return out


def newest(files: dict) -> str | None:
    """The newest prefix of resume_files() (resume_candidates' order)."""
    return next(iter(files), None)


def temp_folders(log_root: str) -> list:
    """ckpt-N_temp folders in the run's folders."""
    found = []
    for folder in (log_root, os.path.join(log_root, checkpoints.RESUME_DIR)):
        if os.path.isdir(folder):
            found += [os.path.join(folder, n) for n in os.listdir(folder) if TEMP.fullmatch(n)]
    return found


def json_problems(log_root: str) -> list:
    """'name: error' for each run JSON file that exists and does not parse."""
    problems = []
    for name in JSON_FILES:
        path = os.path.join(log_root, name)
        if os.path.exists(path):
            try:
                with open(path) as f:
                    json.load(f)
            except ValueError as err:
                problems.append(f"{name}: {err}")
    if not os.path.exists(os.path.join(log_root, "model_config.json")):
        problems.append("model_config.json: missing")
    return problems


def kill_once(args, log_root: str, log_path: str, delay: float) -> dict:
    """Start a run, wait for its first fresh resume checkpoint, wait `delay` s, SIGKILL it."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command(log_root, args.checkpoint_minutes, 10 ** 7), cwd=REPO,
                                stdout=log, stderr=subprocess.STDOUT)
    before = resume_files(log_root)
    deadline = time.time() + args.cycle_timeout_s
    while time.time() < deadline and proc.poll() is None:
        now = resume_files(log_root)
        fresh = newest(now)
        if fresh and now[fresh] != before.get(fresh):
            break
        time.sleep(0.05)
    else:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"run exited or wrote no checkpoint in time; see {log_path}")
    time.sleep(delay)
    alive = proc.poll() is None
    kill_time = time.time()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return {"kill_time": kill_time, "alive": alive, "on_disk": resume_files(log_root),
            "temp_folders": len(temp_folders(log_root)), "json_problems": json_problems(log_root)}


def resumed_from(log_path: str) -> tuple:
    """(prefix, step) of the 'resumed from' line of a run's output."""
    with open(log_path, errors="replace") as f:
        match = RESUMED.search(f.read())
    return (match.group(1), int(match.group(2))) if match else (None, None)


def final_run(args, log_root: str, log_path: str, num_steps: int) -> int:
    """Resume once more and let the run finish; its exit status."""
    with open(log_path, "w") as log:
        return subprocess.run(command(log_root, args.checkpoint_minutes, num_steps), cwd=REPO, stdout=log,
                              stderr=subprocess.STDOUT, timeout=args.cycle_timeout_s).returncode


def loads(log_root: str) -> list:
    """Problems restoring the final resume and best checkpoints with inference.load_model."""
    import inference  # TensorFlow only now

    problems = []
    resume = checkpoints.list_checkpoints(os.path.join(log_root, checkpoints.RESUME_DIR))
    for target in ([resume[0]] if resume else []) + [log_root]:
        try:
            inference.load_model(target)
        except checkpoints.CheckpointError as err:
            problems.append(str(err))
    if not resume:
        problems.append("no resume checkpoint")
    return problems


def soak(args) -> dict:
    """Run the soak in args.log_root; the result dict."""
    log_root, interval = args.log_root, 60.0 * args.checkpoint_minutes
    rng = np.random.default_rng(args.seed)
    delays = rng.uniform(0.0, 2.0 * interval, size=args.kills)
    logs = [os.path.join(log_root + "_logs", f"run_{i}.log") for i in range(args.kills + 1)]
    os.makedirs(log_root + "_logs", exist_ok=True)
    kills = [kill_once(args, log_root, logs[i], float(d)) for i, d in enumerate(delays)]
    last_newest = newest(kills[-1]["on_disk"])
    last_step = int(last_newest.rsplit("-", 1)[1]) if last_newest else 0
    final_step = last_step + 3
    rc = final_run(args, log_root, logs[-1], final_step)
    lost, not_newest, problems = [], 0, []
    for i, kill in enumerate(kills):
        prefix, _ = resumed_from(logs[i + 1])
        if prefix is None or prefix not in kill["on_disk"]:
            problems.append(f"run {i + 1} did not resume from a checkpoint on disk at kill {i + 1}")
            continue
        not_newest += prefix != newest(kill["on_disk"])
        lost.append(kill["kill_time"] - kill["on_disk"][prefix])
        problems += [f"after kill {i + 1}: {p}" for p in kill["json_problems"]]
    too_much = [round(s, 2) for s in lost if s > interval + args.slack_s]
    if too_much:
        problems.append(f"lost more than {interval:.1f} s + {args.slack_s} s: {too_much}")
    if not all(k["alive"] for k in kills):
        problems.append("a run had already exited when it was to be killed")
    if rc != 0:
        problems.append(f"final run exited {rc}; see {logs[-1]}")
    if temp_folders(log_root):
        problems.append(f"stale temp folders left: {temp_folders(log_root)}")
    problems += loads(log_root) if rc == 0 else []
    return {"kills": args.kills, "seed": args.seed, "checkpoint_minutes": args.checkpoint_minutes,
            "interval_s": interval, "slack_s": args.slack_s,
            "lost_s": [round(s, 2) for s in lost], "max_lost_s": round(max(lost), 2) if lost else None,
            "killed_alive": sum(k["alive"] for k in kills),
            "temp_folders_at_kills": sum(k["temp_folders"] for k in kills),
            "resumed_from_older": not_newest, "final_rc": rc, "final_step": final_step,
            "problems": problems, "ok": not problems}


def main(argv: list | None = None) -> int:
    """Print the soak's JSON line; 0 when ok."""
    args = parse_args(argv)
    own = args.log_root is None
    if own:
        args.log_root = os.path.join(tempfile.mkdtemp(prefix="soak_kill_"), "run")
    start = time.time()
    try:
        result = soak(args)
    finally:
        if own:
            shutil.rmtree(os.path.dirname(args.log_root), ignore_errors=True)
    result["wall_s"] = round(time.time() - start, 1)
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
