"""Classical causal-agnostic Bayesian optimisation: the number an amortized policy must
beat without being told the graph."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from agents.policies.base import RandomStartPolicy
from agents.policies.gp import fit_gp, posterior

__all__ = ["GpBoPolicy"]


class GpBoPolicy(RandomStartPolicy):
    """GP-based BO over (variable, value), fitted afresh on the episode's own
    interventional outcomes at every step.

    * Surrogate: the Gaussian process of :mod:`agents.policies.gp` from (variable, value
      entry u) to the standardised target, u in [-1, 1] being the position in the
      variable's range (so every variable's range is searched whatever its scale). It
      knows nothing of the graph; observational rows only set the prior mean (0 after
      standardisation).
    * Acquisition: expected improvement below the best outcome so far, with a margin
      ``xi``, maximised over every valid variable and ``grid`` evenly spaced values of u
      (ties to the lowest variable and value).
    * The first step of an episode, with no outcome yet, plays a uniformly random valid
      variable and value (seeded by ``seed``), the usual random initial design
      (:class:`~agents.policies.base.RandomStartPolicy`).

    The policy remembers its actions in the stable-baselines3 ``state`` (pass
    ``episode_start`` as SB3 does) and reads their outcomes from the observation.
    """

    def __init__(self, seed: int = 0, grid: int = 21, xi: float = 0.01) -> None:
        if grid < 2:
            raise ValueError(f"grid = {grid} is not allowed: must be an integer >= 2")
        super().__init__(seed)
        self.grid = np.linspace(-1.0, 1.0, grid)
        self.xi = xi

    def acquire(self, obs: dict[str, np.ndarray], i: int, valid: np.ndarray, history: list[tuple[int, float]],
                ys: np.ndarray) -> tuple[int, float]:
        fit = fit_gp(np.array([node for node, _ in history]), np.array([u for _, u in history]), ys)
        nodes = np.repeat(valid, len(self.grid))
        u = np.tile(self.grid, len(valid))
        mean, std = posterior(fit, nodes, u)
        gain = ys.min() - mean - self.xi
        z = np.divide(gain, std, out=np.zeros_like(gain), where=std > 0)
        improvement = np.where(std > 0, gain * norm.cdf(z) + std * norm.pdf(z), np.maximum(gain, 0.0))
        best = int(np.argmax(improvement))
        return int(nodes[best]), float(u[best])
