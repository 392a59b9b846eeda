"""Train the intervention policy with GRPO, jointly with its surrogate, over the
CausalBO curriculum; then evaluate it.

    python -m agents.grpo [--config PRESET] [--output DIR] [key=value ...] [--multirun]

Presets (``agents/configs/grpo/``): ``quick_test`` (the default: levels 1-3, minutes on
a laptop), ``debug`` (10 iterations on levels 1-2, every step printed), ``production``
(1000 iterations on levels 1-10, 30 interventions per episode) and ``production_cpu``
(the production curriculum sized for an hour on 2 CPU cores). Examples::

    python -m agents.grpo
    python -m agents.grpo --config production
    python -m agents.grpo --config quick_test grpo.group_size=16 num_envs=32
    torchrun --nproc_per_node 2 -m agents.grpo --config production_cpu

A run writes to ``runs/<preset>/`` (or DIR): ``config.yaml``, ``tensorboard/``,
``checkpoints/`` (``last.pt``, ``best.pt``), ``metrics.json``, ``curriculum.png`` and,
after training, ``evaluation/`` (the report of ``python -m agents.evaluate`` on
held-out seeds of the curriculum's levels, the trained policy next to random, greedy
and oracle), whose table it prints. Running the same command again resumes from
``checkpoints/last.pt``; SIGTERM writes a checkpoint and exits.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from agents.grpo.config import GrpoConfig
from causal_meta import config
from envs.settings import EnvSettings

CONFIG_PACKAGE = "agents.configs.grpo"


def run(cfg: GrpoConfig, run_dir: Path) -> None:
    """Train (resuming if possible), then evaluate the final policy on rank 0; a rank
    that torchrun launched exits once done. Torch is imported here, not with the module,
    so that ``--help`` prints at once."""
    from agents.grpo.train import Trainer
    from causal_meta.train import distributed

    trainer = Trainer(cfg, run_dir)
    try:
        trainer.train()
        if not trainer.stop_requested and trainer.ctx.is_main:
            print(f"trained {trainer.iteration} iterations; curriculum level {trainer.curriculum.level}; "
                  f"checkpoints in {trainer.checkpoints.directory}")
            if cfg.evaluation.enabled:
                evaluate_run(cfg, run_dir)
    finally:
        trainer.close()
    distributed.exit_launched_rank()


def evaluate_run(cfg: GrpoConfig, run_dir: Path) -> None:
    """The trained policy (``last.pt``) next to the baselines on held-out seeds of the
    curriculum's levels; report in ``run_dir/evaluation``, printed."""
    from agents.evaluate import build_sets, evaluate
    from agents.evaluate.report import write_report
    from agents.evaluate.scores import default_budgets

    levels = list(range(cfg.curriculum.start, cfg.curriculum.stop + 1))
    sets = build_sets(levels, [], [], cfg.evaluation.episodes, seed=cfg.seed)
    policies = [str(run_dir / "checkpoints" / "last.pt"), *cfg.evaluation.policies]
    budgets = default_budgets(cfg.env.horizon)
    # training may skip the optimum (env.optimum_samples = 0); the evaluation's regrets need it
    settings = dataclasses.replace(cfg.env, optimum_samples=cfg.env.optimum_samples or EnvSettings().optimum_samples)
    records, scores, _ = evaluate(policies, sets, settings=settings, budgets=budgets, progress=cfg.progress)
    paths = write_report(run_dir / "evaluation", config.to_plain(cfg), sets, records, scores, budgets,
                         cfg.env.horizon, title="GRPO policy on held-out episodes of its levels")
    print(paths["report"].read_text())


def main(argv: list[str] | None = None) -> None:
    config.entry_point(GrpoConfig, run, config_package=CONFIG_PACKAGE, default_preset="quick_test", doc=__doc__,
                       argv=argv, flags={"--output": config.output_flag})


if __name__ == "__main__":
    main()
