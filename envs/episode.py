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
from dataclasses import dataclass
from typing import Any

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

__all__ = ["TARGET_CLIP", "Episode", "Episodes", "reward", "row_mean", "standardise", "start_episodes",
           "target_reward"]

TARGET_CLIP = 5.0
"""Bound of the standardised target in the reward."""

# task_seed indices of an episode's derived seeds, far from the redraw attempts 1, 2, ...:
# the engine's noise stream index (it seeds curriculum episodes itself, and draws their
# targets from 2**64 - 2), then the Monte Carlo seeds.
_NOISE, _MOMENTS, _CRN = EPISODE_NOISE_INDEX, 2**64 - 4, 2**64 - 5
_NO_OPTIMUM = (-1.0, np.nan, np.nan, np.nan)


@dataclass(frozen=True)
class Episode:
    """One episode's hidden facts, in the SCM's units, padded to width D = max_nodes
    (padded nodes: invalid, not parents, mean 0, std 1)."""

    scm: Any
    level: int | None
    target: int
    valid: np.ndarray
    """(D,) bool: the nodes an action may choose."""
    parents: np.ndarray
    """(D,) bool: the target's true parents."""
    mean: np.ndarray
    """(D,) observational means."""
    std: np.ndarray
    """(D,) observational standard deviations."""
    low: np.ndarray
    """(D,) lowest intervention value per node."""
    high: np.ndarray
    """(D,) highest intervention value per node."""
    response: Response | None
    """E[target | do(X_i = v)] at any (i, v); None when not computed."""
    optimum: Optimum
    """The best single intervention; (-1, NaN, NaN, NaN) when not computed."""
    observations: np.ndarray
    """(n_obs, D) float32 observational rows."""

    @property
    def d(self) -> int:
        return self.scm.d


@dataclass(frozen=True)
class Episodes:
    """K episodes as stacked arrays padded to max_nodes; ``episodes[k]`` is episode k as an
    :class:`Episode`."""

    scms: list[Any]
    levels: list[int | None]
    n_nodes: np.ndarray
    """(K,) the number of variables of each SCM."""
    target: np.ndarray
    valid: np.ndarray
    parents: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    low: np.ndarray
    high: np.ndarray
    effect: np.ndarray
    """(K, D) total effects on the target of linear SCMs (0 for the others)."""
    is_linear: np.ndarray
    has_optimum: np.ndarray
    """(K,) bool: whether the optimum and the expected targets were computed (always for
    linear SCMs, with ``optimum_samples`` for the others)."""
    estimates: list[MonteCarloResponse | None]
    """The Monte Carlo responses of nonlinear episodes with an optimum; None elsewhere."""
    optimum: np.ndarray
    """(K, 4): node (as a float, -1 if none), value, expected target, standard error."""
    observations: np.ndarray

    def response(self, k: int) -> Response | None:
        """E[target | do(X_i = v)] of episode k: exact for a linear SCM, the Monte Carlo
        estimate otherwise (None when it was not computed)."""
        if self.is_linear[k]:
            return LinearResponse(self.effect[k], self.mean[k], int(self.target[k]))
        return self.estimates[k]

    def __getitem__(self, k: int) -> Episode:
        node, value, expected, stderr = self.optimum[k].tolist()
        return Episode(self.scms[k], self.levels[k], int(self.target[k]), self.valid[k], self.parents[k],
                       self.mean[k], self.std[k], self.low[k], self.high[k], self.response(k),
                       Optimum(int(node), value, expected, stderr), self.observations[k])


@dataclass(frozen=True)
class _Draws:
    """The SCMs of K episodes with their structure, and what the engine knows exactly
    about the linear ones (effect 0, mean 0, std 1, bounds 0 and no optimum for the
    others)."""

    scms: list[Any]
    adjacency: np.ndarray
    """(K, D, D) uint8, zero-padded."""
    n_nodes: np.ndarray
    target: np.ndarray
    valid: np.ndarray
    observations: np.ndarray
    """(K, n_obs, D) float32 rows from each SCM's own noise stream, zero-padded."""
    is_linear: np.ndarray
    effect: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    low: np.ndarray
    high: np.ndarray
    optimum: np.ndarray


def _draw_curriculum(cfg: EnvConfig, levels: Sequence[int | None], seeds: np.ndarray) -> _Draws:
    """The episodes' starts from the engine (``causal_meta._core.start_episodes``), one
    call per level: SCMs with seeded noise streams, targets, first observations, and the
    exact moments, bounds and optimum of linear SCMs."""
    width, ends = cfg.max_nodes, (cfg.intervention_range.low, cfg.intervention_range.high)

    def start(level: int | None, at: slice | np.ndarray) -> tuple[Any, ...]:
        return start_engine_episodes(cfg.family(level), seeds[at], cfg.n_obs, width, *ends)

    if len(set(levels)) == 1:
        scms, *columns = start(levels[0], slice(None))
    else:
        scms, columns = [None] * len(seeds), []
        for level in sorted(set(levels)):
            idx = np.flatnonzero(np.array(levels) == level)
            part_scms, *part = start(level, idx)
            columns = columns or [np.zeros((len(seeds), *column.shape[1:]), column.dtype) for column in part]
            for k, scm in zip(idx.tolist(), part_scms):
                scms[k] = scm
            for out, column in zip(columns, part):
                out[idx] = column
    target, adjacency, n_nodes, observations, is_linear, effect, mean, std, low, high, optimum = columns
    valid = np.arange(width) < n_nodes[:, None]
    valid[np.arange(len(seeds)), target] = False
    return _Draws(scms, adjacency, n_nodes, target, valid, observations, is_linear, effect, mean, std, low, high,
                  optimum)


def _draw_named(cfg: EnvConfig, seeds: np.ndarray) -> _Draws:
    """The benchmark SCM for every episode (noise streams seeded), with its own target, its
    manipulable nodes as the valid ones and its first observations."""
    k_count, width = len(seeds), cfg.max_nodes
    scms = [NAMED_SCMS[cfg.benchmark]() for _ in range(k_count)]
    adjacency = np.zeros((k_count, width, width), np.uint8)
    valid = np.zeros((k_count, width), bool)
    observations = np.zeros((k_count, cfg.n_obs, width), np.float32)
    for k, (scm, noise) in enumerate(zip(scms, task_seeds(seeds, _NOISE).tolist())):
        scm.seed_noise(noise)
        adjacency[k, :scm.d, :scm.d] = scm.adjacency
        valid[k, sorted(scm.domains)] = True
        if cfg.n_obs:
            observations[k, :, :scm.d] = scm.sample(cfg.n_obs)[0]
    zeros = np.zeros((k_count, width))
    return _Draws(scms, adjacency, np.array([scm.d for scm in scms]), np.array([scm.target for scm in scms]), valid,
                  observations, np.zeros(k_count, bool), zeros, zeros.copy(), np.ones((k_count, width)), zeros.copy(),
                  zeros.copy(), np.tile(_NO_OPTIMUM, (k_count, 1)))


def start_episodes(cfg: EnvConfig, levels: Sequence[int | None], seeds: Sequence[int]) -> Episodes:
    """The episodes of ``seeds`` (one level each): a pure function of the arguments."""
    k_count = len(seeds)
    seeds = np.asarray(seeds, np.uint64)
    draws = _draw_curriculum(cfg, levels, seeds) if cfg.benchmark is None else _draw_named(cfg, seeds)
    scms, target, valid, is_linear = draws.scms, draws.target, draws.valid, draws.is_linear
    parents = draws.adjacency[np.arange(k_count), :, target].astype(bool)
    mean, std, low, high, optimum = draws.mean, draws.std, draws.low, draws.high, draws.optimum
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
    return Episodes(scms, list(levels), draws.n_nodes, target, valid, parents, mean, std, low, high, draws.effect,
                    is_linear, has_optimum, estimates, optimum, draws.observations)


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
