"""Speed of the GRPO trainer against its per-state reference: episodes/s, environment
steps/s (what-if candidates included) and where a training iteration's time goes.

    python benchmarks/grpo.py [--iterations 10] [--out PATH]

Runs the trainer for ``--iterations`` iterations (evaluation off) in four settings: the
``quick_test`` preset (levels 1-3, horizon 20), and levels 7, 10 and 13 with horizon 30
(``production_cpu``'s episodes), each twice in the same run: the trainer as configured
(one pass per episode in the update, cached rows in the rollout, and the given
``surrogate.query_every``) and the per-state reference (``grpo.one_pass=false``,
``surrogate.query_every=1``: every state encoded from scratch and the surrogate queried
at every step, the trainer as it was before the one-pass encoder). The goal is a ratio
of at least 5x at level 10. ``--threads-study`` then runs the new trainer on levels 1-3
and level 10 with ``threads=1`` and ``threads=2``, alone and beside a competing process
(one core kept busy by a Python loop), the measurement that chose the default of
``threads``. Both runs share seeds, so they play the same first
iteration; later iterations differ only by float rounding of the two paths. Prints a
Markdown table; writes JSON with machine information to ``grpo.json`` in a fresh
directory under ``runs/benchmarks/`` (or ``--out``; the committed results were written
with ``--out benchmarks/results/grpo.json``) and a bar plot of the shares beside it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from _common import default_out, machine_info  # noqa: E402
from agents.grpo.config import GrpoConfig  # noqa: E402
from agents.grpo.train import Trainer, speed  # noqa: E402
from causal_meta import config  # noqa: E402

RATIO_GOAL = 5.0
PARTS = ("env", "what_if", "surrogate", "policy", "update")
CASES = {
    "levels 1-3, horizon 20": [],
    "level 7, horizon 30": ["curriculum.start=7", "curriculum.stop=7", "env.horizon=30"],
    "level 10, horizon 30": ["curriculum.start=10", "curriculum.stop=10", "env.horizon=30"],
    "level 13, horizon 30": ["curriculum.start=13", "curriculum.stop=13", "env.horizon=30"],
}
REFERENCE = ["grpo.one_pass=false", "surrogate.query_every=1"]
"""The per-state reference: every state encoded from scratch, the surrogate queried at every step."""


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


def _burn() -> None:
    """Keep one core busy: the competing process of the thread study."""
    while True:
        pass


def thread_study(iterations: int) -> dict[str, dict[str, float]]:
    """Episodes/s of the new trainer at 1 and 2 torch threads, alone and with a
    competing process, on levels 1-3 and on level 10 with horizon 30."""
    out: dict[str, dict[str, float]] = {}
    for name in ("levels 1-3, horizon 20", "level 10, horizon 30"):
        for competing in (False, True):
            rival = multiprocessing.Process(target=_burn, daemon=True) if competing else None
            if rival is not None:
                rival.start()
            try:
                for threads in (1, 2):
                    key = f"{name}, threads={threads}, {'competing' if competing else 'alone'}"
                    out[key] = measure([*CASES[name], f"threads={threads}"], iterations)
            finally:
                if rival is not None:
                    rival.terminate()
                    rival.join()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=10, help="training iterations per setting and path")
    parser.add_argument("--out", default=str(default_out("grpo.json")), help="where to write the JSON (and the plot)")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES), metavar="CASE",
                        help=f"settings to run (default: all of {list(CASES)})")
    parser.add_argument("--threads-study", action="store_true",
                        help="also time threads=1 and threads=2, alone and beside a competing process")
    args = parser.parse_args()
    results, references = {}, {}
    for name in args.cases:
        results[name] = measure(CASES[name], args.iterations)
        references[name] = measure([*CASES[name], *REFERENCE], args.iterations)
        results[name]["speedup"] = results[name]["episodes_per_s"] / references[name]["episodes_per_s"]
    doc = {"machine": machine_info(), "iterations": args.iterations, "ratio_goal": RATIO_GOAL, "cases": results,
           "reference": references}
    if args.threads_study:
        doc["threads"] = thread_study(args.iterations)
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
    print("| setting | episodes/s | per-state reference | ratio | env + what-if + surrogate | rollout | update |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        ref = references[name]
        print(f"| {name} | {r['episodes_per_s']:.2f} | {ref['episodes_per_s']:.2f} | {r['speedup']:.1f}x | "
              f"{r['env_what_if_surrogate_share']:.0%} (reference {ref['env_what_if_surrogate_share']:.0%}) | "
              f"{r['policy_share']:.0%} | {r['update_share']:.0%} |")
    print(f"\nratio goal at level 10: >= {RATIO_GOAL:g}x")
    if args.threads_study:
        print("\n| setting | episodes/s |\n|---|---:|")
        for key, r in doc["threads"].items():
            print(f"| {key} | {r['episodes_per_s']:.2f} |")
    print(f"\nwrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
