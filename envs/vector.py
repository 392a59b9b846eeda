"""N CausalBO environments stepped together, with one engine call per step.

``gymnasium.make_vec("CausalBO-v0", num_envs=N, vectorization_mode="vector_entry_point",
...)`` builds a :class:`CausalBOVectorEnv`. It gives the same trajectories, bit for bit,
as ``SyncVectorEnv`` over N single environments made with the same arguments and seeds
(sub-environment i seeded ``seed + i``): episodes start through the same
:func:`~envs.episode.start_episodes` (all sub-environments that reset in one call), and
a step of all N is one engine call, ``causal_meta._core.step_envs``, that does the single
environment's arithmetic for each in parallel with the GIL released: it decodes the
actions, draws each SCM's rows from its own noise stream, writes them standardised into
the observation buffers (:class:`StepArrays`, updated in place; the episodes' constants
it reads from their :class:`~envs.episode.Episodes` record) and computes the
rewards, the best target values and the exact expected targets of linear SCMs. Only the
Monte Carlo expected targets of nonlinear SCMs (from each episode's kept common random
numbers) and the regrets are computed here.

Autoreset follows Gymnasium 1.x's default (``AutoresetMode.NEXT_STEP``): the step after
an episode ends resets that sub-environment, ignores its action and returns its first
observation with reward 0. Truncation after the horizon is done here, as the single
environment does it (``max_episode_steps``, which ``make_vec`` passes on when given,
must equal the horizon). Infos are dicts of arrays
with ``_key`` masks, as Gymnasium's vector environments build them.

Not supported here (use ``SyncVectorEnv`` instead): a ``surrogate`` for the steps (it
would be called once per sub-environment anyway; the what-if takes one, batched),
rendering, and the named SCMs (numpy, not engine SCMs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from causal_meta._core import columns_under_interventions, stack_graphs, step_envs
from causal_meta.scm import task_seeds
from envs.actions import check_actions, decode_actions, encode_actions
from envs.causal_bo import SEED_BOUND, Surrogate, WhatIf, parent_entropy, surrogate_probs
from envs.config import VALUE_CLIP, EnvConfig, check_vector_size
from envs.episode import TARGET_CLIP, Episodes, reward, standardise, start_episodes, target_reward
from envs.rows import candidates, start_rows
from envs.settings import EnvSettings

__all__ = ["CausalBOVectorEnv", "StepArrays"]

_STEP_KEYS = ("node", "value", "target_value", "best_target_value", "is_parent", "expected_target",
              "expected_stderr", "simple_regret", "cumulative_regret", "info_gain")
_OPTIMUM_KEYS = ("optimal_node", "optimal_value", "optimal_expected_target", "optimal_stderr")


@dataclass(frozen=True)
class StepArrays:
    """What a step changes, for N environments: the step counts, the best target values
    and the observation buffers of T rows, which the engine's ``step_envs`` updates in
    place (it reads them by these field names). What stays constant over an episode is in
    the environments' :class:`~envs.episode.Episodes` record."""

    steps: np.ndarray
    """(N,) int64 steps taken in the episode."""
    best: np.ndarray
    """(N,) float64 best target value so far."""
    values: np.ndarray
    """(N, T, D) float32 standardised samples."""
    intervened: np.ndarray
    """(N, T, D) int8."""
    row_mask: np.ndarray
    """(N, T) int8."""

    @classmethod
    def empty(cls, n: int, t: int, d: int) -> StepArrays:
        return cls(steps=np.zeros(n, np.int64), best=np.full(n, np.inf), values=np.zeros((n, t, d), np.float32),
                   intervened=np.zeros((n, t, d), np.int8), row_mask=np.zeros((n, t), np.int8))


class CausalBOVectorEnv(VectorEnv):
    """``num_envs`` CausalBO environments; ``settings`` and keyword arguments as
    :class:`~envs.causal_bo.CausalBOEnv`.
    Their observations together hold at most 2**27 cells (``num_envs * T * max_nodes``)."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, num_envs: int, level: int | None = None, *, settings: EnvSettings | None = None,
                 max_episode_steps: int | None = None, **kwargs: Any) -> None:
        for field in ("surrogate", "render_mode", "benchmark"):
            if kwargs.get(field) is not None:
                raise ValueError(f"{field} is not allowed in the vector environment: use "
                                 "vectorization_mode='sync' for it")
        kwargs = {k: v for k, v in kwargs.items() if k not in ("surrogate", "render_mode")}
        self.config = cfg = EnvConfig.build(level, settings, **kwargs)
        if max_episode_steps is not None and max_episode_steps != cfg.horizon:
            raise ValueError(f"horizon = {cfg.horizon} is not allowed with max_episode_steps = {max_episode_steps}: "
                             "the two must agree (the episodes end at the horizon)")
        self.num_envs = num_envs = check_vector_size(num_envs, cfg)
        self.render_mode = None
        self.single_observation_space = cfg.observation_space()
        self.single_action_space = cfg.action_space()
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)

        n, t, d = num_envs, cfg.rows, cfg.max_nodes
        self._arrays = StepArrays.empty(n, t, d)
        self._episodes = Episodes.empty(n, d, cfg.n_obs)  # row i: sub-environment i's episode
        self._rules = (cfg.w_target, cfg.w_parent, cfg.w_info, VALUE_CLIP, TARGET_CLIP)
        self._node_mask = np.zeros((n, d), np.int8)
        self._target_hot = np.zeros((n, d), np.int8)
        self._valid_hot = np.zeros((n, d), np.int8)
        self._levels = np.zeros(n, np.int64)
        # Per-episode state besides the steps and the best target value.
        self._simple = np.full(n, np.inf)
        self._cumulative = np.zeros(n)
        self._autoreset = np.zeros(n, bool)
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
        self._episodes.put(at, eps)
        arrays = self._arrays
        start_rows(arrays.values, arrays.intervened, arrays.row_mask,
                   standardise(eps.observations, eps.mean[:, None], eps.std[:, None]), at)
        self._node_mask[at] = np.arange(cfg.max_nodes) < eps.n_nodes[:, None]
        self._target_hot[at] = 0
        self._target_hot[envs, eps.target] = 1
        self._valid_hot[at] = eps.valid
        arrays.steps[at] = 0
        arrays.best[at] = math.inf
        self._simple[at] = np.where(eps.has_optimum, math.inf, math.nan)
        self._cumulative[at] = np.where(eps.has_optimum, 0.0, math.nan)

    def _rows(self, envs: np.ndarray) -> slice | np.ndarray:
        """``envs`` as an index of the per-environment arrays: a slice when it is every
        sub-environment (the usual case), so that reads are views and writes are block
        copies instead of gathers and scatters."""
        return slice(None) if len(envs) == self.num_envs else envs

    # ------------------------------------------------------------------ step

    def step(self, actions: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray,
                                                  dict[str, Any]]:
        cfg = self.config
        a = check_actions(actions, cfg.max_nodes, {"env": self.num_envs})
        if not self._seeded.all():
            never = int(np.flatnonzero(~self._seeded)[0])
            raise RuntimeError(f"step() called before reset(): sub-environment {never} has no episode yet")
        resetting = self._autoreset.copy()
        if resetting.any():
            self._start(np.flatnonzero(resetting))
        stepping = ~resetting
        rewards, step_info = self._step(a, stepping)
        truncated = self._arrays.steps >= cfg.horizon
        truncated[resetting] = False
        self._autoreset = truncated.copy()
        everyone = np.ones(self.num_envs, bool)
        infos = self._infos(level_mask=everyone, target_mask=resetting, optimum_mask=everyone)
        if stepping.any():
            for key in _STEP_KEYS:
                infos[key], infos[f"_{key}"] = step_info[key], ~resetting
        return self._observation(), rewards, np.zeros(self.num_envs, bool), truncated, infos

    def _step(self, a: np.ndarray, stepping: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One intervention in each sub-environment where ``stepping``: the single
        environment's step, in one engine call for all of them (``step_envs``: decoding,
        sampling, the observation rows, the reward, the best target value and the exact
        expected targets of linear SCMs), then the Monte Carlo expected targets of
        nonlinear SCMs and the regrets. Returns the rewards and the step's infos, 0 where
        not ``stepping``."""
        cfg, arrays, eps = self.config, self._arrays, self._episodes
        nodes, values, y, rewards, is_parent, expected = step_envs(
            eps, arrays, np.ascontiguousarray(a), stepping, cfg.samples_per_step, cfg.n_obs, self._rules)
        estimated = stepping & ~eps.is_linear & eps.has_optimum
        stderr = np.where(stepping & ~(eps.is_linear & eps.has_optimum), math.nan, 0.0)
        for k in np.flatnonzero(estimated).tolist():
            expected[k], stderr[k] = eps.estimates[k].at(int(nodes[k]), float(values[k]))
        scored = stepping & eps.has_optimum
        if scored.any():
            regret = expected[scored] - eps.optimum[scored, 2]
            self._simple[scored] = np.minimum(self._simple[scored], regret)
            self._cumulative[scored] += regret

        def shown(column: np.ndarray) -> np.ndarray:
            return np.where(stepping, column, 0.0)
        info = {"node": nodes, "value": values, "target_value": y, "best_target_value": shown(arrays.best),
                "is_parent": is_parent, "expected_target": expected, "expected_stderr": stderr,
                "simple_regret": shown(self._simple), "cumulative_regret": shown(self._cumulative),
                "info_gain": np.zeros(self.num_envs)}  # always 0 without a surrogate, as in a single environment
        return rewards, info

    def what_if(self, actions: np.ndarray, surrogate: Surrogate | None = None) -> WhatIf:
        """Score G candidate actions per sub-environment, (num_envs, G, max_nodes + 1),
        without advancing any: for each sub-environment exactly what the single
        environment's ``what_if`` gives (the same draw from its generator, the same common
        random numbers, bit for bit), all sub-environments in one engine call with the GIL
        released. Returns (num_envs, G) arrays.

        ``surrogate``: optional; the information gain of each candidate for the reward's
        ``w_info`` term is then the drop in the summed parent entropy of the valid nodes
        once the candidate's rows join the observation, as a single environment with that
        surrogate gives it. It is called on the current observations (leading axis env)
        and on the hypothetical ones (env, candidate), and must return probabilities of
        the same leading shape with a last axis max_nodes (as
        :class:`causal_meta.surrogate.ParentSurrogate` does); another shape, a
        non-numeric array or an entry outside [0, 1] (NaN included) raises ValueError
        naming the (env, candidate, node). Without it that term is 0, as in a single
        environment without a surrogate. Call it between a step and the end of the episode."""
        cfg, eps = self.config, self._episodes
        a = check_actions(actions, cfg.max_nodes, {"env": self.num_envs, "candidate": None})
        if any(generator is None for generator in self._generators):
            raise RuntimeError("what_if() called before reset()")
        n, g, m, d = a.shape[0], a.shape[1], cfg.samples_per_step, cfg.max_nodes
        nodes, values = decode_actions(a.reshape(n * g, -1), *(np.repeat(x, g, axis=0)
                                                                for x in (eps.valid, eps.low, eps.high)))
        nodes, values = nodes.reshape(n, g), values.reshape(n, g)
        seeds = np.array([generator.integers(SEED_BOUND) for generator in self._generators], np.uint64)
        if surrogate is None:
            target = columns_under_interventions(eps.scms, nodes, values, m, seeds, eps.target)  # (n, g, m)
            gains = np.zeros((n, g))
        else:
            rows = np.zeros((n, g, m, d), np.float32)
            for i, scm in enumerate(eps.scms):
                for k in range(g):
                    rows[i, k, :, :scm.d] = scm.sample(m, do={int(nodes[i, k]): float(values[i, k])},
                                                       seed=int(seeds[i]))[0]
            target = rows[np.arange(n), :, :, eps.target]
            observation = self._observation()
            hypothetical = candidates(observation, standardise(rows, eps.mean[:, None, None],
                                                               eps.std[:, None, None]), nodes)
            before = parent_entropy(surrogate_probs(surrogate, observation, {"env": n, "node": d}), self._valid_hot)
            after = parent_entropy(surrogate_probs(surrogate, hypothetical, {"env": n, "candidate": g, "node": d}),
                                   self._valid_hot[:, None])
            gains = before[:, None] - after
        y = target[..., 0].astype(np.float64)  # the mean over rows, summed as row_mean sums
        for r in range(1, m):
            y += target[..., r]
        y /= m
        rows_index = np.arange(n)[:, None]
        target_index = eps.target[:, None]
        mean_y, std_y = eps.mean[rows_index, target_index], eps.std[rows_index, target_index]
        rewards = reward(cfg, target_reward(y, mean_y, std_y), eps.parents[rows_index, nodes].astype(np.float64),
                         gains)
        return WhatIf(rewards, nodes, values, y, gains)

    def graphs(self) -> np.ndarray:
        """(num_envs, max_nodes, max_nodes) uint8 adjacency of each sub-environment's
        hidden SCM (privileged: for training a surrogate on the true graphs, never for an
        agent)."""
        return stack_graphs(self._episodes.scms, self.config.max_nodes)[0]

    def optimal_actions(self) -> np.ndarray:
        """(num_envs, max_nodes + 1): the action that plays each sub-environment's optimum,
        as :meth:`~envs.causal_bo.CausalBOEnv.optimal_action` (privileged; the oracle's).
        ValueError when an optimum was not computed."""
        eps = self._episodes
        if not eps.has_optimum.all():
            bad = int(np.flatnonzero(~eps.has_optimum)[0])
            raise ValueError(f"the optimum of sub-environment {bad} was not computed (optimum_samples = 0 on a "
                             "nonlinear SCM, or no reset yet)")
        return encode_actions(eps.optimum[:, 0].astype(np.int64), eps.optimum[:, 1], eps.low, eps.high)

    # ------------------------------------------------------------------ helpers

    def _observation(self) -> dict[str, np.ndarray]:
        arrays = self._arrays
        return {"samples": arrays.values.copy(), "intervened": arrays.intervened.copy(),
                "row_mask": arrays.row_mask.copy(), "node_mask": self._node_mask.copy(),
                "target": self._target_hot.copy(), "valid": self._valid_hot.copy()}

    def _infos(self, level_mask: np.ndarray, target_mask: np.ndarray, optimum_mask: np.ndarray) -> dict[str, Any]:
        """The keys every info has (level, optimum) and the reset-only target, each zero
        outside its mask and absent if its mask is empty, as Gymnasium merges the infos of
        single environments."""
        infos: dict[str, Any] = {}
        eps = self._episodes
        target, target_std = eps.target, eps.std[np.arange(self.num_envs), eps.target]
        columns = [("level", self._levels, level_mask), ("target", target, target_mask),
                   ("target_std", target_std, target_mask)]
        columns += [(key, column.astype(np.int64) if key == "optimal_node" else column, optimum_mask)
                    for key, column in zip(_OPTIMUM_KEYS, eps.optimum.T)]
        for key, column, mask in columns:
            if mask.any():
                infos[key] = np.where(mask, column, 0).astype(column.dtype, copy=False)
                infos[f"_{key}"] = mask.copy()
        return infos
