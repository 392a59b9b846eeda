"""Gymnasium environments for causal Bayesian optimisation.

Importing this package registers the ids below (again on every import, harmlessly: an id
that is already registered is left alone), so both ``import envs;
gymnasium.make("CausalBO-v0", level=5)`` and ``gymnasium.make("envs:CausalBO-v0",
level=5)`` work.

* ``CausalBO-v0``: the curriculum environment (:mod:`envs.causal_bo`), with a vector
  entry point (:mod:`envs.vector`) for ``gymnasium.make_vec(...,
  vectorization_mode="vector_entry_point")``.
* ``CausalBO-ToyGraph-v0``, ``CausalBO-PSA-v0`` and ``CausalBO-CompleteGraph-v0``: the
  named benchmark SCMs of :mod:`envs.named`.

Registration adds no TimeLimit: an environment truncates its episodes after its own
``horizon`` (:data:`~envs.causal_bo.HORIZON` by default), so that
``gymnasium.make("CausalBO-v0", horizon=30)`` plays 30 steps. The episode settings can
also be given whole, ``settings=``:class:`~envs.settings.EnvSettings`.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from envs.actions import DEFAULT_INTERVENTION_RANGE, InterventionRange
from envs.causal_bo import HORIZON, PRODUCTION_HORIZON, CausalBOEnv
from envs.curriculum import LEVELS, MAX_LEVEL
from envs.settings import EnvSettings

__all__ = ["DEFAULT_INTERVENTION_RANGE", "HORIZON", "IDS", "LEVELS", "MAX_LEVEL", "PRODUCTION_HORIZON", "CausalBOEnv",
           "EnvSettings", "InterventionRange"]

IDS = {
    "CausalBO-v0": {},
    "CausalBO-ToyGraph-v0": {"benchmark": "toy_graph"},
    "CausalBO-PSA-v0": {"benchmark": "psa"},
    "CausalBO-CompleteGraph-v0": {"benchmark": "complete_graph"},
}
"""Registered ids and the constructor arguments each one fixes."""

for _id, _kwargs in IDS.items():
    if _id not in registry:
        register(
            id=_id,
            entry_point="envs.causal_bo:CausalBOEnv",
            vector_entry_point="envs.vector:CausalBOVectorEnv" if not _kwargs else None,
            kwargs=_kwargs,
        )
