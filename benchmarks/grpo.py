"""Speed of the GRPO trainer: episodes/s, environment steps/s (what-if candidates
included) and where a training iteration's time goes.

    python benchmarks/grpo.py [--iterations 20] [--out PATH]

Runs the trainer for ``--iterations`` iterations (evaluation off) in three settings:
the ``quick_test`` preset (levels 1-3, horizon 20), level 7 and level 10 with horizon
30 (``production_cpu``'s episodes). The goal is that the environment, the what-if and
the surrogate together take under 20% of a training iteration, the policy's rollout
and update the rest. Early iterations are cheaper than late ones: the update's KL early
stop cuts epochs while the policy moves fast. Prints a Markdown table; writes JSON with
machine information to ``grpo.json`` in a fresh directory under ``runs/benchmarks/``
(or ``--out``; the committed results were written with ``--out
benchmarks/results/grpo.json``) and a bar plot of the shares beside it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from _common import default_out, machine_info  # noqa: E402
from agents.grpo.config import GrpoConfig  # noqa: E402
from agents.grpo.train import Trainer, speed  # noqa: E402
from causal_meta import config  # noqa: E402

SHARE_GOAL = 0.20
PARTS = ("env", "what_if", "surrogate", "policy", "update")
CASES = {
    "levels 1-3, horizon 20": [],
    "level 7, horizon 30": ["curriculum.start=7", "curriculum.stop=7", "env.horizon=30"],
    "level 10, horizon 30": ["curriculum.start=10", "curriculum.stop=10", "env.horizon=30"],
}


def measure(overrides: list[str], iterations: int) -> dict[str, float]:
    cfg = config.load(GrpoConfig, "quick_test", [f"iterations={iterations}", "evaluation.enabled=false",
                                                 "progress=false", "device=cpu", *overrides],
                      config_package="agents.configs.grpo")
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(cfg, Path(run_dir))
        try:
            trainer.train()
        finally:
            trainer.close()
        return speed(trainer.timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--out", default=str(default_out("grpo.json")))
    args = parser.parse_args()
    results = {name: measure(overrides, args.iterations) for name, overrides in CASES.items()}
    doc = {"machine": machine_info(), "iterations": args.iterations, "share_goal": SHARE_GOAL, "cases": results}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    fig, ax = plt.subplots(figsize=(7, 3))
    left = [0.0] * len(results)
    for part in PARTS:
        shares = [r[f"{part}_share"] for r in results.values()]
        ax.barh(list(results), shares, left=left, label=part)
        left = [a + b for a, b in zip(left, shares)]
    ax.set_xlabel("share of an iteration's time")
    ax.legend(fontsize=7, ncol=len(PARTS), loc="lower center", bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=90)
    print("| setting | episodes/s | env steps/s (with candidates) | env + what-if + surrogate | policy | update |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        mark = "met" if r["env_what_if_surrogate_share"] < SHARE_GOAL else "NOT MET"
        print(f"| {name} | {r['episodes_per_s']:.1f} | {r['env_steps_per_s']:,.0f} | "
              f"{r['env_what_if_surrogate_share']:.0%} (< 20%: {mark}) | {r['policy_share']:.0%} | "
              f"{r['update_share']:.0%} |")
    print(f"\nwrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
