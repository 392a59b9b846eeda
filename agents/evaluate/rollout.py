"""Run a policy on an episode set and keep what every step reported.

All episodes of a set run side by side in one Gymnasium vector environment, so that a
policy predicts for the whole batch at once: the engine-batched
:class:`~envs.vector.CausalBOVectorEnv` for curriculum sets, a ``SyncVectorEnv`` of
single environments for the named SCMs (their numpy SCMs are not engine SCMs). Both are
seeded so that sub-environment i plays episode i of the set, and both give the same
records (the vector environment equals single environments bit for bit).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import partial
from typing import Any

import numpy as np
from gymnasium.vector import SyncVectorEnv, VectorEnv

from agents.evaluate.sets import EpisodeSet
from agents.policies import Policy
from envs.causal_bo import CausalBOEnv
from envs.settings import EnvSettings
from envs.vector import CausalBOVectorEnv

__all__ = ["Records", "make_env", "optimal_actions", "run_set"]

_STEP_KEYS = ("node", "value", "target_value", "expected_target", "expected_stderr", "is_parent", "simple_regret",
              "cumulative_regret", "best_target_value")


@dataclass
class Records:
    """What one policy did on one set: per-episode arrays (E,) and per-step arrays (E, H)."""

    seeds: np.ndarray
    level: np.ndarray
    """Curriculum level of each episode (0 for named SCMs)."""
    target_std: np.ndarray
    optimal_node: np.ndarray
    optimal_value: np.ndarray
    optimal_expected_target: np.ndarray
    optimal_stderr: np.ndarray
    node: np.ndarray
    value: np.ndarray
    entry: np.ndarray
    """The action's value entry, clipped to [-1, 1]: the position in the node's range."""
    reward: np.ndarray
    target_value: np.ndarray
    expected_target: np.ndarray
    expected_stderr: np.ndarray
    is_parent: np.ndarray
    simple_regret: np.ndarray
    cumulative_regret: np.ndarray
    best_target_value: np.ndarray
    seconds: float
    """Wall time of the rollout (environment and policy)."""

    def to_json(self) -> dict[str, Any]:
        """Plain lists, for results.json."""
        return {f.name: (getattr(self, f.name).tolist() if f.name != "seconds" else self.seconds)
                for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Records:
        return cls(**{f.name: (np.asarray(data[f.name]) if f.name != "seconds" else float(data[f.name]))
                      for f in fields(cls)})


def make_env(episode_set: EpisodeSet, settings: EnvSettings, width: int | None = None, vectorised: bool = True
             ) -> VectorEnv:
    """A vector environment with one sub-environment per episode of the set, its
    episodes played with ``settings``; ``width`` fixes max_nodes (for policies of a fixed
    observation width)."""
    kwargs: dict[str, Any] = {**episode_set.env, "settings": settings}
    if width is not None:
        kwargs["max_nodes"] = width
    if vectorised and episode_set.vectorised:
        return CausalBOVectorEnv(episode_set.episodes, **kwargs)
    return SyncVectorEnv([partial(CausalBOEnv, **kwargs)] * episode_set.episodes)


def optimal_actions(env: VectorEnv) -> np.ndarray:
    """The actions that play the optimum in every sub-environment (the oracle's input)."""
    if isinstance(env, CausalBOVectorEnv):
        return env.optimal_actions()
    return np.stack([sub.unwrapped.optimal_action() for sub in env.envs])


def run_set(build: Callable[[VectorEnv], Policy], episode_set: EpisodeSet, env: VectorEnv, horizon: int,
            progress: Callable[[int], None] | None = None) -> Records:
    """Play ``horizon`` steps in every episode of the set with the policy that ``build``
    makes for ``env`` (deterministic predictions, SB3's state and episode starts passed
    along), and keep every step's info."""
    n = episode_set.episodes
    start = time.perf_counter()
    observation, info = env.reset(seed=episode_set.seed)
    policy = build(env)
    steps: dict[str, np.ndarray] = {key: np.zeros((n, horizon)) for key in (*_STEP_KEYS, "reward", "entry")}
    state: Any = None
    episode_start = np.ones(n, bool)
    for t in range(horizon):
        actions, state = policy.predict(observation, state, episode_start, deterministic=True)
        actions = np.asarray(actions, np.float32)
        episode_start = np.zeros(n, bool)
        observation, reward, _, _, step_info = env.step(actions)
        for key in _STEP_KEYS:
            steps[key][:, t] = np.asarray(step_info[key], np.float64)
        steps["reward"][:, t] = reward
        steps["entry"][:, t] = np.clip(actions[:, -1], -1.0, 1.0)
        if progress is not None:
            progress(n)
    seconds = time.perf_counter() - start
    level = np.array([0 if v is None else int(v) for v in info["level"]], np.int64)
    return Records(
        seeds=np.array([episode_set.env_seed(i) for i in range(n)], np.uint64), level=level,
        target_std=np.asarray(info["target_std"], np.float64),
        optimal_node=np.asarray(info["optimal_node"], np.int64),
        optimal_value=np.asarray(info["optimal_value"], np.float64),
        optimal_expected_target=np.asarray(info["optimal_expected_target"], np.float64),
        optimal_stderr=np.asarray(info["optimal_stderr"], np.float64),
        node=steps["node"].astype(np.int64), value=steps["value"], entry=steps["entry"], reward=steps["reward"],
        target_value=steps["target_value"], expected_target=steps["expected_target"],
        expected_stderr=steps["expected_stderr"], is_parent=steps["is_parent"].astype(bool),
        simple_regret=steps["simple_regret"], cumulative_regret=steps["cumulative_regret"],
        best_target_value=steps["best_target_value"], seconds=seconds)
