"""The hidden facts of CausalBO episodes, and the arithmetic of a step that both the
single and the vector environment use.

:func:`start_episodes` draws K episodes at once: the SCMs, their first samples and the
exact moments of linear SCMs come from one engine call each for the whole batch (the
vector environment starts a thousand episodes at once), the rest is numpy over the
batch, and only the Monte Carlo estimates of nonlinear SCMs run one SCM at a time. The
single environment calls it with K = 1 and the vector environment with every
sub-environment that resets; every engine result is computed SCM by SCM and every numpy
operation element by element, so the results do not depend on K, which is what makes
the two environments agree bit for bit.

Seeding: episode ``seed`` draws its SCM from the family with that seed, and derives
every other random choice (target, noise stream, Monte Carlo seeds) from it with the
engine's ``task_seed`` hash, so an episode is a pure function of its seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from causal_meta._core import sample_interventions, stack_graphs
from causal_meta.scm import sample_scms, task_seed, task_seeds
from envs.config import VALUE_CLIP, EnvConfig
from envs.named import NAMED_SCMS
from envs.optimum import (
    LinearResponse,
    MonteCarloResponse,
    Optimum,
    Response,
    linear_moments,
    linear_optimum,
    mc_moments,
    mc_optimum,
)

__all__ = ["TARGET_CLIP", "Episode", "Episodes", "reward", "row_mean", "standardise", "start_episodes",
           "target_reward"]

TARGET_CLIP = 5.0
"""Bound of the standardised target in the reward."""

_MAX_DRAWS = 100
# task_seed indices of an episode's derived seeds, far from the redraw attempts 1, 2, ...
_TARGET, _NOISE, _MOMENTS, _CRN = (2**64 - k for k in (2, 3, 4, 5))
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
    responses: list[Response | None]
    optimum: np.ndarray
    """(K, 4): node (as a float, -1 if none), value, expected target, standard error."""
    observations: np.ndarray

    @property
    def has_optimum(self) -> np.ndarray:
        """(K,) bool: whether the optimum and the expected targets were computed."""
        return np.array([r is not None for r in self.responses], bool)

    def __getitem__(self, k: int) -> Episode:
        node, value, expected, stderr = self.optimum[k].tolist()
        return Episode(self.scms[k], self.levels[k], int(self.target[k]), self.valid[k], self.parents[k],
                       self.mean[k], self.std[k], self.low[k], self.high[k], self.responses[k],
                       Optimum(int(node), value, expected, stderr), self.observations[k])


@dataclass(frozen=True)
class _Draws:
    """The SCMs of K episodes with their structure, before any moments."""

    scms: list[Any]
    adjacency: np.ndarray
    """(K, D, D) uint8, zero-padded."""
    n_nodes: np.ndarray
    target: np.ndarray
    valid: np.ndarray


def _draw_curriculum(cfg: EnvConfig, levels: Sequence[int | None], seeds: np.ndarray) -> _Draws:
    """Engine SCMs (noise streams seeded), one engine call per level, and their targets:
    target k is candidate ``task_seed(seed_k, _TARGET) % (number of candidates)`` in index
    order, where the candidates are the nodes with a parent."""
    k_count, width = len(seeds), cfg.max_nodes
    noise = task_seeds(seeds, _NOISE)
    if len(set(levels)) == 1:
        scms = sample_scms(cfg.family_json(levels[0]), seeds, noise)
    else:
        scms = [None] * k_count
        for level in set(levels):
            idx = [k for k, other in enumerate(levels) if other == level]
            for k, scm in zip(idx, sample_scms(cfg.family_json(level), seeds[idx], noise[idx])):
                scms[k] = scm
    adjacency, n_nodes = stack_graphs(scms, width)
    # A graph without edges has no possible target; such a (rare) draw is replaced by the
    # SCM of task_seed(seed, attempt), attempt = 1, 2, ...
    empty = np.flatnonzero(~adjacency.any(axis=(1, 2)))
    for attempt in range(1, _MAX_DRAWS):
        if not len(empty):
            break
        for k in empty.tolist():
            scms[k] = sample_scms(cfg.family_json(levels[k]), [task_seed(int(seeds[k]), attempt)], noise[k:k + 1])[0]
        adjacency[empty], n_nodes[empty] = stack_graphs([scms[k] for k in empty], width)
        empty = empty[~adjacency[empty].any(axis=(1, 2))]
    if len(empty):
        raise RuntimeError(f"no SCM with an edge in {_MAX_DRAWS} draws from episode seed {seeds[empty[0]]}: "
                           "the family's graphs are (almost) always empty")
    has_parent = adjacency.any(axis=1)
    pick = (task_seeds(seeds, _TARGET) % has_parent.sum(axis=1).astype(np.uint64)).astype(np.int64)
    target = (np.cumsum(has_parent, axis=1) > pick[:, None]).argmax(axis=1)
    valid = np.arange(width) < n_nodes[:, None]
    valid[np.arange(k_count), target] = False
    return _Draws(scms, adjacency, n_nodes, target, valid)


def _draw_named(cfg: EnvConfig, seeds: np.ndarray) -> _Draws:
    """The benchmark SCM for every episode (noise streams seeded), with its own target and
    its manipulable nodes as the valid ones."""
    k_count, width = len(seeds), cfg.max_nodes
    scms = [NAMED_SCMS[cfg.benchmark]() for _ in range(k_count)]
    adjacency = np.zeros((k_count, width, width), np.uint8)
    valid = np.zeros((k_count, width), bool)
    for k, (scm, noise) in enumerate(zip(scms, task_seeds(seeds, _NOISE).tolist())):
        scm.seed_noise(noise)
        adjacency[k, :scm.d, :scm.d] = scm.adjacency
        valid[k, sorted(scm.domains)] = True
    return _Draws(scms, adjacency, np.array([scm.d for scm in scms]), np.array([scm.target for scm in scms]), valid)


def _observations(cfg: EnvConfig, draws: _Draws) -> np.ndarray:
    """(K, n_obs, D) float32 rows from each SCM's own noise stream, zero-padded."""
    k_count, width = len(draws.scms), cfg.max_nodes
    if not cfg.n_obs:
        return np.zeros((k_count, 0, width), np.float32)
    if cfg.benchmark is None:  # one engine call for all
        return sample_interventions(draws.scms, np.full(k_count, -1), np.zeros(k_count, np.float32), cfg.n_obs, width)
    observations = np.zeros((k_count, cfg.n_obs, width), np.float32)
    for k, scm in enumerate(draws.scms):
        observations[k, :, :scm.d] = scm.sample(cfg.n_obs)[0]
    return observations


def start_episodes(cfg: EnvConfig, levels: Sequence[int | None], seeds: Sequence[int]) -> Episodes:
    """The episodes of ``seeds`` (one level each): a pure function of the arguments."""
    k_count, width = len(seeds), cfg.max_nodes
    seeds = np.asarray(seeds, np.uint64)
    draws = _draw_curriculum(cfg, levels, seeds) if cfg.benchmark is None else _draw_named(cfg, seeds)
    scms, target, valid = draws.scms, draws.target, draws.valid
    rows = np.arange(k_count)
    parents = draws.adjacency[rows, :, target].astype(bool)
    is_linear = np.array([scm.is_linear for scm in scms])
    linear, nonlinear = np.flatnonzero(is_linear), np.flatnonzero(~is_linear)
    effect = np.zeros((k_count, width))
    mean, std = np.zeros((k_count, width)), np.ones((k_count, width))
    if len(linear):
        effect[linear], mean[linear], std[linear] = linear_moments([scms[k] for k in linear], target[linear], width)
    for k in nonlinear.tolist():
        mean[k], std[k] = mc_moments(scms[k], task_seed(int(seeds[k]), _MOMENTS), width)
    observations = _observations(cfg, draws)

    if cfg.benchmark is not None:
        low, high = mean.copy(), mean.copy()
        for i, (lo, hi) in scms[0].domains.items():
            low[:, i], high[:, i] = lo, hi
    else:
        low, high = cfg.intervention_range.bounds(mean, std)
    # The engine sets values in float32: with float32 ends, every decoded value stays inside.
    low, high = low.astype(np.float32).astype(np.float64), high.astype(np.float32).astype(np.float64)

    responses: list[Response | None] = [None] * k_count
    optimum = np.tile(_NO_OPTIMUM, (k_count, 1))
    if len(linear):
        optimum[linear] = linear_optimum(effect[linear], mean[linear], target[linear], low[linear], high[linear],
                                         valid[linear])
        for k in linear.tolist():
            responses[k] = LinearResponse(effect[k], mean[k], int(target[k]))
    if cfg.optimum_samples:
        for k in nonlinear.tolist():
            response = MonteCarloResponse(scms[k], int(target[k]), cfg.optimum_samples,
                                          task_seed(int(seeds[k]), _CRN))
            optimum[k] = mc_optimum(response, low[k], high[k], valid[k], cfg.optimum_grid)
            responses[k] = response
    return Episodes(scms, list(levels), draws.n_nodes, target, valid, parents, mean, std, low, high, effect,
                    is_linear, responses, optimum, observations)


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
