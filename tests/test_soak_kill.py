"""benchmarks/soak_kill.py with 2 kill moments: files stay valid, resumes lose at most one interval.

The one kill -9 test of train.py: every resume starts from the newest checkpoint on disk.
"""
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_soak_two_kills(tmp_path):
    proc = subprocess.run(
        [sys.executable, "benchmarks/soak_kill.py", "--kills", "2", "--seed", "3",
         "--checkpoint_minutes", "0.05", "--log_root", str(tmp_path / "run")],
        cwd=REPO, capture_output=True, text=True, timeout=240)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout + proc.stderr
    result = json.loads(lines[0])
    assert result["ok"] and proc.returncode == 0, result
    assert result["killed_alive"] == 2 and len(result["lost_s"]) == 2 and result["final_rc"] == 0
    assert 0 <= result["max_lost_s"] <= result["interval_s"] + result["slack_s"]
    # The run folder holds the finished run: valid JSON everywhere, a final checkpoint.
    for name in ("model_config.json", "losses.json", "history.json"):
        json.load(open(tmp_path / "run" / name))
    # The last resume continued the step counter to the end (it did not start over).
    assert json.load(open(tmp_path / "run" / "history.json"))["step"] == result["final_step"]
    assert os.path.exists(tmp_path / "run" / "resume" / "checkpoint")
