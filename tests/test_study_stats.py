"""tools/study_stats.py on hand-worked numbers."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import study_stats  # noqa: E402

T_975_DF2 = 4.302652729911275  # Student t quantile, 2 degrees of freedom (tables: 4.303)


def test_mean_sd_uses_the_sample_standard_deviation():
    assert study_stats.mean_sd([1.0, 2.0, 3.0]) == {"mean": 2.0, "sd": 1.0, "n": 3}
    assert study_stats.mean_sd([0.5]) == {"mean": 0.5, "sd": None, "n": 1}
    assert study_stats.mean_sd([]) == {"mean": None, "sd": None, "n": 0}


def test_an_interval_that_must_contain_zero():
    # Differences 1, 2, 3: mean 2, sd 1, half-width 4.303 / sqrt(3) = 2.484 -> [-0.484, 4.484].
    out = study_stats.paired_interval([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    assert out["difference"] == pytest.approx(2.0)
    assert out["ci95"] == pytest.approx([2 - T_975_DF2 / 3 ** 0.5, 2 + T_975_DF2 / 3 ** 0.5])
    assert out["ci95"][0] < 0 < out["ci95"][1]
    assert study_stats.verdict(out["ci95"]) == study_stats.CANNOT_TELL


def test_an_interval_that_must_not_contain_zero_and_its_mirror():
    # Differences 2.0, 2.1, 1.9 (pairs): mean 2, sd 0.1, half-width 0.248 -> [1.752, 2.248].
    a, b = [10.0, 10.1, 9.9], [8.0, 8.0, 8.0]
    out = study_stats.paired_interval(a, b)
    assert out["ci95"] == pytest.approx([2 - 0.1 * T_975_DF2 / 3 ** 0.5, 2 + 0.1 * T_975_DF2 / 3 ** 0.5])
    assert study_stats.verdict(out["ci95"]) == study_stats.HOLDS
    assert study_stats.verdict(study_stats.paired_interval(b, a)["ci95"]) == study_stats.REVERSED


def test_pairing_removes_the_seed_effect():
    # Seeds differ by 10 points, the arms by 1 point in every seed: paired, the interval is [1, 1].
    a, b = [11.0, 21.0, 31.0], [10.0, 20.0, 30.0]
    out = study_stats.paired_interval(a, b)
    assert out["ci95"] == pytest.approx([1.0, 1.0])
    assert study_stats.verdict(out["ci95"]) == study_stats.HOLDS


def test_one_pair_has_no_interval_and_unequal_counts_are_refused():
    out = study_stats.paired_interval([3.0], [1.0])
    assert out == {"difference": 2.0, "n": 1, "ci95": None}
    assert study_stats.verdict(None) == study_stats.CANNOT_TELL
    with pytest.raises(ValueError, match="equal counts"):
        study_stats.paired_interval([1.0, 2.0], [1.0])
