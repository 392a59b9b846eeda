"""Wrappers for CausalBO environments.

* :class:`FlattenObservation` turns the Dict observation into one float32 vector, for
  algorithms and policies that need a Box (stable-baselines3's ``MlpPolicy``, for
  instance).
* :class:`ParentProbabilityObservation` adds the surrogate's parent probabilities of the
  target as a channel, so that a policy can condition on the current structure belief.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["FlattenObservation", "ParentProbabilityObservation"]


class FlattenObservation(gym.ObservationWrapper[np.ndarray, np.ndarray, dict[str, np.ndarray]]):
    """The Dict observation as one float32 vector, laid out exactly as
    ``gymnasium.spaces.flatten`` does (the Dict's keys in order, each array raveled), with
    ``gymnasium.spaces.flatten_space`` as its space.

    Gymnasium's own ``FlattenObservation`` gives the same vector, but its generic
    per-subspace dispatch costs about 7 µs per step here, a third of a step; one
    ``np.concatenate`` costs under 2 µs.
    """

    def __init__(self, env: gym.Env[dict[str, np.ndarray], Any]) -> None:
        super().__init__(env)
        if not isinstance(env.observation_space, spaces.Dict):
            raise ValueError(f"observation_space = {env.observation_space} is not allowed: "
                             "FlattenObservation expects a Dict of arrays")
        self._keys = list(env.observation_space.spaces)
        self.observation_space = spaces.flatten_space(env.observation_space)

    def observation(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([observation[k].ravel() for k in self._keys], dtype=self.observation_space.dtype)


class ParentProbabilityObservation(gym.ObservationWrapper[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]):
    """Adds ``"parent_probs"``, ``Box(0, 1, (max_nodes,), float32)``: the probability,
    under the environment's surrogate, that each variable is a parent of the target.

    The environment computes these probabilities anyway (for the info-gain reward), so
    the wrapper reads them rather than calling the surrogate a second time; the
    environment must therefore be built with ``surrogate=...``.
    """

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        super().__init__(env)
        if getattr(env.unwrapped, "surrogate", None) is None:
            raise ValueError("ParentProbabilityObservation needs an environment built with surrogate=...; "
                             "got surrogate = None")
        width = env.observation_space["node_mask"].n
        self.observation_space = spaces.Dict({
            **env.observation_space.spaces,
            "parent_probs": spaces.Box(0.0, 1.0, (width,), np.float32),
        })

    def observation(self, observation: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        probs = self.env.unwrapped.parent_probabilities.astype(np.float32)
        return {**observation, "parent_probs": probs}
