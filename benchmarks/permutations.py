"""Hard permutations for BCNP: one scipy Hungarian call per sample on the CPU, as the
published code does, against the batched ranking BCNP uses here.

    python benchmarks/permutations.py [--d 20] [--tasks 8] [--samples 10] [--out PATH]

Both solve the same assignment: the weights are ``log_alpha[i, k] = q~_i c_k`` (perturbed
scores times decreasing position weights), whose best assignment is the ranking of the
perturbed scores; the script checks that both return the same permutations, then
reports permutations per second of each and their ratio, measured in the same run. A
training step of ``bcnp_cpu_small`` needs ``tasks x samples`` of them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from _common import default_out, machine_info, rate
from causal_meta.models.bcnp import rank_permutations


def hungarian(weights: np.ndarray) -> np.ndarray:
    """(N, d, d) assignment weights -> (N, d, d) permutation matrices, one scipy call each."""
    out = np.zeros_like(weights)
    for n, w in enumerate(weights):
        rows, cols = linear_sum_assignment(w, maximize=True)
        out[n, rows, cols] = 1
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--d", type=int, default=20, help="variables per task (default 20)")
    parser.add_argument("--tasks", type=int, default=8, help="tasks per training step (default 8)")
    parser.add_argument("--samples", type=int, default=10, help="permutations per task (default 10)")
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per method (default 3)")
    parser.add_argument("--out", type=Path, default=default_out("permutations.json"), help="JSON output path")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    n = args.tasks * args.samples
    scores = rng.gumbel(size=(n, args.d)) + rng.normal(size=(n, args.d))
    c = np.arange(args.d - 1, -1, -1) / max(1, args.d - 1)
    weights = scores[:, :, None] * c
    expected = hungarian(weights)
    got = rank_permutations(torch.from_numpy(scores)).numpy()
    assert np.array_equal(expected, got), "the ranking and the Hungarian assignment differ"

    def by_hungarian() -> int:
        hungarian(weights)
        return n

    def by_ranking() -> int:
        rank_permutations(torch.from_numpy(scores))
        return n

    rows = {"hungarian_scipy_per_sample": rate(by_hungarian, args.seconds, 5),
            "ranking_batched": rate(by_ranking, args.seconds, 5)}
    ratio = rows["ranking_batched"] / rows["hungarian_scipy_per_sample"]
    print(f"{n} permutations of {args.d} variables per call, one torch thread\n")
    print("| method | permutations/s |\n|---|---:|")
    for name, value in rows.items():
        print(f"| {name} | {value:,.0f} |")
    print(f"\nbatched ranking / per-sample Hungarian: {ratio:.1f}x (identical permutations)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine_info(), "d": args.d, "permutations_per_call": n,
                                    "per_second": rows, "ratio": ratio}, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
