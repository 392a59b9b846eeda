"""The CausalBO vector environment as a stable-baselines3 ``VecEnv``.

Gymnasium 1.x vector environments reset a finished sub-environment on the *next* step
(``AutoresetMode.NEXT_STEP``); SB3 expects the finished sub-environment to be reset in
the same step, with its last observation in ``infos[i]["terminal_observation"]``. This
adapter does that over the engine-batched :class:`~envs.vector.CausalBOVectorEnv`, and:

* draws each new episode's curriculum level uniformly from ``levels`` (from its own
  generator, seeded through SB3's ``seed``), so one run trains on several levels;
* marks the end of an episode as a truncation (``TimeLimit.truncated``: the horizon
  ends it, not the task), so that PPO bootstraps from the value of the last state;
* adds SB3's ``infos[i]["episode"]`` (return ``r`` and length ``l``, as its Monitor
  wrapper does) and ``infos[i]["causalbo"]``: the finished episode's simple and
  cumulative regret in target standard deviations and its parent rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from envs.config import EnvConfig
from envs.curriculum import check_level
from envs.settings import EnvSettings
from envs.vector import CausalBOVectorEnv

__all__ = ["CausalBOVecEnv"]


class CausalBOVecEnv(VecEnv):
    """``num_envs`` CausalBO episodes stepped together, levels drawn from ``levels``;
    ``settings`` and other keyword arguments as :class:`~envs.causal_bo.CausalBOEnv`
    (max_nodes defaults to the widest of the levels)."""

    def __init__(self, num_envs: int, levels: Sequence[int], settings: EnvSettings | None = None, *,
                 max_nodes: int | None = None, **kwargs: Any) -> None:
        if not levels:
            raise ValueError("levels = [] is not allowed: give at least one curriculum level")
        self.levels = [check_level(level, "levels entry") for level in levels]
        if max_nodes is None:
            max_nodes = max(EnvConfig.build(level, settings, **kwargs).max_nodes for level in self.levels)
        self.env = CausalBOVectorEnv(num_envs, self.levels[0], settings=settings, max_nodes=max_nodes, **kwargs)
        super().__init__(num_envs, self.env.single_observation_space, self.env.single_action_space)
        self.rng = np.random.default_rng()
        self._actions: np.ndarray | None = None
        self._return = np.zeros(num_envs)
        self._parents = np.zeros(num_envs)
        self._steps = np.zeros(num_envs, np.int64)
        self._target_std = np.ones(num_envs)

    def _start(self, mask: np.ndarray, seed: int | None = None) -> dict[str, np.ndarray]:
        """Start new episodes in the sub-environments of ``mask``, each at a level drawn
        from ``levels`` (sub-environment i seeded ``seed + i`` when a seed is given); the
        observation of all sub-environments afterwards."""
        chosen = self.rng.choice(self.levels, size=self.num_envs)
        observation: dict[str, np.ndarray] = {}
        for level in np.unique(chosen[mask]).tolist():
            part = mask & (chosen == level)
            observation, info = self.env.reset(seed=seed, options={"reset_mask": part, "level": level})
            self._target_std[part] = info["target_std"][part]
        self._return[mask], self._parents[mask], self._steps[mask] = 0.0, 0.0, 0
        return observation

    def reset(self) -> dict[str, np.ndarray]:
        seed = self._seeds[0]
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self._reset_seeds()
        return self._start(np.ones(self.num_envs, bool), seed)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, list[dict[str, Any]]]:
        observation, reward, terminated, truncated, info = self.env.step(self._actions)
        done = terminated | truncated
        self._return += reward
        self._parents += info["is_parent"]
        self._steps += 1
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if done.any():
            terminal = {key: value.copy() for key, value in observation.items()}
            for i in np.flatnonzero(done).tolist():
                infos[i] = {
                    "terminal_observation": {key: value[i] for key, value in terminal.items()},
                    "TimeLimit.truncated": bool(truncated[i] and not terminated[i]),
                    "episode": {"r": float(self._return[i]), "l": int(self._steps[i])},
                    "causalbo": {"simple_regret_std": float(info["simple_regret"][i] / self._target_std[i]),
                                 "cumulative_regret_std": float(info["cumulative_regret"][i] / self._target_std[i]),
                                 "parent_rate": float(self._parents[i] / self._steps[i]),
                                 "level": int(info["level"][i])},
                }
            observation = self._start(done)
        return observation, reward.astype(np.float32), done, infos

    def close(self) -> None:
        self.env.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self.env, attr_name)] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        raise AttributeError(f"set_attr({attr_name!r}) is not supported: the sub-environments share one engine batch")

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        raise AttributeError(f"env_method({method_name!r}) is not supported: the sub-environments share one engine "
                             "batch")

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: Any = None) -> list[bool]:
        return [False] * len(self._indices(indices))

    def _indices(self, indices: Any) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)
