"""The CausalBO curriculum: 15 levels of SCM families, from 3-node motifs to 50-node
scale-free graphs.

Each level adds one kind of difficulty at a time. Node ranges grow level by level; a new
structure tier keeps linear-Gaussian mechanisms until the agent has seen it, and
nonlinear mechanisms enter on a graph type the agent already knows (level 12), one level
before the graph type changes again.

=====  ==============================================  ========  =====================
Level  Graphs (drawn with equal probability)           Nodes     Mechanisms
=====  ==============================================  ========  =====================
1      chain                                           3         linear
2      chain, fork                                     3-4       linear
3      chain, fork, collider                           3-5       linear
4      diamond, butterfly                              5-6       linear
5      diamond, butterfly, layered (3 layers, p 0.5)   5-8       linear
6      diamond, butterfly, layered, bipartite (p 0.5)  6-9       linear
7      Erdos-Renyi, 1 edge per node                    10-14     linear
8      Erdos-Renyi, 1.5 edges per node                 12-17     linear
9      Erdos-Renyi, 2 edges per node                   14-20     linear
10     small-world (Watts-Strogatz k 4, rewire 0.3)    16-22     linear
11     small-world                                     18-26     linear
12     small-world                                     20-30     mixed
13     scale-free (Barabasi-Albert m 2)                25-35     mixed
14     scale-free                                      30-42     mixed
15     scale-free                                      35-50     mixed
=====  ==============================================  ========  =====================

Definitions (:mod:`causal_meta.specs`): a chain is 0 -> 1 -> ... -> d-1; a fork is one
cause with d-1 effects; a collider is d-1 causes of one effect; a diamond is a source,
d-2 parallel mediators and a sink; a butterfly is floor((d-1)/2) sources -> a hub ->
sinks, plus source i -> sink i. The engine relabels nodes by a random permutation, so a
variable's index says nothing about its role.

Mechanisms (:data:`MECHANISMS`): ``linear`` is x = w . pa + noise with weights a random
sign times U[0.5, 2]; ``mixed`` draws per node a linear, an MLP (16 hidden ReLU units)
or a GP (64 random Fourier features) mechanism with equal probability. The MLP and GP
are narrower than the engine's pre-training defaults because an environment samples
one row per step, where their cost per row dominates. Noise (:data:`NOISES`) is Gaussian
with a per-node standard deviation drawn from U[0.5, 1]; ``laplace`` and ``uniform`` keep
those standard deviations with another shape. Laws without a finite variance (Cauchy)
are not offered: the environment standardises variables by their observational
standard deviation.

Overrides (keyword arguments of :func:`level_family` and of the environment): ``graph``
(a key of :data:`GRAPHS`), ``mechanism`` (a key of :data:`MECHANISMS`), ``noise`` (a
key of :data:`NOISES`) and ``nodes`` (an int or a ``(min, max)`` pair) replace the
level's entry for every level. ``graph`` also reaches structures that no level uses
(stochastic block models, random geometric graphs, trees), which is how evaluation
builds held-out episodes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from causal_meta.scm import Scm
from causal_meta.specs import (
    Bipartite,
    Butterfly,
    Chain,
    Collider,
    Diamond,
    Er,
    Family,
    Fork,
    GaussianNoise,
    Geometric,
    Gp,
    GraphSpec,
    Hierarchical,
    LaplaceNoise,
    Layered,
    Linear,
    MechanismSpec,
    Mixture,
    Mlp,
    NoiseSpec,
    ScaleFree,
    SmallWorld,
    SpecError,
    StochasticBlock,
    Uniform,
    UniformNoise,
    parse_family,
)

__all__ = ["GRAPHS", "LEVELS", "MAX_LEVEL", "MECHANISMS", "NOISES", "Level", "check_level", "level_family"]

MECHANISMS: dict[str, MechanismSpec] = {
    "linear": Linear(),
    "mlp": Mlp(hidden=16),
    "gp": Gp(features=64),
    "mixed": Mixture([Linear(), Mlp(hidden=16), Gp(features=64)], [1.0, 1.0, 1.0]),
}
"""Mechanism families by keyword."""

_STD = (0.5, 1.0)
NOISES: dict[str, NoiseSpec] = {
    "gaussian": GaussianNoise(Uniform(*_STD)),
    "laplace": LaplaceNoise(Uniform(_STD[0] / math.sqrt(2.0), _STD[1] / math.sqrt(2.0))),
    "uniform": UniformNoise(Uniform(*_STD)),
}
"""Noise laws by keyword, all with a per-node standard deviation uniform on [0.5, 1]."""


@dataclass(frozen=True)
class Level:
    """One row of the curriculum table."""

    index: int
    graphs: tuple[GraphSpec, ...]
    nodes: tuple[int, int]
    mechanism: str

    @property
    def graph(self) -> GraphSpec:
        """The level's graph spec: the single graph, or an equal-weight mixture."""
        if len(self.graphs) == 1:
            return self.graphs[0]
        return Mixture(list(self.graphs), [1.0] * len(self.graphs))


GRAPHS: dict[str, GraphSpec] = {
    "chain": Chain(), "fork": Fork(), "collider": Collider(), "diamond": Diamond(), "butterfly": Butterfly(),
    "layered": Layered(layers=3, edge_prob=0.5), "bipartite": Bipartite(edge_prob=0.5),
    "er1": Er(edges_per_node=1.0), "er2": Er(edges_per_node=2.0), "ws": SmallWorld(k=4, rewire_prob=0.3),
    "sf": ScaleFree(m=2), "sbm": StochasticBlock(blocks=3, p_in=0.5, p_out=0.05), "grg": Geometric(radius=0.3),
    "tree": Hierarchical(branching=2),
}
"""Graph structures by keyword: those of the curriculum, and ``sbm`` (3 blocks, edge
probability 0.5 within and 0.05 across), ``grg`` (random geometric, radius 0.3) and
``tree`` (binary out-tree), which no level uses."""

_MOTIFS = tuple(GRAPHS[k] for k in ("chain", "fork", "collider"))
_MEDIUM = tuple(GRAPHS[k] for k in ("diamond", "butterfly", "layered", "bipartite"))
_WS = GRAPHS["ws"]
_SF = GRAPHS["sf"]

LEVELS: tuple[Level, ...] = (
    Level(1, _MOTIFS[:1], (3, 3), "linear"),
    Level(2, _MOTIFS[:2], (3, 4), "linear"),
    Level(3, _MOTIFS, (3, 5), "linear"),
    Level(4, _MEDIUM[:2], (5, 6), "linear"),
    Level(5, _MEDIUM[:3], (5, 8), "linear"),
    Level(6, _MEDIUM, (6, 9), "linear"),
    Level(7, (GRAPHS["er1"],), (10, 14), "linear"),
    Level(8, (Er(edges_per_node=1.5),), (12, 17), "linear"),
    Level(9, (GRAPHS["er2"],), (14, 20), "linear"),
    Level(10, (_WS,), (16, 22), "linear"),
    Level(11, (_WS,), (18, 26), "linear"),
    Level(12, (_WS,), (20, 30), "mixed"),
    Level(13, (_SF,), (25, 35), "mixed"),
    Level(14, (_SF,), (30, 42), "mixed"),
    Level(15, (_SF,), (35, 50), "mixed"),
)
"""The table above; ``LEVELS[k - 1]`` is level k."""

MAX_LEVEL = len(LEVELS)


def check_level(level: Any, field: str = "level") -> int:
    """``level`` as an int in [1, MAX_LEVEL], or a ValueError naming ``field``."""
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not 1 <= level <= MAX_LEVEL:
        raise ValueError(f"{field} = {level!r} is not allowed: must be an integer in [1, {MAX_LEVEL}]")
    return int(level)


def _keyword(value: Any, table: dict[str, Any], field: str) -> Any:
    if value not in table:
        raise ValueError(f"{field} = {value!r} is not allowed: expected one of {sorted(table)}")
    return table[value]


def level_family(level: int, *, graph: str | None = None, mechanism: str | None = None, noise: str | None = None,
                 nodes: int | tuple[int, int] | None = None) -> Family:
    """The SCM family of ``level`` with the given overrides.

    Raises ValueError naming the field for an unknown level or keyword, and for a node
    count the level's graphs cannot have (a small-world ring needs more than 4 nodes,
    for instance): the engine checks the family once here, not at the first reset.
    """
    row = LEVELS[check_level(level) - 1]
    try:
        family = parse_family({
            "nodes": row.nodes if nodes is None else nodes,
            "graph": row.graph if graph is None else _keyword(graph, GRAPHS, "graph"),
            "mechanism": _keyword(row.mechanism if mechanism is None else mechanism, MECHANISMS, "mechanism"),
            "noise": _keyword("gaussian" if noise is None else noise, NOISES, "noise"),
        })
    except SpecError as e:
        raise ValueError(str(e).replace("family.nodes", "nodes")) from None
    try:
        Scm.from_family(family.to_json(), 0)
    except ValueError as e:
        raise ValueError(f"level {level} with nodes = {nodes!r}: {e}") from None
    return family
