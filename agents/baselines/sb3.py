"""Train a stable-baselines3 baseline on CausalBO.

    python -m agents.baselines.sb3 ALGORITHM [--levels 1-3] [--timesteps N] [--output DIR] [key=value ...]

ALGORITHM is ``ppo`` or ``sac`` (also the preset of that name, in
``agents/configs/sb3/``). Episodes run on the engine-batched vector environment
(:class:`agents.baselines.vec_env.CausalBOVecEnv`), each at a level drawn uniformly from
``levels``; the policy is SB3's ``MultiInputPolicy`` on the Dict observation, with the
keyword arguments in ``hyperparameters`` (checked against the algorithm's signature).
Examples::

    python -m agents.baselines.sb3 ppo --levels 1-3 --timesteps 300000
    python -m agents.baselines.sb3 ppo hyperparameters.learning_rate=1e-4 hyperparameters.gamma=0.9
    python -m agents.baselines.sb3 sac --levels 1,2 --timesteps 50000

A run writes to DIR (default ``runs/<preset>/``): ``config.yaml``, ``tensorboard/``
(SB3's losses and ``rollout/ep_rew_mean``, plus ``causalbo/simple_regret_std``,
``causalbo/cumulative_regret_std`` and ``causalbo/parent_rate`` of finished episodes),
``checkpoints/last.zip`` every ``checkpoint_every`` steps (atomic; rerunning the same
command resumes from it, SAC with an empty replay buffer) and the final ``model.zip``,
which ``python -m agents.evaluate --policy DIR/model.zip`` scores.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.baselines.config import ALGORITHMS, Sb3Config
from causal_meta import atomic, config
from causal_meta.train import rundir

CONFIG_PACKAGE = "agents.configs.sb3"
_RESERVED = ("policy", "env", "seed", "device", "tensorboard_log", "verbose", "_init_setup_model")


def parse_levels(text: str) -> list[int]:
    """``"1-3"`` -> [1, 2, 3]; ``"1,2,5"`` -> [1, 2, 5]."""
    try:
        if "-" in text:
            low, high = (int(part) for part in text.split("-", 1))
            return list(range(low, high + 1))
        return [int(part) for part in text.split(",")]
    except ValueError as err:
        raise config.ConfigError(f"--levels {text!r} is not allowed: expected a range like 1-3 or a list like "
                                 "1,2,5") from err


def algorithm_class(name: str) -> type:
    import stable_baselines3

    return getattr(stable_baselines3, name.upper())


# Ranges of the numeric constructor arguments that PPO and SAC share or own: SB3 checks
# few of them, and a bad one surfaces mid-run as an assertion or a NaN distribution.
_RANGES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "learning_rate": ("a number in (0, 1]", lambda v: 0 < v <= 1),
    "gamma": ("a number in [0, 1]", lambda v: 0 <= v <= 1),
    "gae_lambda": ("a number in [0, 1]", lambda v: 0 <= v <= 1),
    "tau": ("a number in [0, 1]", lambda v: 0 <= v <= 1),
    "clip_range": ("a number > 0", lambda v: v > 0),
    "vf_coef": ("a number >= 0", lambda v: v >= 0),
    "max_grad_norm": ("a number > 0", lambda v: v > 0),
    "n_steps": ("an integer >= 2", lambda v: isinstance(v, int) and v >= 2),
    "batch_size": ("an integer >= 2", lambda v: isinstance(v, int) and v >= 2),
    "n_epochs": ("an integer >= 1", lambda v: isinstance(v, int) and v >= 1),
    "buffer_size": ("an integer >= 1", lambda v: isinstance(v, int) and v >= 1),
    "learning_starts": ("an integer >= 0", lambda v: isinstance(v, int) and v >= 0),
    "gradient_steps": ("an integer >= 1 or -1", lambda v: isinstance(v, int) and (v >= 1 or v == -1)),
}


def check_hyperparameters(name: str, hyperparameters: dict[str, Any]) -> None:
    """ValueError naming a key the algorithm's constructor does not take, or a numeric
    value outside its range (``_RANGES``)."""
    accepted = [p for p in inspect.signature(algorithm_class(name).__init__).parameters
                if p not in ("self", *_RESERVED)]
    for key, value in hyperparameters.items():
        if key not in accepted:
            raise ValueError(f"hyperparameters.{key} is not allowed: {name.upper()} accepts {accepted}"
                             + (" (set it with its own key)" if key in _RESERVED else ""))
        if key in _RANGES:
            allowed, ok = _RANGES[key]
            number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not (number and ok(value)):
                raise ValueError(f"hyperparameters.{key} = {value!r} is not allowed: must be {allowed}")


def save_atomic(model: Any, path: Path) -> None:
    """model.save through a temporary file, so that ``path`` always holds a whole zip."""
    atomic.publish(atomic.write_temp(path.parent, model.save, prefix=f".{path.name}."), path)


def run(cfg: Sb3Config, run_dir: Path) -> None:
    """Train (or resume) and save ``model.zip``, holding the run directory."""
    check_hyperparameters(cfg.algorithm, cfg.hyperparameters)
    with contextlib.closing(rundir.claim(run_dir)):
        _train(cfg, run_dir)


def _train(cfg: Sb3Config, run_dir: Path) -> None:
    from agents.baselines.callbacks import callbacks
    from agents.baselines.load import load_sb3
    from agents.baselines.vec_env import CausalBOVecEnv

    env = CausalBOVecEnv(cfg.num_envs, cfg.levels, settings=cfg.env, max_nodes=cfg.max_nodes)
    env.seed(cfg.seed)
    last = run_dir / "checkpoints" / "last.zip"
    if last.exists():
        model = load_sb3(last, cfg.device).model
        model.set_env(env)
        print(f"resuming from {last} at step {model.num_timesteps}")
    else:
        model = algorithm_class(cfg.algorithm)("MultiInputPolicy", env, seed=cfg.seed, device=cfg.device, verbose=0,
                                               tensorboard_log=str(run_dir / "tensorboard"), **cfg.hyperparameters)
    remaining = cfg.timesteps - model.num_timesteps
    if remaining > 0:
        model.learn(remaining, callback=callbacks(cfg, last, save_atomic), reset_num_timesteps=not last.exists(),
                    tb_log_name="sb3")
    final = run_dir / "model.zip"
    save_atomic(model, final)
    levels = ",".join(str(level) for level in cfg.levels)
    print(f"trained {cfg.algorithm.upper()} for {model.num_timesteps} steps on levels {levels}: {final}")
    print(f"evaluate: python -m agents.evaluate --policy {final} levels=[{levels}]")


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ALGORITHMS:  # the algorithm sets the key, and is the preset unless --config names one
        preset_given = any(a.split("=", 1)[0] in ("--config", "--config-name", "-cn") for a in args[1:])
        args = [*([] if preset_given else [args[0]]), f"algorithm={args[0]}", *args[1:]]
    flags = {"--levels": lambda values: f"levels=[{','.join(str(v) for v in parse_levels(values[-1]))}]",
             "--timesteps": lambda values: f"timesteps={values[-1]}", "--output": config.output_flag}
    config.entry_point(Sb3Config, run, config_package=CONFIG_PACKAGE, default_preset="ppo", doc=__doc__, argv=args,
                       flags=flags)


if __name__ == "__main__":
    main()
