"""The validated settings of a CausalBO environment, shared by the single and the
vector environment so that both accept, and refuse, exactly the same arguments."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from gymnasium import spaces

from causal_meta.scm import CompiledFamily, compile_family
from envs.actions import DEFAULT_INTERVENTION_RANGE, InterventionRange
from envs.curriculum import check_level, level_family
from envs.named import NAMED_SCMS

__all__ = ["HORIZON", "MAX_OPTIMUM_CELLS", "MAX_OPTIMUM_GRID", "MAX_OPTIMUM_SAMPLES", "MAX_ROWS",
           "MAX_VECTOR_CELLS", "PRODUCTION_HORIZON", "VALUE_CLIP", "EnvConfig", "action_space", "check_vector_size",
           "compiled_family", "observation_space"]

HORIZON = 20
"""Default number of interventions per episode."""
PRODUCTION_HORIZON = 30
"""Interventions per episode in the production setting."""
VALUE_CLIP = 100.0
"""Bound of the standardised observation values."""

# Size bounds: past them an environment would ask for gigabytes per observation, per
# reset or per vector of environments. Each is refused up front, naming its fields.
MAX_ROWS = 1 << 16
"""Most rows T = n_obs + horizon * samples_per_step in one observation."""
MAX_OPTIMUM_GRID = 1025
"""Most grid points per variable in the search for an episode's optimum."""
MAX_OPTIMUM_SAMPLES = 1 << 20
"""Most Monte Carlo samples per candidate in the search for an episode's optimum."""
MAX_OPTIMUM_CELLS = 1 << 25
"""Most target values (optimum_grid * max_nodes * optimum_samples) one optimum search draws."""
MAX_VECTOR_CELLS = 1 << 27
"""Most observation cells (num_envs * T * max_nodes) a vector environment holds."""


def _int_at_least(value: Any, field: str, minimum: int, maximum: int | None = None) -> int:
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum
            or (maximum is not None and value > maximum)):
        allowed = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{field} = {value!r} is not allowed: must be an integer {allowed}")
    return int(value)


def check_vector_size(num_envs: Any, config: EnvConfig) -> int:
    """``num_envs`` of a vector environment with ``config``, or ValueError when its
    observation buffers would pass :data:`MAX_VECTOR_CELLS`."""
    num_envs = _int_at_least(num_envs, "num_envs", 1)
    cells = num_envs * config.rows * config.max_nodes
    if cells > MAX_VECTOR_CELLS:
        raise ValueError(f"num_envs * T * max_nodes = {num_envs} * {config.rows} * {config.max_nodes} = {cells} is "
                         f"not allowed: must be at most {MAX_VECTOR_CELLS} observation cells; use fewer "
                         "environments or a shorter horizon")
    return num_envs


def _finite(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{field} = {value!r} is not allowed: must be a finite number")
    return float(value)


@lru_cache(maxsize=64)
def compiled_family(level: int, graph: str | None, mechanism: str | None, noise: str | None, nodes: Any
                    ) -> CompiledFamily:
    """The engine's compiled family of a level with overrides (``max_nodes``: its largest
    node count), built once per process."""
    return compile_family(level_family(level, graph=graph, mechanism=mechanism, noise=noise, nodes=nodes))


@dataclass(frozen=True)
class EnvConfig:
    """Environment settings; see :mod:`envs.causal_bo` for what each one means."""

    level: int | None
    benchmark: str | None
    graph: str | None
    mechanism: str | None
    noise: str | None
    nodes: Any
    max_nodes: int
    n_obs: int
    samples_per_step: int
    horizon: int
    intervention_range: InterventionRange
    w_target: float
    w_parent: float
    w_info: float
    optimum_grid: int
    optimum_samples: int

    @classmethod
    def build(cls, level: int | None = None, *, benchmark: str | None = None, graph: str | None = None,
              mechanism: str | None = None,
              noise: str | None = None, nodes: int | tuple[int, int] | list[int] | None = None,
              max_nodes: int | None = None, n_obs: int = 10, samples_per_step: int = 1, horizon: int = HORIZON,
              intervention_range: Any = DEFAULT_INTERVENTION_RANGE, w_target: float = 0.9, w_parent: float = 0.1,
              w_info: float = 0.0, optimum_grid: int = 17, optimum_samples: int = 128) -> EnvConfig:
        """Check every argument, naming the field, the value and what is allowed."""
        if isinstance(nodes, list):
            nodes = tuple(nodes)  # hashable, for the family cache
        if benchmark is not None:
            if benchmark not in NAMED_SCMS:
                raise ValueError(f"benchmark = {benchmark!r} is not allowed: expected one of {sorted(NAMED_SCMS)}")
            curriculum = {"level": level, "graph": graph, "mechanism": mechanism, "noise": noise, "nodes": nodes}
            given = [k for k, v in curriculum.items() if v is not None]
            if given or intervention_range is not DEFAULT_INTERVENTION_RANGE:
                field = given[0] if given else "intervention_range"
                raise ValueError(f"{field} is not allowed with benchmark = {benchmark!r}: a named SCM has a fixed "
                                 "graph, mechanisms and published intervention domains")
            widest = NAMED_SCMS[benchmark]().d
        else:
            level = check_level(1 if level is None else level)
            if nodes is not None and not isinstance(nodes, str) and min(np.atleast_1d(nodes)) < 2:
                raise ValueError(f"nodes = {nodes!r} is not allowed: needs at least 2 nodes, since the target "
                                 "must have a parent")
            widest = compiled_family(level, graph, mechanism, noise, nodes).max_nodes
        if max_nodes is None:
            max_nodes = widest
        elif _int_at_least(max_nodes, "max_nodes", 2) < widest:
            raise ValueError(f"max_nodes = {max_nodes} is not allowed: the SCMs have up to {widest} nodes")
        config = cls(
            level=level, benchmark=benchmark, graph=graph, mechanism=mechanism, noise=noise, nodes=nodes,
            max_nodes=max_nodes,
            n_obs=_int_at_least(n_obs, "n_obs", 0, MAX_ROWS),
            samples_per_step=_int_at_least(samples_per_step, "samples_per_step", 1, MAX_ROWS),
            horizon=_int_at_least(horizon, "horizon", 1, MAX_ROWS),
            intervention_range=InterventionRange.of(intervention_range),
            w_target=_finite(w_target, "w_target"), w_parent=_finite(w_parent, "w_parent"),
            w_info=_finite(w_info, "w_info"),
            optimum_grid=_int_at_least(optimum_grid, "optimum_grid", 2, MAX_OPTIMUM_GRID),
            optimum_samples=0 if optimum_samples == 0 and not isinstance(optimum_samples, bool)
            else _int_at_least(optimum_samples, "optimum_samples", 2, MAX_OPTIMUM_SAMPLES),
        )
        if config.rows > MAX_ROWS:
            raise ValueError(f"n_obs + horizon * samples_per_step = {config.n_obs} + {config.horizon} * "
                             f"{config.samples_per_step} = {config.rows} is not allowed: must be at most {MAX_ROWS} "
                             "rows per observation")
        search = config.optimum_grid * config.max_nodes * config.optimum_samples
        if search > MAX_OPTIMUM_CELLS:
            raise ValueError(f"optimum_grid * max_nodes * optimum_samples = {config.optimum_grid} * "
                             f"{config.max_nodes} * {config.optimum_samples} = {search} is not allowed: must be at "
                             f"most {MAX_OPTIMUM_CELLS} Monte Carlo values per reset; lower optimum_samples or "
                             "optimum_grid")
        return config

    @property
    def rows(self) -> int:
        """T: observational rows plus the rows of a full-length episode."""
        return self.n_obs + self.horizon * self.samples_per_step

    def family(self, level: int) -> CompiledFamily:
        """The compiled family of ``level`` under this configuration's overrides."""
        return compiled_family(level, self.graph, self.mechanism, self.noise, self.nodes)

    def next_level(self, options: dict[str, Any] | None, level: int | None) -> int | None:
        """The level after ``reset(options=...)``, or ValueError for a bad option."""
        if not options:
            return level
        unknown = sorted(set(options) - {"level"})
        if unknown:
            raise ValueError(f"options key {unknown[0]!r} is not allowed: allowed keys are ['level']")
        if self.benchmark is not None:
            raise ValueError(f"options['level'] is not allowed with benchmark = {self.benchmark!r}")
        new = check_level(options["level"], "options['level']")
        width = self.family(new).max_nodes
        if width > self.max_nodes:
            raise ValueError(f"options['level'] = {new} is not allowed: its SCMs have up to {width} nodes but "
                             f"max_nodes = {self.max_nodes}; build the environment with max_nodes >= {width}")
        return new

    def observation_space(self) -> spaces.Dict:
        return observation_space(self.rows, self.max_nodes)

    def action_space(self) -> spaces.Box:
        return action_space(self.max_nodes)


def observation_space(rows: int, max_nodes: int) -> spaces.Dict:
    """The observation space of an environment with T = ``rows`` rows and width
    ``max_nodes`` (see :mod:`envs.causal_bo`)."""
    t, d = rows, max_nodes
    return spaces.Dict({
        "samples": spaces.Box(-VALUE_CLIP, VALUE_CLIP, (t, d), np.float32),
        "intervened": spaces.MultiBinary((t, d)),
        "row_mask": spaces.MultiBinary(t),
        "node_mask": spaces.MultiBinary(d),
        "target": spaces.MultiBinary(d),
        "valid": spaces.MultiBinary(d),
    })


def action_space(max_nodes: int) -> spaces.Box:
    """The action space of an environment of width ``max_nodes``."""
    return spaces.Box(-1.0, 1.0, (max_nodes + 1,), np.float32)
