"""The random baseline: the reference point of normalised regret (random = 1)."""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.policies.base import as_batch
from envs.actions import one_hot_actions

__all__ = ["RandomPolicy"]


class RandomPolicy:
    """Each step, a variable drawn uniformly from the valid ones (``observation["valid"]``:
    never the target or padding) and a value drawn uniformly over that variable's
    intervention range (a uniform value entry in [-1, 1]). Seeded by ``seed``."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def predict(self, observation: dict[str, np.ndarray], state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = False) -> tuple[np.ndarray, Any]:
        obs, single = as_batch(observation)
        valid = np.asarray(obs["valid"], bool)
        # The argmax of uniform scores over the valid nodes is a uniform valid node.
        nodes = np.where(valid, self.rng.random(valid.shape), -1.0).argmax(axis=1)
        actions = one_hot_actions(nodes, self.rng.uniform(-1.0, 1.0, len(nodes)), valid.shape[1])
        return (actions[0] if single else actions), state
