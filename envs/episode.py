"""The hidden facts of CausalBO episodes, and the arithmetic of a step that both the
single and the vector environment use.

:func:`start_episodes` draws K episodes at once. On the curriculum one engine call per
level (``causal_meta._core.start_episodes``, usually one for the whole batch) draws the
SCMs, their targets and first observations, and the exact moments, intervention bounds
and optimum of the linear ones, SCM by SCM in parallel (the vector environment starts a
thousand episodes at once); only the Monte Carlo estimates of nonlinear SCMs run here,
one SCM at a time. The single environment calls it with K = 1 and the vector
environment with every sub-environment that resets; every result is computed episode by
episode, so it does not depend on K, which is what makes the two environments agree bit
for bit.

Seeding: episode ``seed`` draws its SCM from the family with that seed, and derives
every other random choice (target, noise stream, Monte Carlo seeds) from it with the
engine's ``task_seed`` hash, so an episode is a pure function of its seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from causal_meta._core import EPISODE_NOISE_INDEX
from causal_meta._core import start_episodes as start_engine_episodes
from causal_meta.scm import task_seed, task_seeds
from envs.config import VALUE_CLIP, EnvConfig
from envs.named import NAMED_SCMS
from envs.optimum import (
    LinearResponse,
    MonteCarloResponse,
    Optimum,
    Response,
    mc_moments,
    mc_optimum,
)

if TYPE_CHECKING:
    from causal_meta._core import EpisodeStarts  # the stub's name of the engine's columns

__all__ = ["TARGET_CLIP", "Episode", "Episodes", "reward", "row_mean", "standardise", "start_episodes",
           "target_reward"]

TARGET_CLIP = 5.0
"""Bound of the standardised target in the reward."""

# task_seed indices of an episode's derived seeds, far from the redraw attempts 1, 2, ...:
# the engine's noise stream index (it seeds curriculum episodes itself, and draws their
# targets from 2**64 - 2), then the Monte Carlo seeds.
_NOISE, _MOMENTS, _CRN = EPISODE_NOISE_INDEX, 2**64 - 4, 2**64 - 5
_NO_OPTIMUM = (-1.0, np.nan, np.nan, np.nan)


class _Row:
    """An attribute of :class:`Episode`: its row of the record's column of the same name
    (a view, not a copy)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, episode: Episode | None, owner: type | None = None) -> Any:
        return self if episode is None else getattr(episode.episodes, self.name)[episode.k]


class Episode:
    """Episode k of an :class:`Episodes` record, a view of its row k: one episode's hidden
    facts in the SCM's units, padded to width D = max_nodes (padded nodes: invalid, not
    parents, mean 0, std 1). The single environment holds the view of a record of one."""

    __slots__ = ("episodes", "k")
    valid = _Row()
    """(D,) bool: the nodes an action may choose."""
    parents = _Row()
    """(D,) bool: the target's true parents."""
    mean = _Row()
    """(D,) observational means."""
    std = _Row()
    """(D,) observational standard deviations."""
    low = _Row()
    """(D,) lowest intervention value per node."""
    high = _Row()
    """(D,) highest intervention value per node."""
    observations = _Row()
    """(n_obs, D) float32 observational rows."""

    def __init__(self, episodes: Episodes, k: int) -> None:
        self.episodes, self.k = episodes, k

    @property
    def scm(self) -> Any:
        return self.episodes.scms[self.k]

    @property
    def level(self) -> int | None:
        return self.episodes.levels[self.k]

    @property
    def target(self) -> int:
        return int(self.episodes.target[self.k])

    @property
    def d(self) -> int:
        return self.scm.d

    @property
    def response(self) -> Response | None:
        """E[target | do(X_i = v)] at any (i, v); None when not computed."""
        return self.episodes.response(self.k)

    @property
    def optimum(self) -> Optimum:
        """The best single intervention; (-1, NaN, NaN, NaN) when not computed."""
        node, value, expected, stderr = self.episodes.optimum[self.k].tolist()
        return Optimum(int(node), value, expected, stderr)


@dataclass(frozen=True)
class Episodes:
    """The one record of K episodes: columns whose row k is episode k's, padded to width
    D = max_nodes. The engine's ``start_episodes`` gives the columns from ``scms`` to
    ``observations`` under these names; the levels, the Monte Carlo estimates of nonlinear
    SCMs and ``has_optimum`` are added here. ``episodes[k]`` is episode k as an
    :class:`Episode` view. The vector environment keeps one record of all its
    sub-environments, rewritten row by row as they reset (:meth:`put`), that the engine's
    ``step_envs`` reads by these names."""

    scms: list[Any]
    levels: list[int | None]
    target: np.ndarray
    """(K,) int64."""
    n_nodes: np.ndarray
    """(K,) int64 the number of variables of each SCM."""
    is_linear: np.ndarray
    """(K,) bool."""
    valid: np.ndarray
    """(K, D) bool: the nodes an action may choose."""
    parents: np.ndarray
    """(K, D) bool: the target's true parents."""
    effect: np.ndarray
    """(K, D) float64 total effects on the target of linear SCMs (0 for the others)."""
    mean: np.ndarray
    """(K, D) float64 observational means (padding 0)."""
    std: np.ndarray
    """(K, D) float64 observational standard deviations (padding 1)."""
    low: np.ndarray
    """(K, D) float64 lowest intervention value per node."""
    high: np.ndarray
    """(K, D) float64 highest intervention value per node."""
    optimum: np.ndarray
    """(K, 4): node (as a float, -1 if none), value, expected target, standard error."""
    observations: np.ndarray
    """(K, n_obs, D) float32 rows from each SCM's own noise stream, zero-padded."""
    has_optimum: np.ndarray
    """(K,) bool: whether the optimum and the expected targets were computed (always for
    linear SCMs, with ``optimum_samples`` for the others)."""
    estimates: list[MonteCarloResponse | None]
    """The Monte Carlo responses of nonlinear episodes with an optimum; None elsewhere."""

    @classmethod
    def empty(cls, k: int, width: int, n_obs: int) -> Episodes:
        """K rows that hold no episode yet (no SCM, no optimum), to be :meth:`put`."""
        return cls(scms=[None] * k, levels=[None] * k, target=np.zeros(k, np.int64), n_nodes=np.zeros(k, np.int64),
                   is_linear=np.zeros(k, bool), valid=np.zeros((k, width), bool), parents=np.zeros((k, width), bool),
                   effect=np.zeros((k, width)), mean=np.zeros((k, width)), std=np.ones((k, width)),
                   low=np.zeros((k, width)), high=np.ones((k, width)), optimum=np.tile(_NO_OPTIMUM, (k, 1)),
                   observations=np.zeros((k, n_obs, width), np.float32), has_optimum=np.zeros(k, bool),
                   estimates=[None] * k)

    def __len__(self) -> int:
        return len(self.scms)

    def __getitem__(self, k: int) -> Episode:
        return Episode(self, k)

    def put(self, at: slice | np.ndarray, episodes: Episodes) -> None:
        """Write ``episodes`` into the rows ``at`` (a slice or an index array) in place:
        the arrays keep their memory and dtypes, so a reader of the record (the engine's
        step) sees the new episodes."""
        rows = np.arange(len(self))[at].tolist()
        if len(rows) != len(episodes):
            raise ValueError(f"{len(episodes)} episodes are not allowed in {len(rows)} rows: must be as many")
        for field in fields(self):
            column, part = getattr(self, field.name), getattr(episodes, field.name)
            if isinstance(column, list):
                for k, i in enumerate(rows):
                    column[i] = part[k]
            else:
                column[at] = part

    def response(self, k: int) -> Response | None:
        """E[target | do(X_i = v)] of episode k: exact for a linear SCM, the Monte Carlo
        estimate otherwise (None when it was not computed)."""
        if self.is_linear[k]:
            return LinearResponse(self.effect[k], self.mean[k], int(self.target[k]))
        return self.estimates[k]


def _engine_columns(cfg: EnvConfig, level: int | None, seeds: np.ndarray) -> EpisodeStarts:
    """The engine's columns of the episodes of ``seeds`` at one curriculum level
    (``causal_meta._core.start_episodes``): SCMs with seeded noise streams, targets, first
    observations, and the exact moments, bounds and optimum of linear SCMs (effect 0,
    mean 0, std 1, bounds 0 and no optimum for the others)."""
    ends = cfg.intervention_range.low, cfg.intervention_range.high
    return start_engine_episodes(cfg.family(level), seeds, cfg.n_obs, cfg.max_nodes, *ends)


def _named_columns(cfg: EnvConfig, seeds: np.ndarray) -> EpisodeStarts:
    """The engine's columns for the benchmark SCM in every episode (noise streams seeded),
    with its own target, its manipulable nodes as the valid ones and its first
    observations; nothing known exactly."""
    k_count, width = len(seeds), cfg.max_nodes
    scms = [NAMED_SCMS[cfg.benchmark]() for _ in range(k_count)]
    target = np.array([scm.target for scm in scms])
    valid, parents = np.zeros((k_count, width), bool), np.zeros((k_count, width), bool)
    observations = np.zeros((k_count, cfg.n_obs, width), np.float32)
    for k, (scm, noise) in enumerate(zip(scms, task_seeds(seeds, _NOISE).tolist())):
        scm.seed_noise(noise)
        parents[k, :scm.d] = scm.adjacency[:, scm.target]
        valid[k, sorted(scm.domains)] = True
        if cfg.n_obs:
            observations[k, :, :scm.d] = scm.sample(cfg.n_obs)[0]
    zeros = np.zeros((k_count, width))
    return {"scms": scms, "target": target, "n_nodes": np.array([scm.d for scm in scms]),
            "is_linear": np.zeros(k_count, bool), "valid": valid, "parents": parents, "effect": zeros,
            "mean": zeros.copy(), "std": np.ones((k_count, width)), "low": zeros.copy(), "high": zeros.copy(),
            "optimum": np.tile(_NO_OPTIMUM, (k_count, 1)), "observations": observations}


def _start_level(cfg: EnvConfig, level: int | None, seeds: np.ndarray) -> Episodes:
    """The episodes of ``seeds`` at one level: the engine's columns, then the Monte Carlo
    moments, bounds and optimum of the nonlinear SCMs, episode by episode."""
    k_count = len(seeds)
    columns = _engine_columns(cfg, level, seeds) if cfg.benchmark is None else _named_columns(cfg, seeds)
    scms, target, valid, is_linear = columns["scms"], columns["target"], columns["valid"], columns["is_linear"]
    mean, std, low, high, optimum = (columns[key] for key in ("mean", "std", "low", "high", "optimum"))
    nonlinear = np.flatnonzero(~is_linear)
    for k in nonlinear.tolist():
        mean[k], std[k] = mc_moments(scms[k], task_seed(int(seeds[k]), _MOMENTS), cfg.max_nodes)
    if cfg.benchmark is not None:
        low[:], high[:] = mean, mean
        for i, (lo, hi) in scms[0].domains.items():
            low[:, i], high[:, i] = lo, hi
    elif len(nonlinear):
        low[nonlinear], high[nonlinear] = cfg.intervention_range.bounds(mean[nonlinear], std[nonlinear])
    # The engine sets values in float32: with float32 ends, every decoded value stays inside.
    low[nonlinear], high[nonlinear] = (x[nonlinear].astype(np.float32).astype(np.float64) for x in (low, high))

    estimates: list[MonteCarloResponse | None] = [None] * k_count
    has_optimum = is_linear.copy()
    if cfg.optimum_samples:
        for k in nonlinear.tolist():
            response = MonteCarloResponse(scms[k], int(target[k]), cfg.optimum_samples,
                                          task_seed(int(seeds[k]), _CRN))
            optimum[k] = mc_optimum(response, low[k], high[k], valid[k], cfg.optimum_grid)
            estimates[k] = response
            has_optimum[k] = True
    return Episodes(levels=[level] * k_count, has_optimum=has_optimum, estimates=estimates, **columns)


def start_episodes(cfg: EnvConfig, levels: Sequence[int | None], seeds: Sequence[int]) -> Episodes:
    """The episodes of ``seeds`` (one level each): a pure function of the arguments, episode
    by episode, so that a batch gives the bits of its episodes started one at a time. One
    engine call per level, merged into one record."""
    seeds = np.asarray(seeds, np.uint64)
    if len(set(levels)) == 1:
        return _start_level(cfg, levels[0], seeds)
    episodes = Episodes.empty(len(seeds), cfg.max_nodes, cfg.n_obs)
    for level in sorted(set(levels)):
        at = np.flatnonzero(np.array(levels) == level)
        episodes.put(at, _start_level(cfg, level, seeds[at]))
    return episodes


def standardise(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(x - mean) / std in float64, clipped to +-VALUE_CLIP, as float32 (in place in one
    float64 array: the vector environment standardises every step)."""
    z = np.subtract(x, mean, dtype=np.float64)
    z /= std
    np.maximum(z, -VALUE_CLIP, out=z)
    np.minimum(z, VALUE_CLIP, out=z)
    return z.astype(np.float32)


def reward(cfg: EnvConfig, r_target: Any, is_parent: Any, gain: Any) -> Any:
    """The reward, in one place for every path (step, what-if, single and vector, and the
    GRPO trainer through them): ``w_target * r_target + w_parent * is_parent + w_info *
    gain``, on floats or arrays (``is_parent`` as 0/1)."""
    return cfg.w_target * r_target + cfg.w_parent * is_parent + cfg.w_info * gain


def target_reward(y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """The reward's target term, -clip((y - mean) / std, -5, 5)."""
    return -np.minimum(np.maximum((y - mean) / std, -TARGET_CLIP), TARGET_CLIP)


def row_mean(column: np.ndarray) -> float:
    """Mean of a short float32 column, summed row by row in float64 (the vector
    environment sums in the same order, so both give the same bits)."""
    total = float(column[0])
    for v in column[1:]:
        total += float(v)
    return total / len(column)
