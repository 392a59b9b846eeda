"""The settings of a CausalBO episode, in one frozen object that every part of the
project shares.

:class:`EnvSettings` is the ``env`` section of every entry point's config (GRPO, the
evaluation, the SB3 baselines: one schema, each with its own preset values), and the
environments and ``agents.evaluate.evaluate`` take it whole
(``CausalBOEnv(level, settings=...)``, ``CausalBOVectorEnv(n, level, settings=...)``,
``gymnasium.make("CausalBO-v0", settings=...)``; single fields as keywords replace
those of the object, ``gymnasium.make("CausalBO-v0", horizon=30)``). A new setting is
therefore one field here, with its check, and the code that reads it.

What is not a setting: which SCMs the episodes come from (a level, its overrides or a
named SCM) and the observation's width, which each entry point chooses its own way (a
curriculum, episode sets, a list of levels, a policy's fixed width); the environment's
:class:`~envs.config.EnvConfig` joins them to these settings.

Importing this module imports neither torch nor Hydra.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

from causal_meta.options import option, require
from envs.actions import InterventionRange

__all__ = ["HORIZON", "MAX_OPTIMUM_GRID", "MAX_OPTIMUM_SAMPLES", "MAX_ROWS", "PRODUCTION_HORIZON", "EnvSettings",
           "check_int"]

HORIZON = 20
"""Default number of interventions per episode."""
PRODUCTION_HORIZON = 30
"""Interventions per episode in the production setting."""

# Size bounds: past them an environment would ask for gigabytes per observation or per
# reset. Each is refused up front, naming its fields.
MAX_ROWS = 1 << 16
"""Most rows T = n_obs + horizon * samples_per_step in one observation."""
MAX_OPTIMUM_GRID = 1025
"""Most grid points per variable in the search for an episode's optimum."""
MAX_OPTIMUM_SAMPLES = 1 << 20
"""Most Monte Carlo samples per candidate in the search for an episode's optimum."""


def check_int(value: Any, key: str, minimum: int, maximum: int | None = None) -> int:
    """``value`` as an int, or ValueError naming ``key`` unless it is an integer (numpy's
    too, a bool not) in [minimum, maximum] (no upper bound for None)."""
    allowed = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
    require(isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum
            and (maximum is None or value <= maximum), key, value, f"an integer {allowed}")
    return int(value)


def _finite(value: Any, key: str) -> float:
    require(isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value), key, value,
            "a finite number")
    return float(value)


_INTEGERS = {"n_obs": (0, MAX_ROWS), "samples_per_step": (1, MAX_ROWS), "horizon": (1, MAX_ROWS),
             "optimum_grid": (2, MAX_OPTIMUM_GRID)}
"""The integer settings with their bounds (optimum_samples, which may also be 0, aside)."""


@dataclass(frozen=True)
class EnvSettings:
    """How a CausalBO episode is played and scored, whatever SCM it hides (see
    :mod:`envs.causal_bo` for what each setting means).

    Checked when built, errors naming ``env.<field>``, the value and what is allowed;
    values are stored as plain int and float, and ``intervention_range`` may be given as
    w (for [-w, w]) or a pair (low, high) and is stored as an InterventionRange.
    """

    n_obs: int = option(10, "observational rows an episode starts with")
    samples_per_step: int = option(1, "rows each intervention adds (samples of the same intervention)")
    horizon: int = option(HORIZON, "interventions per episode; the episode is truncated after the last")
    intervention_range: InterventionRange = option(
        InterventionRange, "the values a curriculum SCM's variable may be set to, in its observational standard "
                           "deviations around its mean (named SCMs have their published domains)")
    w_target: float = option(0.9, "reward weight of the (negated, standardised) target")
    w_parent: float = option(0.1, "reward weight of choosing a true parent")
    w_info: float = option(0.0, "reward weight of the surrogate's entropy drop (information gain)")
    optimum_grid: int = option(17, f"grid points per variable in the search for a nonlinear SCM's optimum "
                                   f"(2 to {MAX_OPTIMUM_GRID})")
    optimum_samples: int = option(128, f"Monte Carlo samples per expected target of nonlinear SCMs (2 to "
                                       f"{MAX_OPTIMUM_SAMPLES}; 0: skip the optimum, regrets are NaN)")

    def __post_init__(self) -> None:
        normal: dict[str, Any] = {name: check_int(getattr(self, name), f"env.{name}", *bounds)
                                  for name, bounds in _INTEGERS.items()}
        samples = self.optimum_samples
        require(isinstance(samples, numbers.Integral) and not isinstance(samples, bool)
                and (samples == 0 or 2 <= samples <= MAX_OPTIMUM_SAMPLES), "env.optimum_samples", samples,
                f"an integer in [2, {MAX_OPTIMUM_SAMPLES}], or 0 for no optimum")
        normal["optimum_samples"] = int(samples)
        normal.update({name: _finite(getattr(self, name), f"env.{name}") for name in ("w_target", "w_parent",
                                                                                      "w_info")})
        normal["intervention_range"] = InterventionRange.of(self.intervention_range)
        for name, value in normal.items():
            object.__setattr__(self, name, value)  # frozen: the canonical values are set once, here
        if self.rows > MAX_ROWS:
            raise ValueError(f"n_obs + horizon * samples_per_step = {self.n_obs} + {self.horizon} * "
                             f"{self.samples_per_step} = {self.rows} is not allowed: must be at most {MAX_ROWS} "
                             "rows per observation (env.n_obs, env.horizon, env.samples_per_step)")

    @property
    def rows(self) -> int:
        """T: observational rows plus the rows of a full-length episode."""
        return self.n_obs + self.horizon * self.samples_per_step
