"""The validated arguments of a CausalBO environment, shared by the single and the
vector environment so that both accept, and refuse, exactly the same arguments: the
episode settings (:class:`~envs.settings.EnvSettings`) with the SCMs the episodes come
from and the observation's width."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from gymnasium import spaces

from causal_meta.scm import CompiledFamily, compile_family
from envs.actions import DEFAULT_INTERVENTION_RANGE
from envs.curriculum import check_level, level_family
from envs.named import NAMED_SCMS
from envs.settings import (
    HORIZON,
    MAX_OPTIMUM_GRID,
    MAX_OPTIMUM_SAMPLES,
    MAX_ROWS,
    PRODUCTION_HORIZON,
    EnvSettings,
    check_int,
)

__all__ = ["HORIZON", "MAX_OPTIMUM_CELLS", "MAX_OPTIMUM_GRID", "MAX_OPTIMUM_SAMPLES", "MAX_ROWS",
           "MAX_VECTOR_CELLS", "PRODUCTION_HORIZON", "VALUE_CLIP", "EnvConfig", "action_space", "check_vector_size",
           "compiled_family", "observation_space"]

VALUE_CLIP = 100.0
"""Bound of the standardised observation values."""

# Size bounds besides the settings' own (envs.settings): past them a reset or a vector of
# environments would ask for gigabytes. Each is refused up front, naming its fields.
MAX_OPTIMUM_CELLS = 1 << 25
"""Most target values (optimum_grid * max_nodes * optimum_samples) one optimum search draws."""
MAX_VECTOR_CELLS = 1 << 27
"""Most observation cells (num_envs * T * max_nodes) a vector environment holds."""


def check_vector_size(num_envs: Any, config: EnvConfig) -> int:
    """``num_envs`` of a vector environment with ``config``, or ValueError when its
    observation buffers would pass :data:`MAX_VECTOR_CELLS`."""
    num_envs = check_int(num_envs, "num_envs", 1)
    cells = num_envs * config.rows * config.max_nodes
    if cells > MAX_VECTOR_CELLS:
        raise ValueError(f"num_envs * T * max_nodes = {num_envs} * {config.rows} * {config.max_nodes} = {cells} is "
                         f"not allowed: must be at most {MAX_VECTOR_CELLS} observation cells; use fewer "
                         "environments or a shorter horizon")
    return num_envs


@lru_cache(maxsize=64)
def compiled_family(level: int, graph: str | None, mechanism: str | None, noise: str | None, nodes: Any
                    ) -> CompiledFamily:
    """The engine's compiled family of a level with overrides (``max_nodes``: its largest
    node count), built once per process."""
    return compile_family(level_family(level, graph=graph, mechanism=mechanism, noise=noise, nodes=nodes))


@dataclass(frozen=True, kw_only=True)
class EnvConfig(EnvSettings):
    """An environment's settings (the inherited fields; see :mod:`envs.causal_bo` for
    what each one means) with the SCMs its episodes come from and the observation's
    width ``max_nodes``. Built by :meth:`build`, which checks them together."""

    level: int | None
    benchmark: str | None
    graph: str | None
    mechanism: str | None
    noise: str | None
    nodes: Any
    max_nodes: int

    @classmethod
    def build(cls, level: int | None = None, settings: EnvSettings | None = None, *, benchmark: str | None = None,
              graph: str | None = None, mechanism: str | None = None, noise: str | None = None,
              nodes: int | tuple[int, int] | list[int] | None = None, max_nodes: int | None = None,
              **changes: Any) -> EnvConfig:
        """Check every argument, naming the field, the value and what is allowed.
        ``settings`` (default: :class:`EnvSettings`'s defaults) with ``changes``, fields
        of it given one by one, replacing its own."""
        if settings is not None and not isinstance(settings, EnvSettings):
            raise ValueError(f"settings = {settings!r} is not allowed: must be an envs.settings.EnvSettings (or None "
                             "for the defaults), its fields changed by keywords")
        settings = dataclasses.replace(settings or EnvSettings(), **changes)
        if isinstance(nodes, list):
            nodes = tuple(nodes)  # hashable, for the family cache
        if benchmark is not None:
            if benchmark not in NAMED_SCMS:
                raise ValueError(f"benchmark = {benchmark!r} is not allowed: expected one of {sorted(NAMED_SCMS)}")
            curriculum = {"level": level, "graph": graph, "mechanism": mechanism, "noise": noise, "nodes": nodes}
            given = [k for k, v in curriculum.items() if v is not None]
            if given or settings.intervention_range != DEFAULT_INTERVENTION_RANGE:
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
        elif check_int(max_nodes, "max_nodes", 2) < widest:
            raise ValueError(f"max_nodes = {max_nodes} is not allowed: the SCMs have up to {widest} nodes")
        config = cls(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(EnvSettings)}, level=level,
                     benchmark=benchmark, graph=graph, mechanism=mechanism, noise=noise, nodes=nodes,
                     max_nodes=int(max_nodes))
        search = config.optimum_grid * config.max_nodes * config.optimum_samples
        if search > MAX_OPTIMUM_CELLS:
            raise ValueError(f"optimum_grid * max_nodes * optimum_samples = {config.optimum_grid} * "
                             f"{config.max_nodes} * {config.optimum_samples} = {search} is not allowed: must be at "
                             f"most {MAX_OPTIMUM_CELLS} Monte Carlo values per reset; lower optimum_samples or "
                             "optimum_grid")
        return config

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
