"""Pre-train an amortized structure learner on a task stream.

    python -m agents.pretrain [MODEL] [--config PRESET] [key=value ...] [--multirun]

MODEL picks the learner (available: avici, bcnp) and, without --config, its default
preset of the same name. Presets: see --help. Examples::

    python -m agents.pretrain avici --config smoke
    python -m agents.pretrain bcnp --config bcnp_smoke
    python -m agents.pretrain avici --config cpu_small trainer.steps=5000
    python -m agents.pretrain avici evaluation.checkpoint=runs/cpu_small/checkpoints/best.pt
    torchrun --nproc_per_node 2 -m agents.pretrain avici --config cpu_small

A run writes under ``runs/<preset>/``: ``config.yaml``, ``tensorboard/``,
``checkpoints/`` (last, best, step_N), ``metrics.json``, ``report.md`` and plots. Running
the same command again resumes from ``checkpoints/last.pt``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from causal_meta import config
from causal_meta.models.settings import SETTINGS
from causal_meta.train.config import PretrainConfig

CONFIG_PACKAGE = "agents.configs.pretrain"


def run(cfg: PretrainConfig, run_dir: Path) -> None:
    """Train (resuming if possible), then evaluate ``best.pt``; or only evaluate
    ``evaluation.checkpoint`` when it is set. A rank that torchrun launched exits once
    done. Torch is imported here, not with the module, so that ``--help`` prints at once."""
    from causal_meta.train import distributed
    from causal_meta.train.loop import Trainer

    trainer = Trainer(cfg, run_dir)
    try:
        if cfg.evaluation.checkpoint is None:
            state = trainer.train()
            if trainer.ctx.is_main and not trainer.stop_requested:
                print(f"trained {state.step} steps; best validation {cfg.trainer.best_metric} = {state.best_value:.4f}")
        if not trainer.stop_requested:
            checkpoint = None if cfg.evaluation.checkpoint is None else Path(cfg.evaluation.checkpoint)
            path = trainer.load_for_evaluation(checkpoint)
            trainer.test()
            if trainer.ctx.is_main:
                print(f"evaluated {path} on {cfg.evaluation.suite}: {run_dir / 'report.md'}")
                print((run_dir / "report.md").read_text())
    finally:
        trainer.close()
    distributed.exit_launched_rank()


def main(argv: list[str] | None = None) -> None:
    """Split off the model name, then hand the rest to the shared Hydra CLI."""
    args = list(sys.argv[1:] if argv is None else argv)
    model = "avici"
    if args and args[0] in SETTINGS:
        model = args.pop(0)
    elif args and not args[0].startswith("-") and "=" not in args[0] and args[0] not in config.list_presets(CONFIG_PACKAGE):
        print(f"error: model = {args[0]!r} is not allowed: available models: {sorted(SETTINGS)}",
              file=sys.stderr)
        raise SystemExit(2)
    config.entry_point(PretrainConfig, run, config_package=CONFIG_PACKAGE, default_preset=model, doc=__doc__,
                       argv=[*args, f"model.name={model}"])


if __name__ == "__main__":
    main()
