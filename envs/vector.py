"""N CausalBO environments stepped together, with one engine call per step.

``gymnasium.make_vec("CausalBO-v0", num_envs=N, vectorization_mode="vector_entry_point",
...)`` builds a :class:`CausalBOVectorEnv`. It gives the same trajectories, bit for bit,
as ``SyncVectorEnv`` over N single environments made with the same arguments and seeds
(sub-environment i seeded ``seed + i``): episodes start through the same
:func:`~envs.episode.start_episodes` (all sub-environments that reset in one call), and
each step's arithmetic is the single
environment's, vectorised over the sub-environments. The interventional samples of all
N environments come from one ``causal_meta._core.sample_interventions`` call, which
draws each SCM's rows from its own noise stream in parallel with the GIL released.

Autoreset follows Gymnasium 1.x's default (``AutoresetMode.NEXT_STEP``): the step after
an episode ends resets that sub-environment, ignores its action and returns its first
observation with reward 0. Truncation after ``max_episode_steps`` (the horizon) is done
here, as the TimeLimit wrapper does for a single environment. Infos are dicts of arrays
with ``_key`` masks, as Gymnasium's vector environments build them.

Not supported here (use ``SyncVectorEnv`` instead): a ``surrogate`` (it would be called
once per sub-environment anyway), rendering, and the named SCMs (numpy, not engine SCMs).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from causal_meta._core import columns_under_interventions, sample_interventions, stack_graphs
from causal_meta.scm import task_seeds
from envs.actions import check_actions, decode_actions, encode_actions
from envs.causal_bo import SEED_BOUND, WhatIf
from envs.config import HORIZON, EnvConfig, check_vector_size
from envs.episode import reward, standardise, start_episodes, target_reward

__all__ = ["CausalBOVectorEnv"]

_STEP_KEYS = ("node", "value", "target_value", "best_target_value", "is_parent", "expected_target",
              "expected_stderr", "simple_regret", "cumulative_regret", "info_gain")
_OPTIMUM_KEYS = ("optimal_node", "optimal_value", "optimal_expected_target", "optimal_stderr")


class CausalBOVectorEnv(VectorEnv):
    """``num_envs`` CausalBO environments; keyword arguments as :class:`~envs.causal_bo.CausalBOEnv`.
    Their observations together hold at most 2**27 cells (``num_envs * T * max_nodes``)."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, num_envs: int, level: int | None = None, *, max_episode_steps: int | None = None,
                 **kwargs: Any) -> None:
        for field in ("surrogate", "render_mode", "benchmark"):
            if kwargs.get(field) is not None:
                raise ValueError(f"{field} is not allowed in the vector environment: use "
                                 "vectorization_mode='sync' for it")
        horizon = kwargs.pop("horizon", None)
        if horizon is not None and max_episode_steps is not None and horizon != max_episode_steps:
            raise ValueError(f"horizon = {horizon} is not allowed with max_episode_steps = {max_episode_steps}: "
                             "the two must agree")
        horizon = horizon or max_episode_steps or HORIZON
        kwargs = {k: v for k, v in kwargs.items() if k not in ("surrogate", "render_mode")}
        self.config = cfg = EnvConfig.build(level, horizon=horizon, **kwargs)
        self.num_envs = num_envs = check_vector_size(num_envs, cfg)
        self.render_mode = None
        self.single_observation_space = cfg.observation_space()
        self.single_action_space = cfg.action_space()
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)

        n, t, d = num_envs, cfg.rows, cfg.max_nodes
        self._values = np.zeros((n, t, d), np.float32)
        self._intervened = np.zeros((n, t, d), np.int8)
        self._row_mask = np.zeros((n, t), np.int8)
        self._node_mask = np.zeros((n, d), np.int8)
        self._target_hot = np.zeros((n, d), np.int8)
        self._valid_hot = np.zeros((n, d), np.int8)
        # Per-episode constants (the fields of envs.episode.Episodes), padded to max_nodes.
        self._valid = np.zeros((n, d), bool)
        self._parents = np.zeros((n, d), bool)
        self._low = np.zeros((n, d))
        self._high = np.ones((n, d))
        self._mean = np.zeros((n, d))
        self._std = np.ones((n, d))
        self._effect = np.zeros((n, d))
        self._is_linear = np.zeros(n, bool)
        self._has_optimum = np.zeros(n, bool)
        self._responses: list[Any] = [None] * n
        self._target = np.zeros(n, np.int64)
        self._optimum = np.tile([-1.0, math.nan, math.nan, math.nan], (n, 1))  # node -1: no optimum yet
        self._levels = np.zeros(n, np.int64)
        # Per-episode state.
        self._steps = np.zeros(n, np.int64)
        self._best = np.full(n, np.inf)
        self._simple = np.full(n, np.inf)
        self._cumulative = np.zeros(n)
        self._autoreset = np.zeros(n, bool)
        self._scms: list[Any] = [None] * n
        self._bases = np.zeros(n, np.uint64)  # base seed of each sub-environment
        self._generators: list[np.random.Generator | None] = [None] * n  # each one's np_random
        self._seeded = np.zeros(n, bool)  # whether it has a base seed yet
        self._next = np.zeros(n, np.uint64)  # index of its next episode

    # ------------------------------------------------------------------ reset

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        mask = np.ones(self.num_envs, bool) if mask is None else np.asarray(mask, bool)
        if mask.shape != (self.num_envs,):
            raise ValueError(f"options['reset_mask'] shape = {mask.shape} is not allowed: must be ({self.num_envs},)")
        seeds = [seed + i for i in range(self.num_envs)] if isinstance(seed, int) else seed
        if seeds is None:
            seeds = [None] * self.num_envs
        if len(seeds) != self.num_envs:
            raise ValueError(f"seed list length = {len(seeds)} is not allowed: must be num_envs = {self.num_envs}")
        envs = np.flatnonzero(mask)
        for i in envs:
            self._levels[i] = self.config.next_level(options, int(self._levels[i]) or self.config.level)
            if seeds[i] is not None or not self._seeded[i]:  # as Env.reset seeds np_random
                generator, _ = seeding.np_random(seeds[i])
                self._bases[i] = int(generator.integers(SEED_BOUND))
                self._generators[i] = generator
                self._seeded[i] = True
                self._next[i] = 0
        self._start(envs)
        self._autoreset[envs] = False
        infos = self._infos(level_mask=mask, target_mask=mask, optimum_mask=mask)
        return self._observation(), infos

    def _start(self, envs: np.ndarray) -> None:
        """Begin the next episode of the sub-environments ``envs``, as CausalBOEnv.reset
        does for one."""
        cfg = self.config
        at = self._rows(envs)
        seeds = task_seeds(self._bases[at], self._next[at])
        self._next[at] += 1
        eps = start_episodes(cfg, self._levels[at].tolist(), seeds)
        if isinstance(at, slice):
            self._scms, self._responses = eps.scms, eps.responses
        else:
            for k, i in enumerate(envs.tolist()):
                self._scms[i], self._responses[i] = eps.scms[k], eps.responses[k]
        n_obs = cfg.n_obs
        self._values[at, :n_obs] = standardise(eps.observations, eps.mean[:, None], eps.std[:, None])
        self._values[at, n_obs:] = 0.0
        self._intervened[at] = 0
        self._row_mask[at] = 0
        self._row_mask[at, :n_obs] = 1
        self._node_mask[at] = np.arange(cfg.max_nodes) < eps.n_nodes[:, None]
        self._target_hot[at] = 0
        self._target_hot[envs, eps.target] = 1
        self._target[at] = eps.target
        self._valid[at], self._parents[at] = eps.valid, eps.parents
        self._valid_hot[at] = eps.valid
        self._low[at], self._high[at] = eps.low, eps.high
        self._mean[at], self._std[at] = eps.mean, eps.std
        has_optimum = eps.has_optimum
        self._effect[at], self._is_linear[at], self._has_optimum[at] = eps.effect, eps.is_linear, has_optimum
        self._optimum[at] = eps.optimum
        self._steps[at] = 0
        self._best[at] = math.inf
        self._simple[at] = np.where(has_optimum, math.inf, math.nan)
        self._cumulative[at] = np.where(has_optimum, 0.0, math.nan)

    def _rows(self, envs: np.ndarray) -> slice | np.ndarray:
        """``envs`` as an index of the per-environment arrays: a slice when it is every
        sub-environment (the usual case), so that reads are views and writes are block
        copies instead of gathers and scatters."""
        return slice(None) if len(envs) == self.num_envs else envs

    # ------------------------------------------------------------------ step

    def step(self, actions: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray,
                                                  dict[str, Any]]:
        cfg = self.config
        a = check_actions(actions, cfg.max_nodes, batch=True)
        if a.shape[0] != self.num_envs:
            raise ValueError(f"actions shape = {a.shape} is not allowed: must be (num_envs, max_nodes + 1) = "
                             f"({self.num_envs}, {cfg.max_nodes + 1})")
        if not self._seeded.all():
            never = int(np.flatnonzero(~self._seeded)[0])
            raise RuntimeError(f"step() called before reset(): sub-environment {never} has no episode yet")
        resetting = self._autoreset.copy()
        if resetting.any():
            self._start(np.flatnonzero(resetting))
        idx = np.flatnonzero(~resetting)
        rewards = np.zeros(self.num_envs)
        step_info = {key: np.zeros(self.num_envs, dtype) for key, dtype in zip(
            _STEP_KEYS, (np.int64, float, float, float, bool, float, float, float, float, float))}
        if len(idx):
            self._step(idx, a[self._rows(idx)], rewards, step_info)
        truncated = self._steps >= cfg.horizon
        truncated[resetting] = False
        self._autoreset = truncated.copy()
        everyone = np.ones(self.num_envs, bool)
        infos = self._infos(level_mask=everyone, target_mask=resetting, optimum_mask=everyone)
        if len(idx):
            for key in _STEP_KEYS:
                infos[key], infos[f"_{key}"] = step_info[key], ~resetting
        return self._observation(), rewards, np.zeros(self.num_envs, bool), truncated, infos

    def _step(self, idx: np.ndarray, a: np.ndarray, rewards: np.ndarray, info: dict[str, np.ndarray]) -> None:
        """One intervention in each sub-environment of ``idx``; the single environment's
        step, line for line, over arrays."""
        cfg = self.config
        m = cfg.samples_per_step
        at = self._rows(idx)
        nodes, values32 = decode_actions(a, self._valid[at], self._low[at], self._high[at])
        scms = self._scms if isinstance(at, slice) else [self._scms[i] for i in idx]
        data = sample_interventions(scms, nodes, values32, m, cfg.max_nodes)
        values = values32.astype(np.float64)
        target = self._target[at]
        y = data[np.arange(len(idx)), 0, target].astype(np.float64)
        for r in range(1, m):
            y += data[np.arange(len(idx)), r, target]
        y /= m
        rows = cfg.n_obs + self._steps[at, None] * m + np.arange(m)  # (K, m)
        self._values[idx[:, None], rows] = standardise(data, self._mean[at, None], self._std[at, None])
        self._intervened[idx[:, None], rows, nodes[:, None]] = 1
        self._row_mask[idx[:, None], rows] = 1
        self._steps[at] += 1

        mean_y = self._mean[idx, target]
        std_y = self._std[idx, target]
        r_target = target_reward(y, mean_y, std_y)
        is_parent = self._parents[idx, nodes]
        # The single environment's info gain is always 0 without a surrogate.
        rewards[at] = reward(cfg, r_target, is_parent.astype(np.float64), 0.0)
        self._best[at] = np.minimum(self._best[at], y)

        expected, stderr = self._expected(idx, at, nodes, values, target)
        scored = self._has_optimum[at]
        if scored.any():
            k_env = idx[scored]
            regret = expected[scored] - self._optimum[k_env, 2]
            self._simple[k_env] = np.minimum(self._simple[k_env], regret)
            self._cumulative[k_env] += regret
        for key, column in (("node", nodes), ("value", values), ("target_value", y),
                            ("best_target_value", self._best[at]), ("is_parent", is_parent),
                            ("expected_target", expected), ("expected_stderr", stderr),
                            ("simple_regret", self._simple[at]), ("cumulative_regret", self._cumulative[at])):
            info[key][at] = column

    def _expected(self, idx: np.ndarray, at: slice | np.ndarray, nodes: np.ndarray, values: np.ndarray,
                  target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """E[target | do(node = value)] and its standard error in each sub-environment of
        ``idx`` (NaN without an optimum): the single environment's response, with the
        linear formula of :class:`~envs.optimum.LinearResponse` over arrays."""
        expected, stderr = np.full(len(idx), math.nan), np.full(len(idx), math.nan)
        linear = self._is_linear[at] & self._has_optimum[at]
        if linear.any():
            k_env, node = idx[linear], nodes[linear]
            mean, rows = self._mean[k_env], np.arange(len(k_env))
            effect = self._effect[k_env, node]
            expected[linear] = mean[rows, target[linear]] + effect * (values[linear] - mean[rows, node])
            stderr[linear] = 0.0
        for j in np.flatnonzero(~self._is_linear[at] & self._has_optimum[at]).tolist():
            expected[j], stderr[j] = self._responses[idx[j]].at(int(nodes[j]), float(values[j]))
        return expected, stderr

    def what_if(self, actions: np.ndarray, gain: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
                ) -> WhatIf:
        """Score G candidate actions per sub-environment, (num_envs, G, max_nodes + 1),
        without advancing any: for each sub-environment exactly what the single
        environment's ``what_if`` gives (the same draw from its generator, the same common
        random numbers, bit for bit), all sub-environments in one engine call with the GIL
        released. Returns (num_envs, G) arrays.

        ``gain``: optional; called with the standardised rows that each candidate would
        add, (num_envs, G, samples_per_step, max_nodes), and the candidates' nodes
        (num_envs, G), it returns each candidate's information gain (num_envs, G) for the
        reward's ``w_info`` term (a surrogate's entropy drop, as a single environment's
        surrogate gives it). Without it that term is 0, as in a single environment
        without a surrogate. Call it between a step and the end of the episode."""
        cfg = self.config
        a = np.asarray(actions)
        if a.ndim != 3 or a.shape[0] != self.num_envs or a.shape[2] != cfg.max_nodes + 1:
            raise ValueError(f"actions shape = {a.shape} is not allowed: must be (num_envs, G, max_nodes + 1) = "
                             f"({self.num_envs}, G, {cfg.max_nodes + 1})")
        if any(generator is None for generator in self._generators):
            raise RuntimeError("what_if() called before reset()")
        n, g, m = a.shape[0], a.shape[1], cfg.samples_per_step
        flat = check_actions(a.reshape(n * g, -1), cfg.max_nodes, batch=True)
        nodes, values = decode_actions(flat, *(np.repeat(x, g, axis=0) for x in (self._valid, self._low, self._high)))
        nodes, values = nodes.reshape(n, g), values.reshape(n, g)
        seeds = np.array([generator.integers(SEED_BOUND) for generator in self._generators], np.uint64)
        if gain is None:
            target = columns_under_interventions(self._scms, nodes, values, m, seeds, self._target)  # (n, g, m)
            gains = np.zeros((n, g))
        else:
            rows = np.zeros((n, g, m, cfg.max_nodes), np.float32)
            for i, scm in enumerate(self._scms):
                for k in range(g):
                    rows[i, k, :, :scm.d] = scm.sample(m, do={int(nodes[i, k]): float(values[i, k])},
                                                       seed=int(seeds[i]))[0]
            target = rows[np.arange(n), :, :, self._target]
            gains = np.asarray(gain(standardise(rows, self._mean[:, None, None], self._std[:, None, None]), nodes),
                               np.float64)
        y = target[..., 0].astype(np.float64)  # the mean over rows, summed as row_mean sums
        for r in range(1, m):
            y += target[..., r]
        y /= m
        rows_index = np.arange(n)[:, None]
        mean_y, std_y = self._mean[rows_index, self._target[:, None]], self._std[rows_index, self._target[:, None]]
        rewards = reward(cfg, target_reward(y, mean_y, std_y), self._parents[rows_index, nodes].astype(np.float64),
                         gains)
        return WhatIf(rewards, nodes, values, y)

    def graphs(self) -> np.ndarray:
        """(num_envs, max_nodes, max_nodes) uint8 adjacency of each sub-environment's
        hidden SCM (privileged: for training a surrogate on the true graphs, never for an
        agent)."""
        return stack_graphs(self._scms, self.config.max_nodes)[0]

    def optimal_actions(self) -> np.ndarray:
        """(num_envs, max_nodes + 1): the action that plays each sub-environment's optimum,
        as :meth:`~envs.causal_bo.CausalBOEnv.optimal_action` (privileged; the oracle's).
        ValueError when an optimum was not computed."""
        if not self._has_optimum.all():
            bad = int(np.flatnonzero(~self._has_optimum)[0])
            raise ValueError(f"the optimum of sub-environment {bad} was not computed (optimum_samples = 0 on a "
                             "nonlinear SCM, or no reset yet)")
        return encode_actions(self._optimum[:, 0].astype(np.int64), self._optimum[:, 1], self._low, self._high)

    # ------------------------------------------------------------------ helpers

    def _observation(self) -> dict[str, np.ndarray]:
        return {"samples": self._values.copy(), "intervened": self._intervened.copy(),
                "row_mask": self._row_mask.copy(), "node_mask": self._node_mask.copy(),
                "target": self._target_hot.copy(), "valid": self._valid_hot.copy()}

    def _infos(self, level_mask: np.ndarray, target_mask: np.ndarray, optimum_mask: np.ndarray) -> dict[str, Any]:
        """The keys every info has (level, optimum) and the reset-only target, each zero
        outside its mask and absent if its mask is empty, as Gymnasium merges the infos of
        single environments."""
        infos: dict[str, Any] = {}
        target_std = self._std[np.arange(self.num_envs), self._target]
        columns = [("level", self._levels, level_mask), ("target", self._target, target_mask),
                   ("target_std", target_std, target_mask)]
        columns += [(key, column.astype(np.int64) if key == "optimal_node" else column, optimum_mask)
                    for key, column in zip(_OPTIMUM_KEYS, self._optimum.T)]
        for key, column, mask in columns:
            if mask.any():
                infos[key] = np.where(mask, column, 0).astype(column.dtype)
                infos[f"_{key}"] = mask.copy()
        return infos
