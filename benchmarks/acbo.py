"""Causal BO policies against each other on the same episodes: random, greedy, oracle,
GP-BO, PPO and, when given, a GRPO checkpoint, through the evaluation harness.

    python benchmarks/acbo.py [--ppo ZIP | --ppo-timesteps N] [--grpo CHECKPOINT]
                              [--levels 1,2,3] [--named toy_graph] [--episodes 100]
                              [--out DIR]

Without ``--ppo`` it first trains PPO with the ``ppo_tuned`` preset of
``python -m agents.baselines.sb3`` on levels 1-3 for ``--ppo-timesteps`` environment
steps (default 300,000; about 5 minutes on 2 cores), so the table always states PPO's
budget. Sets: the given curriculum levels and named SCMs; a policy of fixed width
(PPO) skips those it cannot read. Prints one table (normalised simple regret after 3
and after 20 steps and normalised cumulative regret, with 95% intervals, per set and
policy), each policy's regret as a ratio to random's, and the evaluation speed;
writes the harness's results.json, report.md and plots, plus acbo.json with the
budget, to ``--out`` (default: a fresh directory under ``runs/benchmarks/``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from _common import default_out, machine_info
from agents.baselines.config import Sb3Config
from agents.baselines.sb3 import CONFIG_PACKAGE, run as train_sb3
from agents.evaluate import build_sets, evaluate
from agents.evaluate.report import write_report
from agents.evaluate.scores import Scores
from causal_meta import config
from causal_meta.atomic import write_json

BASELINES = ["greedy", "bo"]
COLUMNS = (("normalised_simple_regret@3", "simple @3"), ("normalised_simple_regret@20", "simple @20"),
           ("normalised_cumulative_regret", "cumulative"))


def train_ppo(out: Path, timesteps: int, seed: int) -> Path:
    """PPO with the ``ppo_tuned`` preset on levels 1-3; the path of its zip."""
    cfg = config.load(Sb3Config, "ppo_tuned", [f"timesteps={timesteps}", f"seed={seed}", "progress=false"],
                      config_package=CONFIG_PACKAGE)
    run_dir = out / "ppo"
    config.save_resolved(cfg, run_dir)
    train_sb3(cfg, run_dir)
    return run_dir / "model.zip"


def table(scores: Scores) -> str:
    lines = ["| set | policy | " + " | ".join(label for _, label in COLUMNS) + " | regret / random's (cumulative) |",
             "|---|---|" + "---|" * (len(COLUMNS) + 1)]
    for set_name, by_policy in scores.sets.items():
        random_cumulative = by_policy["random"]["cumulative_regret"].mean
        for name, metrics in by_policy.items():
            cells = [str(metrics.get(key, "n/a")) for key, _ in COLUMNS]
            ratio = metrics["cumulative_regret"].mean / random_cumulative if random_cumulative else float("nan")
            lines.append(f"| {set_name} | {name} | " + " | ".join(cells) + f" | {ratio:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ppo", help="an SB3 zip to use instead of training PPO")
    parser.add_argument("--ppo-timesteps", type=int, default=300_000, help="PPO's training budget (env steps)")
    parser.add_argument("--grpo", help="a python -m agents.grpo checkpoint to include")
    parser.add_argument("--levels", default="1,2,3", help="curriculum levels, comma-separated")
    parser.add_argument("--named", default="toy_graph", help="named SCMs, comma-separated (or empty)")
    parser.add_argument("--episodes", type=int, default=100, help="episodes per set")
    parser.add_argument("--seed", type=int, default=0, help="evaluation seed (and PPO's)")
    parser.add_argument("--out", help="output directory (default: a fresh one under runs/benchmarks/)")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    out = Path(args.out) if args.out else default_out("acbo")
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    ppo = Path(args.ppo) if args.ppo else train_ppo(out, args.ppo_timesteps, args.seed)
    ppo_minutes = (time.perf_counter() - start) / 60 if not args.ppo else None
    policies = [*BASELINES, str(ppo), *([args.grpo] if args.grpo else [])]
    sets = build_sets([int(v) for v in args.levels.split(",") if v], [], [v for v in args.named.split(",") if v],
                      args.episodes, args.seed)
    records, scores, notes = evaluate(policies, sets, seed=args.seed, progress=True)
    write_report(out, {"benchmark": "acbo", **vars(args)}, sets, records, scores, [1, 3, 5, 10], 20,
                 title="Causal BO benchmark")
    speed = {name: float(np.mean([len(by_policy[name].seeds) / by_policy[name].seconds
                                  for by_policy in records.values() if name in by_policy]))
             for name in dict.fromkeys(p for by_policy in records.values() for p in by_policy)}
    write_json(out / "acbo.json", {"machine": machine_info(), "ppo": str(ppo), "ppo_timesteps": args.ppo_timesteps,
                                   "ppo_training_minutes": ppo_minutes, "episodes_per_second": speed, "notes": notes,
                                   "summary": {s: {p: {k: e.to_json() for k, e in m.items()} for p, m in by_p.items()}
                                               for s, by_p in scores.sets.items()}})
    print(table(scores))
    print("\nevaluation speed (episodes/s): " + ", ".join(f"{name} {value:,.0f}" for name, value in speed.items()))
    budget = f"{args.ppo_timesteps:,} steps" if not args.ppo else "given zip"
    print(f"PPO: {budget}; notes: {'; '.join(notes) or 'none'}\nwrote {out}")


if __name__ == "__main__":
    main()
