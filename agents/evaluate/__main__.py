"""Evaluate CausalBO policies on fixed seeded episode sets.

    python -m agents.evaluate [--policy P ...] [--output DIR] [--config PRESET] [key=value ...] [--multirun]

P is ``random``, ``greedy``, ``oracle``, ``bo``, ``botorch`` (BoTorch BO), ``cbo`` (causal BO given
the true graph), the path of a stable-baselines3 zip
(``python -m agents.baselines.sb3`` trains one) or of a GRPO checkpoint
(``python -m agents.grpo`` writes them); each --policy adds one, and without any the
preset's list runs. Random and oracle always run: normalised regret is
(policy - oracle) / (random - oracle) on the same episodes. Presets: ``default`` (levels
1, 2, 3, 5, 7, 10, the held-out structures and the named SCMs, 100 episodes each,
horizon 20) and ``smoke`` (seconds). Examples::

    python -m agents.evaluate --policy greedy --policy bo
    python -m agents.evaluate --policy runs/ppo/model.zip levels=[1,2,3] heldout=[] named=[]
    python -m agents.evaluate --policy runs/quick_test/checkpoints/last.pt --policy greedy
    python -m agents.evaluate --config smoke --output /tmp/eval

Writes ``results.json``, ``report.md``, ``regret_curves.png``, ``best_target.png`` and
``normalised_regret.png`` to DIR (default ``runs/<preset>/``) and prints the report.
"""

from __future__ import annotations

from pathlib import Path

from agents.evaluate import evaluate
from agents.evaluate.config import EvaluateConfig
from agents.evaluate.report import write_report
from agents.evaluate.sets import build_sets
from causal_meta import config

CONFIG_PACKAGE = "agents.configs.evaluate"


def run(cfg: EvaluateConfig, run_dir: Path) -> None:
    """Evaluate, write the report into ``run_dir`` and print it."""
    sets = build_sets(cfg.levels, cfg.heldout, cfg.named, cfg.episodes, cfg.seed)
    records, scores, _ = evaluate(cfg.policies, sets, settings=cfg.env, budgets=cfg.budgets, resamples=cfg.resamples,
                                  seed=cfg.seed, device=cfg.device, progress=cfg.progress)
    paths = write_report(run_dir, config.to_plain(cfg), sets, records, scores, cfg.budgets, cfg.env.horizon)
    print(paths["report"].read_text())
    print(f"wrote {', '.join(str(p) for p in paths.values())}")


def policies_flag(values: list[str]) -> str:
    """``--policy P`` (repeatable): the list of policies."""
    return f"policies=[{','.join(config.quote(p) for p in values)}]"


def main(argv: list[str] | None = None) -> None:
    config.entry_point(EvaluateConfig, run, config_package=CONFIG_PACKAGE, default_preset="default", doc=__doc__,
                       argv=argv, flags={"--policy": policies_flag, "--output": config.output_flag})


if __name__ == "__main__":
    main()
