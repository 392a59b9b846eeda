"""The hidden facts of CausalBO episodes, and the arithmetic of a step that both the
single and the vector environment use.

:func:`start_episodes` draws K episodes at once: the per-SCM work (drawing the SCM, the
target, the first samples, Monte Carlo estimates) runs one SCM at a time, the linear
algebra of linear SCMs runs batched. The single environment calls it with K = 1 and the
vector environment with every sub-environment that resets, and the results do not
depend on K, which is what makes the two environments agree bit for bit.

Seeding: episode ``seed`` draws its SCM from the family with that seed, and derives
every other random choice (target, noise stream, Monte Carlo seeds) from it with the
engine's ``task_seed`` hash, so an episode is a pure function of its seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from causal_meta.scm import sample_scm, task_seed
from envs.config import VALUE_CLIP, EnvConfig
from envs.named import NAMED_SCMS
from envs.optimum import ResponseCurves, grid, linear_expected, linear_moments, mc_curves, mc_moments, noise_variances

__all__ = ["TARGET_CLIP", "Episode", "Episodes", "row_mean", "standardise", "start_episodes", "target_reward"]

TARGET_CLIP = 5.0
"""Bound of the standardised target in the reward."""

_MAX_DRAWS = 100
# task_seed indices of an episode's derived seeds, far from the redraw attempts 1, 2, ...
_TARGET, _NOISE, _MOMENTS, _CRN = (2**64 - k for k in (2, 3, 4, 5))
_NO_OPTIMUM = np.array([-1.0, np.nan, np.nan, np.nan])


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
    curves: ResponseCurves | None
    """Expected target under interventions; None when not computed."""
    optimum: tuple[int, float, float, float]
    """(node, value, expected target, standard error) of the best single intervention;
    (-1, NaN, NaN, NaN) when not computed."""
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
    target: np.ndarray
    valid: np.ndarray
    parents: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    low: np.ndarray
    high: np.ndarray
    grid: np.ndarray
    expected: np.ndarray
    stderr: np.ndarray
    has_curves: np.ndarray
    optimum: np.ndarray
    """(K, 4): node (as a float, -1 if none), value, expected target, standard error."""
    observations: np.ndarray

    def __getitem__(self, k: int) -> Episode:
        curves = None
        if self.has_curves[k]:
            curves = ResponseCurves(self.low[k], self.high[k], self.grid[k], self.expected[k], self.stderr[k])
        node, value, expected, stderr = self.optimum[k].tolist()
        return Episode(self.scms[k], self.levels[k], int(self.target[k]), self.valid[k], self.parents[k],
                       self.mean[k], self.std[k], self.low[k], self.high[k], curves,
                       (int(node), value, expected, stderr), self.observations[k])


def _draw(cfg: EnvConfig, level: int | None, seed: int) -> tuple[Any, int, list[int] | None]:
    """The episode's SCM, its target, and its manipulable nodes (None: all but the target)."""
    if cfg.benchmark is not None:
        scm = NAMED_SCMS[cfg.benchmark]()
        return scm, scm.target, sorted(scm.domains)
    for attempt in range(_MAX_DRAWS):
        # A graph without edges has no possible target; such a (rare) draw is replaced by
        # the SCM of task_seed(seed, attempt), attempt = 1, 2, ...
        scm = sample_scm(cfg.family_json(level), seed if attempt == 0 else task_seed(seed, attempt))
        candidates = np.flatnonzero(scm.adjacency.any(axis=0))
        if len(candidates):
            return scm, int(candidates[task_seed(seed, _TARGET) % len(candidates)]), None
    raise RuntimeError(f"no SCM with an edge in {_MAX_DRAWS} draws from episode seed {seed}: "
                       "the family's graphs are (almost) always empty")


def start_episodes(cfg: EnvConfig, levels: Sequence[int | None], seeds: Sequence[int]) -> Episodes:
    """The episodes of ``seeds`` (one level each): a pure function of the arguments."""
    k_count, width, points = len(seeds), cfg.max_nodes, cfg.optimum_grid
    scms = []
    target = np.zeros(k_count, np.int64)
    valid = np.zeros((k_count, width), bool)
    parents = np.zeros((k_count, width), bool)
    is_linear = np.zeros(k_count, bool)
    w, b = np.zeros((k_count, width, width)), np.zeros((k_count, width))
    noise_var = np.ones((k_count, width))
    mean, std = np.zeros((k_count, width)), np.ones((k_count, width))
    observations = np.zeros((k_count, cfg.n_obs, width), np.float32)
    for k, (level, seed) in enumerate(zip(levels, seeds)):
        scm, t, manipulable = _draw(cfg, level, seed)
        scms.append(scm)
        d = scm.d
        target[k] = t
        if manipulable is None:
            valid[k, :d] = True
            valid[k, t] = False
        else:
            valid[k, manipulable] = True
        parents[k, scm.parents(t)] = True
        if scm.is_linear:
            is_linear[k] = True
            w[k, :d, :d], b[k, :d] = scm.linear_parameters()
            noise_var[k, :d] = noise_variances(scm)
        else:
            mean[k], std[k] = mc_moments(scm, task_seed(seed, _MOMENTS), width)
        scm.seed_noise(task_seed(seed, _NOISE))
        if cfg.n_obs:
            observations[k, :, :d] = scm.sample(cfg.n_obs)[0]

    any_linear = is_linear.any()
    if any_linear:  # rows of nonlinear SCMs are computed too (on zeros) and then ignored
        effects, linear_mean, linear_std = linear_moments(w, b, noise_var)
        mean = np.where(is_linear[:, None], linear_mean, mean)
        std = np.where(is_linear[:, None], linear_std, std)
    if cfg.benchmark is not None:
        low, high = mean.copy(), mean.copy()
        for i, (lo, hi) in scms[0].domains.items():
            low[:, i], high[:, i] = lo, hi
    else:
        low, high = cfg.intervention_range.bounds(mean, std)
    # The engine sets values in float32: with float32 ends, every decoded value stays inside.
    low, high = low.astype(np.float32).astype(np.float64), high.astype(np.float32).astype(np.float64)
    values = grid(low, high, points)
    expected = np.full(values.shape, np.inf)
    if any_linear:
        expected = np.where(is_linear[:, None, None], linear_expected(effects, mean, target, values), expected)
    stderr = np.zeros(values.shape)
    if cfg.optimum_samples:
        for k in np.flatnonzero(~is_linear):
            expected[k], stderr[k] = mc_curves(scms[k], int(target[k]), values[k], valid[k], cfg.optimum_samples,
                                               task_seed(seeds[k], _CRN))
    expected[~valid] = np.inf
    has_curves = is_linear | (cfg.optimum_samples > 0)

    node, g = np.divmod(np.argmin(expected.reshape(k_count, -1), axis=1), points)
    rows = np.arange(k_count)
    best = np.stack([node, values[rows, node, g], expected[rows, node, g], stderr[rows, node, g]], axis=1)
    optimum = np.where(has_curves[:, None], best, _NO_OPTIMUM)
    return Episodes(scms, list(levels), target, valid, parents, mean, std, low, high, values, expected, stderr,
                    has_curves, optimum, observations)


def standardise(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(x - mean) / std in float64, clipped to +-VALUE_CLIP, as float32."""
    z = (x - mean) / std
    np.maximum(z, -VALUE_CLIP, out=z)
    np.minimum(z, VALUE_CLIP, out=z)
    return z.astype(np.float32)


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
