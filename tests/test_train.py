"""train.py's command line: the original README's hyper-parameter block, computed caps."""
import json
import os
import subprocess
import sys

from test_hparams import readme_block

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Appended after the README's block (later keys win): a tiny, fast model on one real category.
FAST = ("categories=[pig],num_steps=2,enc_rnn_size=8,dec_rnn_size=16,z_size=8,hyper_num_units=16,"
        "hyper_embedding_size=4,batch_size=50")


def test_readme_block_trains_and_writes_the_computed_caps(real_data, tmp_path):
    """Every key of the pasted block is accepted; -1 values are computed from the data (METHOD.md §4)."""
    log_root = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "train.py", f"--log_root={log_root}", f"--data_dir={real_data}",
         f"--hparams={readme_block()},{FAST}", "--resume_training=False"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "note: de_weight=0.5 has no effect" in result.stdout
    config = json.loads((log_root / "model_config.json").read_text())
    # pig.npz as measured with the original's loader.
    assert (config["max_stroke_len"], config["max_strokes_num"]) == (57, 23)
    assert config["max_seq_len"] > 0 and config["re_scale"] == 0.3
    assert "piece_len" not in config
    assert "done: step 2" in result.stdout
