"""Statistics of a seeded study: arm means and spreads, paired differences with a 95% t-interval.

The unit of replication is the training seed: two arms trained with the same
seed are evaluated on the same test sketches with the same decoding seed, so
their difference is paired. The interval is Student's t over the paired seed
differences (n - 1 degrees of freedom). It speaks for new training seeds on
this fixed test set; it does not add the sampling noise of the test set itself.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats

HOLDS, REVERSED, CANNOT_TELL = "holds", "does not hold", "cannot tell"


def mean_sd(values: Sequence[float]) -> dict:
    """Mean, sample standard deviation (ddof 1; None for one value) and count."""
    v = np.asarray(values, np.float64)
    if v.size == 0:
        return {"mean": None, "sd": None, "n": 0}
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else None, "n": int(v.size)}


def paired_interval(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> dict:
    """Mean of a - b over paired seeds with its t-interval; `ci95` is None below two pairs."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values need equal counts, got {a.size} and {b.size}")
    d = a - b
    out = {"difference": float(d.mean()) if d.size else None, "n": int(d.size), "ci95": None}
    if d.size >= 2:
        half = stats.t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
        out["ci95"] = [float(d.mean() - half), float(d.mean() + half)]
    return out


def verdict(ci95: Sequence[float] | None) -> str:
    """`holds` when the interval is above 0, `does not hold` when below, else `cannot tell`."""
    if ci95 is None:
        return CANNOT_TELL
    low, high = ci95
    if low > 0:
        return HOLDS
    if high < 0:
        return REVERSED
    return CANNOT_TELL
