"""Policies for CausalBO environments behind one protocol, stable-baselines3's
``predict(observation, state=None, episode_start=None, deterministic=False) -> (action,
state)``, so that the evaluation harness scores baselines, SB3 models and the GRPO
policy the same way.

Every policy acts through the environment's action rule (:mod:`envs.actions`): it
returns actions of shape ``(max_nodes + 1,)`` (or ``(N, max_nodes + 1)`` for a batch of
N observations), whose argmax over the valid nodes picks the variable and whose last
entry in [-1, 1] maps onto that variable's intervention range. So no policy can choose
the target or padding, and every policy uses the environment's own range.

Policies read the observation and nothing else, except two references: :class:`OraclePolicy`
reads the episode's optimum from the environment (the floor of regret, not an agent)
and :class:`CboPolicy` reads the episode's graph (the informed reference).

* :class:`RandomPolicy`: a uniform valid variable and a uniform value over its range.
* :class:`GreedyPolicy`: a correlation heuristic (see its docstring).
* :class:`OraclePolicy`: the optimal single intervention at every step.
* :class:`GpBoPolicy`: classical Gaussian-process Bayesian optimisation over
  (variable, value), not knowing the graph.
* :class:`~agents.policies.botorch_bo.BoTorchPolicy` (``botorch``): BO with BoTorch, a
  mixed GP with the variable as a categorical input and log expected improvement; in
  its own module, imported on demand, as it needs the optional extra ``bo``.
* :class:`CboPolicy` (``cbo``): causal BO given the true graph (Aglietti et al. 2020),
  the informed reference; like the oracle it reads the environment (the graph).
"""

from __future__ import annotations

from agents.policies.base import OutcomePolicy, Policy, as_batch
from agents.policies.cbo import CboPolicy, true_knowledge
from agents.policies.gp_bo import GpBoPolicy
from agents.policies.greedy import GreedyPolicy
from agents.policies.oracle import OraclePolicy
from agents.policies.random import RandomPolicy

__all__ = ["BUILTIN", "CboPolicy", "GpBoPolicy", "GreedyPolicy", "OraclePolicy", "OutcomePolicy", "Policy",
           "RandomPolicy", "as_batch", "true_knowledge"]

BUILTIN = ("random", "greedy", "oracle", "bo", "botorch", "cbo")
"""Names of the built-in policies."""
