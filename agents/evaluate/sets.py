"""The fixed, seeded episode sets that policies are evaluated on.

A set is a list of environment arguments plus a number of episodes; episode i of a set
is the first episode of an environment seeded ``set.seed + i``, so it is a pure
function of the set's name, the evaluation seed and i, and every policy meets the same
episodes. Evaluation seeds are at least :data:`EVALUATION_SEED_FLOOR` (2**40); the
trainers of this project take seeds below 2**32 and seed their environments below
2**33 (a run's seed plus at most its number of environments), so evaluation episodes
never come from a training stream.

Kinds of set:

* ``level<k>``: curriculum level k (:mod:`envs.curriculum`).
* held-out structures (:data:`HELDOUT`): graph types and sizes that no curriculum level
  trains on.
* named SCMs (:data:`NAMED`): the published benchmark graphs of :mod:`envs.named`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from envs.config import EnvConfig
from envs.curriculum import MAX_LEVEL
from envs.named import NAMED_SCMS

__all__ = ["EVALUATION_SEED_FLOOR", "HELDOUT", "MAX_EPISODES", "NAMED", "EpisodeSet", "build_sets"]

EVALUATION_SEED_FLOOR = 2**40
MAX_EPISODES = 4096
"""Most episodes per set (they take consecutive seeds)."""

HELDOUT: dict[str, dict[str, Any]] = {
    "sbm": {"level": 7, "graph": "sbm"},
    "grg": {"level": 7, "graph": "grg"},
    "tree": {"level": 5, "graph": "tree"},
    "er_small": {"level": 5, "graph": "er2"},
    "er_d60": {"level": 9, "nodes": 60},
}
"""Held-out sets: ``sbm`` and ``grg`` (stochastic block and random geometric graphs with
level 7's 10-14 nodes, linear), ``tree`` (binary out-trees, 5-8 nodes), ``er_small``
(Erdos-Renyi, 2 edges per node, at the 5-8 nodes where levels 4-6 train on named
motifs) and ``er_d60`` (level 9's Erdos-Renyi at 60 nodes, more than any level has)."""

NAMED = tuple(sorted(NAMED_SCMS))
"""Named SCMs: ``complete_graph``, ``psa`` and ``toy_graph``."""


@dataclass(frozen=True)
class EpisodeSet:
    """A named set of ``episodes`` episodes of the environment built with ``env``."""

    name: str
    env: dict[str, Any] = field(hash=False)
    episodes: int
    seed: int

    @property
    def vectorised(self) -> bool:
        """Whether the engine-batched vector environment can run it (curriculum SCMs)."""
        return "benchmark" not in self.env

    def widest(self) -> int:
        """The largest number of variables of its SCMs."""
        return EnvConfig.build(**self.env).max_nodes

    def env_seed(self, episode: int) -> int:
        """The seed of the environment whose first episode is episode ``episode``."""
        return self.seed + episode


def set_seed(name: str, seed: int) -> int:
    """The seed of episode 0 of set ``name`` under evaluation seed ``seed``."""
    return EVALUATION_SEED_FLOOR + ((seed * 2**32 + zlib.crc32(name.encode())) % 2**50) * MAX_EPISODES


def build_sets(levels: list[int], heldout: list[str], named: list[str], episodes: int, seed: int
               ) -> list[EpisodeSet]:
    """The sets to evaluate on, in report order; ValueError naming the key for an
    unknown entry."""
    for level in levels:
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= MAX_LEVEL:
            raise ValueError(f"levels entry {level!r} is not allowed: must be an integer in [1, {MAX_LEVEL}]")
    for key, names, allowed in (("heldout", heldout, sorted(HELDOUT)), ("named", named, list(NAMED))):
        for name in names:
            if name not in allowed:
                raise ValueError(f"{key} entry {name!r} is not allowed: expected one of {allowed}")
    if not 1 <= episodes <= MAX_EPISODES:
        raise ValueError(f"episodes = {episodes} is not allowed: must be an integer in [1, {MAX_EPISODES}]")
    specs = [(f"level{k}", {"level": k}) for k in levels]
    specs += [(name, dict(HELDOUT[name])) for name in heldout]
    specs += [(name, {"benchmark": name}) for name in named]
    return [EpisodeSet(name, env, episodes, set_seed(name, seed)) for name, env in specs]
