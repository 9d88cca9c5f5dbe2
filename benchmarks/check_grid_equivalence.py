"""Check grid_relations against the plain per-pair loop on every sketch of aaron_sheep.npz.

The test suite checks a 500-sketch subset (the loop is slow); this script checks
all 8000 sketches of train, valid and test, with no node cap, both through
grid_relations (one sketch per call) and grid_relations_batch (100 per call).
Exit status 1 on the first difference.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import graph_builder  # noqa: E402
import utils  # noqa: E402

PATH = os.path.join(REPO, "data", "aaron_sheep.npz")


def main() -> int:
    """Compare every sketch; print a summary line."""
    if not os.path.exists(PATH):
        print(f"skipped: {PATH} is absent")
        return 0
    with np.load(PATH, allow_pickle=True, encoding="latin1") as data:
        raw = [s for split in ("train", "valid", "test") for s in data[split]]
    sketches = [graph_builder.split_pieces(utils.to_absolute(np.asarray(s, np.float32)))
                for s in raw]
    cap = max(len(p) for p in sketches)
    start = time.perf_counter()
    for first in range(0, len(sketches), 100):
        chunk = sketches[first:first + 100]
        batched = graph_builder.grid_relations_batch(chunk, cap)
        for k, pieces in enumerate(chunk):
            expected = graph_builder.grid_relations_loop(pieces, cap)
            if not (np.array_equal(graph_builder.grid_relations(pieces, cap), expected)
                    and np.array_equal(batched[k], expected)):
                print(f"sketch {first + k}: grid_relations differs from the loop reference")
                return 1
    pairs = sum(len(p) ** 2 for p in sketches)
    print(f"all {len(sketches)} sketches equal ({pairs} piece pairs, node cap {cap}) "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
