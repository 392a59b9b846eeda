"""The configuration schema of `python -m agents.evaluate`; presets live in
``agents/configs/evaluate/*.yaml``."""

from __future__ import annotations

import dataclasses

from agents.evaluate.scores import BUDGETS, check_budgets, check_settings, default_budgets
from agents.evaluate.sets import HELDOUT, MAX_EPISODES, NAMED
from causal_meta.config import option, register
from envs.settings import EnvSettings

__all__ = ["SCHEMA_NAME", "EvaluateConfig"]

SCHEMA_NAME = "evaluate_schema"


@dataclasses.dataclass
class EvaluateConfig:
    """Which policies, on which episode sets, scored how."""

    policies: list[str] = option(["random", "greedy", "oracle", "bo"],
                                 "policies: random, greedy, oracle, bo, botorch (slow: about 0.4 s a step), cbo, or "
                                 "the path of an SB3 zip or a GRPO checkpoint (--policy P adds one); random and "
                                 "oracle always run, as the references of normalised regret")
    episodes: int = option(100, f"episodes per set (at most {MAX_EPISODES})")
    env: EnvSettings = option(EnvSettings, "the episodes' settings (CausalBO-v0's, as every entry point has them)")
    levels: list[int] = option([1, 2, 3, 5, 7, 10], "curriculum levels, one set each")
    heldout: list[str] = option(list(HELDOUT), f"held-out structure sets, from {sorted(HELDOUT)}")
    named: list[str] = option(list(NAMED), f"named SCM sets, from {list(NAMED)}")
    budgets: list[int] | None = option(None, "steps after which simple regret is reported (and the horizon), each "
                                             f"in [1, env.horizon] (None: those of {list(BUDGETS)} within the "
                                             "horizon)")
    resamples: int = option(2000, "bootstrap resamples of each 95% interval")
    seed: int = option(0, "evaluation seed: episodes and the random policies derive from it")
    device: str = option("cpu", "torch device of network policies")
    progress: bool = option(True, "show a progress bar")

    def __post_init__(self) -> None:
        for name, minimum in (("episodes", 1), ("resamples", 100), ("seed", 0)):
            value = getattr(self, name)
            if value < minimum:
                raise ValueError(f"{name} = {value} is not allowed: must be an integer >= {minimum}")
        if self.episodes > MAX_EPISODES:
            raise ValueError(f"episodes = {self.episodes} is not allowed: must be at most {MAX_EPISODES}")
        if not self.policies:
            raise ValueError("policies = [] is not allowed: name at least one policy")
        check_settings(self.env)
        if self.budgets is None:
            self.budgets = default_budgets(self.env.horizon)
        check_budgets(self.budgets, self.env.horizon)


register(SCHEMA_NAME, EvaluateConfig)
