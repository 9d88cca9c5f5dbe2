"""benchmarks/device_check.sh --dry-run: the GPU machine's unattended check, end to end with tiny sizes."""
import json
import os
import subprocess

import pytest

from conftest import REPO


@pytest.mark.slow
def test_dry_run_records_every_step(tmp_path):
    # The 470 s budget is the GPU machine's window; here the suite's load sets the pace, and a
    # starved 2-core machine once ran out of it before the last step.
    env = dict(os.environ, OUT=str(tmp_path), TMPDIR=str(tmp_path), BUDGET_S="900")
    done = subprocess.run(["bash", "benchmarks/device_check.sh", "--dry-run"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=960)
    assert done.returncode == 0, done.stdout + done.stderr
    (results,) = [p for p in tmp_path.iterdir() if p.name.endswith("-dry-run.jsonl")]
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    steps = {line["step"]: line for line in lines}
    assert list(steps) == ["install", "devices", "train", "sample", "score", "bench paper 10"]
    assert steps["install"]["skipped"] == "dry run"
    assert all(line["rc"] == 0 for name, line in steps.items() if name != "install"), lines
    assert steps["devices"]["result"]["tensorflow"] and steps["devices"]["result"]["gpus"] == []
    assert steps["score"]["ret"]["num_generated"] == 2
    assert steps["devices"]["result"]["xla_while_bodies"][0]["kernels"] > 0
    variants = steps["bench paper 10"]["result"]["variants"]
    assert [v["extra"] for v in variants] == ["", "precision=mixed_bfloat16"]
    assert variants[0]["sketches_per_sec"] > 0  # the default step always runs
    assert all((v["sketches_per_sec"] or 0) > 0 or v.get("error") for v in variants)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("device_check.")]  # work dir removed


def test_unknown_argument_is_refused():
    done = subprocess.run(["bash", "benchmarks/device_check.sh", "--fast"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "usage" in done.stderr
