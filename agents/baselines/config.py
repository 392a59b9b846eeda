"""The configuration schema of `python -m agents.baselines.sb3`; presets live in
``agents/configs/sb3/*.yaml``."""

from __future__ import annotations

import dataclasses
from typing import Any

from causal_meta.config import option, register
from envs.settings import EnvSettings

__all__ = ["ALGORITHMS", "SCHEMA_NAME", "Sb3Config"]

SCHEMA_NAME = "sb3_schema"
ALGORITHMS = ("ppo", "sac")


@dataclasses.dataclass
class Sb3Config:
    """An SB3 algorithm trained on the CausalBO vector environment."""

    algorithm: str = option("ppo", f"SB3 algorithm, one of {list(ALGORITHMS)}; the first argument selects it")
    levels: list[int] = option([1, 2, 3], "curriculum levels; each episode draws one uniformly (--levels 1-3)")
    timesteps: int = option(300_000, "environment steps to train for, in total over a resumed run (--timesteps N)")
    num_envs: int = option(16, "environments stepped together")
    env: EnvSettings = option(EnvSettings, "the training episodes' settings (CausalBO-v0's, as every entry point "
                                           "has them)")
    max_nodes: int | None = option(None, "observation width (None: the widest of the levels); a model can be "
                                         "evaluated only on sets at most this wide")
    seed: int = option(0, "seed of the environments, the level draws and the networks (< 2**32)")
    device: str = option("cpu", "torch device")
    checkpoint_every: int = option(50_000, "environment steps between checkpoints/last.zip (0: none); rerunning the "
                                           "command resumes from it")
    progress: bool = option(True, "show a progress bar")
    hyperparameters: dict[str, Any] = option({}, "keyword arguments of the SB3 algorithm's constructor "
                                                 "(learning_rate, n_steps, policy_kwargs, ...)")

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm = {self.algorithm!r} is not allowed: expected one of {list(ALGORITHMS)}")
        if not self.levels:
            raise ValueError("levels = [] is not allowed: give at least one curriculum level")
        for name, minimum in (("timesteps", 1), ("num_envs", 1), ("checkpoint_every", 0), ("seed", 0)):
            if getattr(self, name) < minimum:
                raise ValueError(f"{name} = {getattr(self, name)} is not allowed: must be an integer >= {minimum}")
        if self.seed >= 2**32:
            raise ValueError(f"seed = {self.seed} is not allowed: must be < 2**32 (evaluation seeds lie above)")


register(SCHEMA_NAME, Sb3Config)
