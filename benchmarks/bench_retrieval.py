"""Ranking speed of retrieval.py: one JSON line for N generated vs N original codes."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from retrieval import topk_retrieval  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=10000)
    parser.add_argument("--z_size", type=int, default=128)
    parser.add_argument("--noise", type=float, default=2.0, help="generated = original + noise")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    orig = rng.normal(size=(args.codes, args.z_size)).astype(np.float32)
    gen = orig + args.noise * rng.normal(size=orig.shape).astype(np.float32)
    start = time.perf_counter()
    result = topk_retrieval(gen, orig)
    seconds = time.perf_counter() - start
    print(json.dumps({"codes": args.codes, "z_size": args.z_size, "seconds": round(seconds, 3),
                      "top_k": {str(k): round(float(v), 4) for k, v in result.items()}}))


if __name__ == "__main__":
    main()
