"""retrieval.py: hand-worked ranks, ties, blocks vs a brute-force sort, file handling, CLI errors."""
import os
import subprocess
import sys

import numpy as np
import pytest

import fileio
import retrieval

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_hand_worked_ranks():
    orig = np.array([[0, 0], [1, 0], [0, 3], [5, 5]], np.float32)
    gen = np.array([[0.9, 0], [0.4, 0], [0, 1], [2, 2]], np.float32)
    own = np.array([1, 0, 2, 3])
    # gen [0,1] is nearer to [0,0] (1) and [1,0] (2) than to its own [0,3] (4): rank 2.
    # gen [2,2]: [1,0] and [0,3] at 5, [0,0] at 8, its own [5,5] at 18: rank 3.
    np.testing.assert_array_equal(retrieval.own_ranks(gen, orig, own), [0, 0, 2, 3])
    assert retrieval.topk_retrieval(gen, orig, ks=(1, 2, 3, 4), own=own) == {1: 0.5, 2: 0.5, 3: 0.75, 4: 1.0}


def test_default_pairing_is_row_to_row():
    orig = np.array([[0.0], [10.0], [20.0]])
    gen = np.array([[1.0], [14.0], [16.0]])
    assert retrieval.topk_retrieval(gen, orig, ks=(1,)) == {1: 1.0}
    # Reversed, 16 pairs with 0 (rank 2), 14 with 10 (rank 0), 1 with 20 (rank 2).
    np.testing.assert_array_equal(retrieval.own_ranks(gen[::-1], orig), [2, 0, 2])
    assert retrieval.topk_retrieval(gen[::-1], orig, ks=(1, 3)) == {1: pytest.approx(1 / 3), 3: 1.0}


def test_ties_rank_like_a_stable_sort():
    orig = np.array([[1, 0], [-1, 0], [0, 1], [0, 1]], np.float32)
    gen = np.zeros((3, 2), np.float32)  # equally far from everything
    np.testing.assert_array_equal(retrieval.own_ranks(gen, orig, np.array([0, 1, 3])), [0, 1, 3])
    dup = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(retrieval.own_ranks(dup, dup), [0, 1])


def test_blocks_match_a_brute_force_sort(monkeypatch):
    rng = np.random.default_rng(0)
    orig = rng.normal(size=(700, 16)).astype(np.float32) + 3.0  # offset: centring must cope
    own = rng.permutation(700)[:300]
    gen = orig[own] + rng.normal(scale=1.2, size=(300, 16)).astype(np.float32)
    d = ((gen[:, None, :].astype(np.float64) - orig[None].astype(np.float64)) ** 2).mean(-1)
    order = np.argsort(d, axis=1, kind="stable")
    expected = np.argmax(order == own[:, None], axis=1)
    monkeypatch.setattr(retrieval, "BLOCK_BYTES", 4 * 700 * 7)  # 7 rows per block
    ranks = retrieval.own_ranks(gen, orig, own)
    np.testing.assert_array_equal(ranks, expected)
    assert 0 < np.mean(ranks == 0) < 1  # the example is neither trivial nor hopeless
    top = retrieval.topk_retrieval(gen, orig, own=own)
    assert top == {k: float(np.mean(expected < k)) for k in (1, 10, 50)}


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        retrieval.own_ranks(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError):
        retrieval.own_ranks(np.zeros((2, 3)), np.zeros((2, 3)), np.array([0, 2]))
    with pytest.raises(ValueError):
        retrieval.topk_retrieval(np.zeros((0, 3)), np.zeros((2, 3)))


def test_chance_levels():
    assert retrieval.chance_levels(20) == {1: 0.05, 10: 0.5, 50: 1.0}


def save_pair(folder, c, i, code, seq=None):
    np.save(os.path.join(folder, f"code_{c}_{i}.npy"), np.asarray(code, np.float32))
    if seq is not None:
        np.save(os.path.join(folder, f"s_{c}_{i}.npy"), np.asarray(seq, np.float32))


def test_files_are_paired_by_category_and_index(tmp_path):
    seq = np.array([[0, 0, 1, 0, 0], [1, 1, 0, 1, 0], [0, 0, 0, 0, 1]])
    for c, i in [(1, 10), (0, 2), (1, 9)]:
        save_pair(tmp_path, c, i, [c, i], seq)
    save_pair(tmp_path, 0, 0, [0, 0])  # an original without a generation is a distractor
    np.save(tmp_path / "s_x_1.npy", seq)  # not a sample name: ignored
    code_keys, _, seq_keys, seq_paths = retrieval.find_files(str(tmp_path))
    assert code_keys == [(0, 0), (0, 2), (1, 9), (1, 10)]
    assert seq_keys == [(0, 2), (1, 9), (1, 10)]
    assert [os.path.basename(p) for p in seq_paths] == ["s_0_2.npy", "s_1_9.npy", "s_1_10.npy"]
    np.save(tmp_path / "s_3_3.npy", seq)
    with pytest.raises(retrieval.RetrievalError, match="s_3_3.npy without code_3_3.npy"):
        retrieval.find_files(str(tmp_path))


def test_load_sketches_converts_and_keeps_empty_generations_encodable(tmp_path):
    seq = np.array([[1, 2, 1, 0, 0], [3, 2, 0, 1, 0], [4, 4, 0, 0, 1]], np.float32)
    np.save(tmp_path / "a.npy", seq)
    np.save(tmp_path / "b.npy", np.array([[0, 0, 0, 0, 1]], np.float32))
    a, b = retrieval.load_sketches([str(tmp_path / "a.npy"), str(tmp_path / "b.npy")], max_seq_len=10)
    np.testing.assert_allclose(a, [[1, 2, 0], [2, 0, 1]])  # absolute -> stroke-3, cut at the end
    np.testing.assert_allclose(b, [[0, 0, 1]])
    with pytest.raises(retrieval.RetrievalError, match="code of size 2"):
        save_pair(tmp_path, 0, 0, [1, 2])
        retrieval.load_codes([str(tmp_path / "code_0_0.npy")], z_size=8)


def no_config(folder) -> str:
    return f"error: {folder}: no model_config.json (not a training --log_root folder)"


def run_cli(*args):
    return subprocess.run([sys.executable, os.path.join(REPO, "retrieval.py"), *args],
                          capture_output=True, text=True, cwd=REPO, timeout=60)


def test_cli_errors_are_one_line(tmp_path):
    proc = run_cli(str(tmp_path))
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "expected 2 positional arguments" in proc.stderr

    proc = run_cli(str(tmp_path), str(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"error: {tmp_path}: no original codes code_<c>_<i>.npy "
                                   "(write them with sample_abs.py)")

    save_pair(tmp_path, 0, 0, [1, 2], [[0, 0, 0, 0, 1]])
    proc = run_cli(str(tmp_path), str(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.strip() == no_config(tmp_path)


# ---- issue 21: bad numbers never improve a rank ---------------------------------------------

PRETRAINED = os.path.join(REPO, "pretrained", "quickdraw4")
SEQ = np.array([[0, 0, 1, 0, 0], [1, 1, 0, 1, 0], [0, 0, 0, 0, 1]], np.float32)


class LookupEncoder:
    """Stands in for the model: sketch k -> gen[k]; a sketch holding NaN gets a NaN code, as the model's."""

    checkpoint = "lookup"

    def __init__(self, gen):
        self.gen = np.asarray(gen, np.float32)

    def encode(self, sketches, batch_size):
        return np.array([g if np.isfinite(s).all() else np.full_like(g, np.nan)
                         for g, s in zip(self.gen, sketches)])


def hand_made_samples(folder, n=3):
    """n originals and generations whose codes are each nearest another sketch's original (Top-1 0)."""
    import provenance
    from checkpoints import load_config

    z = load_config(PRETRAINED)[0].z_size
    orig = np.eye(n, z, dtype=np.float32) * 5
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        save_pair(folder, 0, i, orig[i], SEQ)
    fileio.write_json(os.path.join(folder, "sample_meta.json"), provenance.checkpoint_provenance(PRETRAINED))
    return LookupEncoder(np.roll(orig, 1, axis=0))


def test_nan_in_one_code_or_sequence_is_an_error_not_a_perfect_score(tmp_path):
    folder = str(tmp_path / "s")
    encoder = hand_made_samples(folder)
    assert retrieval.run(folder, PRETRAINED, encoder=encoder, verbose=False)["top_1"] == 0.0
    os.remove(os.path.join(folder, "ret.json"))
    bad = np.load(os.path.join(folder, "code_0_1.npy"))
    bad[2] = np.nan
    np.save(os.path.join(folder, "code_0_1.npy"), bad)
    with pytest.raises(retrieval.RetrievalError, match=r"code_0_1.npy: code holds non-numeric, NaN or Inf"):
        retrieval.run(folder, PRETRAINED, encoder=encoder, verbose=False)
    assert not os.path.exists(os.path.join(folder, "ret.json"))

    folder = str(tmp_path / "t")
    encoder = hand_made_samples(folder)
    seq = SEQ.copy()
    seq[1, 0] = np.inf
    np.save(os.path.join(folder, "s_0_2.npy"), seq)
    with pytest.raises(retrieval.RetrievalError, match=r"s_0_2.npy: sequence holds non-numeric, NaN or Inf"):
        retrieval.run(folder, PRETRAINED, encoder=encoder, verbose=False)
    # A NaN code from the model itself (finite input) names the generated sketch.
    encoder.gen[1] = np.nan
    np.save(os.path.join(folder, "s_0_2.npy"), SEQ)
    with pytest.raises(retrieval.RetrievalError, match=r"s_0_1.npy: its code is NaN or Inf"):
        retrieval.run(folder, PRETRAINED, encoder=encoder, verbose=False)
    assert not os.path.exists(os.path.join(folder, "ret.json"))


def test_own_ranks_refuses_non_finite_codes_and_overflowing_distances():
    orig = np.array([[0, 0], [1, 0], [0, 3]], np.float32)
    with pytest.raises(ValueError, match="generated code 0 holds NaN"):
        retrieval.own_ranks(np.array([[np.nan, 0], [1, 0]], np.float32), orig, np.array([0, 1]))
    orig[1, 0] = np.inf
    with pytest.raises(ValueError, match="original code 1 holds NaN or Inf"):
        retrieval.own_ranks(orig[[0, 2]], orig, np.array([0, 2]))
    huge = np.array([[3e38, -3e38], [-3e38, 3e38]], np.float32)
    with pytest.raises(ValueError, match="overflow"):
        retrieval.own_ranks(huge, huge)


@pytest.mark.parametrize("value", ["0", "-4"])
def test_batch_size_below_one_is_one_usage_error(tmp_path, value):
    proc = run_cli(str(tmp_path), str(tmp_path), f"--batch_size={value}")
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: --batch_size must be >= 1, got {value}"
