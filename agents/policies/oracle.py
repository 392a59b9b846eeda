"""The oracle: the floor of regret. It reads the hidden optimum, so it is a reference
point (normalised regret 0), not an agent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["OraclePolicy"]


class OraclePolicy:
    """Plays the episode's optimal single intervention at every step.

    ``optimal_actions`` returns the actions that play the optimum of the episodes now
    running, (N, max_nodes + 1) for a batch (the vector environment's
    ``optimal_actions``) or (max_nodes + 1,) for one environment (``optimal_action``);
    it is the one privileged input of any policy here. The observation only tells the
    batch shape."""

    def __init__(self, optimal_actions: Callable[[], np.ndarray]) -> None:
        self.optimal_actions = optimal_actions

    def predict(self, observation: dict[str, np.ndarray], state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = False) -> tuple[np.ndarray, Any]:
        actions = np.asarray(self.optimal_actions(), np.float32)
        expected = np.shape(observation["target"])[:-1] + (np.shape(observation["target"])[-1] + 1,)
        if actions.shape != expected:
            raise ValueError(f"oracle actions shape = {actions.shape} is not allowed: the observation asks for "
                             f"{expected}; bind the oracle to the environment that produced the observation")
        return actions, state
