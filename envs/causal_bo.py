"""CausalBO-v0: choose interventions do(X_i = v) on a hidden SCM to minimise a target.

## Description

Each episode draws a hidden structural causal model (SCM) from the family of the current
curriculum level (:mod:`envs.curriculum`), or takes a named benchmark SCM
(:mod:`envs.named`), and picks a target variable that has at least one parent. The
agent sees ``n_obs`` observational samples, then performs one intervention per step and
sees its sample(s). Its goal is to find the intervention that makes the target small.

## Action Space

``Box(-1, 1, (max_nodes + 1,), float32)``. The first ``max_nodes`` entries score the
variables and the argmax over the valid nodes (real, not the target, manipulable) is
chosen, ties to the lowest index; the target and padded nodes are never chosen. The last
entry is clipped to [-1, 1] and mapped affinely onto the chosen node's interval, -1 to
its low end and 1 to its high end. The interval is ``mean_i + r * std_i`` for r in the
``intervention_range`` (default [-2, 2], :data:`envs.actions.DEFAULT_INTERVENTION_RANGE`),
with the node's observational mean and standard deviation; named SCMs use their
published domains. An action outside the Box is accepted, not refused: its last entry
is clipped (as stable-baselines3 clips Box actions, so an agent's unclipped Gaussian
sample plays the interval's end) and its scores are used as they are (only their order
counts; clipping them would tie 2 and 3 and hand the choice to the lower index). A NaN
or infinite entry, a non-numeric array or a wrong shape raises ValueError. The rule
lives in :mod:`envs.actions`, shared with the what-if method, the vector environment
(whose engine step decodes by the same rule) and the baselines.

## Observation Space

A ``Dict`` with fixed shapes, padded to ``max_nodes`` variables and ``T = n_obs +
horizon * samples_per_step`` rows (the longest history):

| key          | space                                   | meaning                                   |
|--------------|-----------------------------------------|-------------------------------------------|
| "samples"    | Box(-100, 100, (T, max_nodes), float32) | the values, standardised (below)          |
| "intervened" | MultiBinary((T, max_nodes))             | 1 where do() set the value                |
| "row_mask"   | MultiBinary(T)                          | 1 for rows filled so far                  |
| "node_mask"  | MultiBinary(max_nodes)                  | 1 for the SCM's real variables            |
| "target"     | MultiBinary(max_nodes)                  | one-hot of the target variable            |
| "valid"      | MultiBinary(max_nodes)                  | 1 for the variables an action may choose  |

"valid" marks the real variables other than the target that may be manipulated (all of
them for curriculum SCMs, the published ones for named SCMs): a policy that masks its
choice with it chooses exactly the variable that the action rule will apply. Rows are
filled in order: the observational samples first, then ``samples_per_step``
rows per step. (The values key is "samples", not "values": stable-baselines3 keeps one
module per key in a torch ``ModuleDict``, whose ``values`` method the key would shadow.)
Values are standardised by each variable's observational mean and
standard deviation, ``(x - mean) / std``, clipped to [-100, 100]; padding is 0. The
moments are exact for linear SCMs and estimated from 2048 observational samples
otherwise. Standardising removes the scale cues that would give away the causal order.

## Rewards

``reward = w_target * r_target + w_parent * is_parent + w_info * info_gain`` with
defaults 0.9, 0.1 and 0.0, where

* ``r_target = -clip((y - mean_Y) / std_Y, -5, 5)``: y is the target's value (the mean
  over the step's samples), standardised by its observational moments, negated so that
  lower targets pay more, and clipped so that one extreme sample cannot dominate;
* ``is_parent`` is 1 if the chosen variable is a true parent of the target, else 0;
* ``info_gain`` is the drop in entropy (nats) of the surrogate's parent posterior over
  the valid nodes, sum_i H(Bernoulli(p_i)), caused by the step's samples; 0 without a
  ``surrogate``.

## Info

Every step reports, in the SCM's units: ``node`` and ``value`` (the intervention),
``target_value`` (y) and ``best_target_value`` (the lowest y so far), ``is_parent``,
``expected_target`` (E[Y | do(node = value)] at exactly the value played) with its
standard error ``expected_stderr``, the optimal single-node intervention
``optimal_node``, ``optimal_value``, ``optimal_expected_target`` with its standard error
``optimal_stderr``, ``simple_regret`` (the lowest expected_target so far minus the
optimum), ``cumulative_regret`` (the sum of expected_target minus the optimum) and
``info_gain``; reset reports ``level``, ``target``, ``target_std`` (the target's
observational standard deviation, the unit of the reward's target term) and the
optimum.

For linear SCMs all of these are exact (standard errors 0). Otherwise
(:mod:`envs.optimum`) expected targets are means of ``optimum_samples`` Monte Carlo
samples at the exact value, all drawn with one seed per episode (common random
numbers), and the optimum is a grid of ``optimum_grid`` values per node refined by
Brent's method around the best grid points, under the same numbers: playing the
optimum's value gives a regret of exactly 0, and no value scores clearly below it. That
costs about 5 ms per reset at levels 12-15 on one core. With ``optimum_samples=0`` it is
skipped for nonlinear SCMs (for training runs that do not read regrets) and the optimum,
expected targets and regrets are NaN.

## Starting State

``reset(seed=s)`` seeds the environment's generator ``np_random`` and draws a base seed
from it; episode k after that has the seed ``task_seed(base, k)``, which draws its SCM
and, through the same hash, its target, noise stream and Monte Carlo seeds
(:mod:`envs.episode`). An episode is thus a pure function of (seed, episode index) and
of the actions; ``reset()`` without a seed moves on to the next episode, and what-if
calls (which draw from ``np_random``) change no episode. ``reset(options={"level": k})``
switches the curriculum level from this episode on.

## Episode End

The episode never terminates. The environment truncates it after its own ``horizon``
steps (20 by default, 30 in the production setting: ``gymnasium.make("CausalBO-v0",
horizon=30)``); registration adds no TimeLimit, and one given
(``max_episode_steps``) can only cut the episode shorter. Stepping past ``horizon``
raises RuntimeError, as the history would not fit the observation.

## Arguments

* ``settings``: an :class:`~envs.settings.EnvSettings`, the episode settings below
  (``n_obs``, ``samples_per_step``, ``horizon``, ``intervention_range``, the reward
  weights, ``optimum_grid`` and ``optimum_samples``) in one object, as every entry
  point's ``env`` config section holds them; each of them given as a keyword replaces
  the object's (default: EnvSettings's defaults).
* ``level`` (1-15, default 1): curriculum level; ``graph``, ``mechanism``, ``noise``,
  ``nodes`` override it (:mod:`envs.curriculum`).
* ``benchmark``: ``"toy_graph"``, ``"psa"`` or ``"complete_graph"`` for a named SCM
  instead of the curriculum.
* ``max_nodes``: padded width (default: the level's largest node count); give the
  largest width needed when levels change through ``reset`` options.
* ``n_obs`` (10), ``samples_per_step`` (1), ``horizon`` (20); the observation holds at
  most 65,536 rows T.
* ``intervention_range``: w, (low, high) or an InterventionRange (default [-2, 2]).
* ``w_target``, ``w_parent``, ``w_info``: reward weights (0.9, 0.1, 0.0).
* ``surrogate``: a callable observation -> (max_nodes,) parent probabilities of the
  target (:class:`Surrogate`), ``"avici"`` for the shipped pre-trained AVICI
  checkpoint (:class:`causal_meta.surrogate.ParentSurrogate`, which works with any
  registered model and is the default initial surrogate), or None.
* ``optimum_grid`` (17, at most 1025), ``optimum_samples`` (128; 0, or 2 to 2**20): the
  Monte Carlo optimum and expected targets of nonlinear SCMs; one reset draws at most
  2**25 values (``optimum_grid * max_nodes * optimum_samples``).
* ``render_mode``: ``"rgb_array"`` or ``"ansi"``.

The environment also offers :meth:`CausalBOEnv.what_if`, which scores a group of
candidate actions from the current state without advancing it, information gain
included (under the environment's surrogate or one given to the call). The rows of the
observation are laid out and written by :mod:`envs.rows`.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Protocol

import gymnasium as gym
import numpy as np

from causal_meta.scm import task_seed
from envs.actions import check_actions, decode_action, decode_actions, encode_actions
from envs.checks import check_array
from envs.config import HORIZON, PRODUCTION_HORIZON, EnvConfig
from envs.episode import TARGET_CLIP, Episode, reward, row_mean, standardise, start_episodes, target_reward
from envs.rows import append_rows, candidates, start_rows
from envs.settings import EnvSettings

__all__ = ["HORIZON", "PRODUCTION_HORIZON", "CausalBOEnv", "Step", "Surrogate", "WhatIf", "parent_entropy",
           "surrogate_probs"]

SEED_BOUND = 2**63
"""Base seeds are drawn from [0, SEED_BOUND)."""


class Surrogate(Protocol):
    """A model of the target's parents: observation -> (max_nodes,) probabilities. The
    vector environment's what-if calls it on observations with leading axes (env) and
    (env, candidate), and wants (..., max_nodes) back
    (:class:`causal_meta.surrogate.ParentSurrogate` answers both)."""

    def __call__(self, observation: dict[str, np.ndarray]) -> np.ndarray: ...


def parent_entropy(probs: np.ndarray, valid: np.ndarray) -> Any:
    """Sum of Bernoulli entropies (nats) of the parent probabilities of valid nodes, over
    the last axis: a float for (D,) arrays, (B,) for a batch (B, D). Computed in float64,
    whatever the probabilities' dtype: in float32 the clip's 1 - 1e-12 rounds to 1, and a
    certain parent (a saturated sigmoid) would give 0 * log(0) = NaN."""
    p = np.clip(np.asarray(probs, np.float64), 1e-12, 1.0 - 1e-12)
    entropy = np.where(np.asarray(valid, bool), -(p * np.log(p) + (1.0 - p) * np.log1p(-p)), 0.0).sum(axis=-1)
    return float(entropy) if np.ndim(entropy) == 0 else entropy


def surrogate_probs(surrogate: Surrogate, observation: dict[str, np.ndarray], axes: dict[str, int]
                    ) -> np.ndarray:
    """The surrogate's parent probabilities of ``observation``, checked (float64, the
    shape ``axes`` names, every entry a probability; NaN refused) and reported at the
    caller's (env, candidate, node)."""
    return check_array(surrogate(observation), "surrogate output", axes, "a probability in [0, 1]",
                       lambda p: (p >= 0.0) & (p <= 1.0))


class Step(NamedTuple):
    """One step of an episode: the intervention do(X_node = value), the target's value
    (the mean of the step's samples) and its expected value under that intervention (NaN
    when the optimum was not computed)."""

    node: int
    value: float
    target_value: float
    expected_target: float


class WhatIf(NamedTuple):
    """Scores of a group of candidate actions (arrays of length G)."""

    rewards: np.ndarray
    nodes: np.ndarray
    values: np.ndarray
    target_values: np.ndarray
    info_gains: np.ndarray
    """The reward's information gain term before its weight ``w_info`` (0 without a
    surrogate)."""


class CausalBOEnv(gym.Env[dict[str, np.ndarray], np.ndarray]):
    """Causal Bayesian optimisation on a hidden SCM; see the module docstring."""

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 2}

    def __init__(self, level: int | None = None, *, settings: EnvSettings | None = None,
                 surrogate: Surrogate | str | None = None, render_mode: str | None = None, **kwargs: Any) -> None:
        self.config = EnvConfig.build(level, settings, **kwargs)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode = {render_mode!r} is not allowed: expected None or one of "
                             f"{self.metadata['render_modes']}")
        self.render_mode = render_mode
        self.surrogate = _surrogate(surrogate)
        self.observation_space = self.config.observation_space()
        self.action_space = self.config.action_space()
        cfg = self.config
        self._values = np.zeros((cfg.rows, cfg.max_nodes), np.float32)
        self._intervened = np.zeros((cfg.rows, cfg.max_nodes), np.int8)
        self._row_mask = np.zeros(cfg.rows, np.int8)
        self._node_mask = np.zeros(cfg.max_nodes, np.int8)
        self._target = np.zeros(cfg.max_nodes, np.int8)
        self._valid = np.zeros(cfg.max_nodes, np.int8)
        self._level = cfg.level
        self._base: int | None = None
        self._next_episode = 0
        self.episode: Episode | None = None
        self.parent_probabilities: np.ndarray | None = None
        """The surrogate's latest parent probabilities (None without a surrogate)."""
        self.history: list[Step] = []
        """What each step of the episode did and gave (see :class:`Step`)."""

    # ------------------------------------------------------------------ episode

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        self._level = self.config.next_level(options, self._level)
        if seed is not None or self._base is None:
            self._base = int(self.np_random.integers(SEED_BOUND))
            self._next_episode = 0
        seed_k = task_seed(self._base, self._next_episode)
        self.episode = ep = start_episodes(self.config, [self._level], [seed_k])[0]
        self._next_episode += 1
        d = ep.d
        start_rows(self._values, self._intervened, self._row_mask, standardise(ep.observations, ep.mean, ep.std))
        self._node_mask.fill(0)
        self._node_mask[:d] = 1
        self._target.fill(0)
        self._target[ep.target] = 1
        self._valid[:] = ep.valid
        self._mean_y, self._std_y = float(ep.mean[ep.target]), float(ep.std[ep.target])
        self._penalty = np.where(ep.valid, 0.0, -np.inf)
        self._steps = 0
        self._best_y = math.inf
        self._simple_regret = math.inf if ep.response is not None else math.nan
        self._cumulative_regret = 0.0 if ep.response is not None else math.nan
        self.history = []
        obs = self._observation()
        self._entropy = self._surrogate_entropy(obs)
        node, value, expected, stderr = ep.optimum
        self._optimum_info = {"optimal_node": node, "optimal_value": value, "optimal_expected_target": expected,
                              "optimal_stderr": stderr}
        return obs, {"level": self._level, "target": ep.target, "target_std": self._std_y, **self._optimum_info}

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        ep = self.episode
        if ep is None:
            raise RuntimeError("step() called before reset()")
        cfg = self.config
        if self._steps >= cfg.horizon:
            raise RuntimeError(f"step {self._steps + 1} is past horizon = {cfg.horizon}: the episode was truncated "
                               "there; call reset()")
        node, value = decode_action(check_actions(action, cfg.max_nodes), self._penalty, ep.low, ep.high)
        data = ep.scm.sample(cfg.samples_per_step, do={node: value})[0]
        y = row_mean(data[:, ep.target])
        self._record(data, node)
        r_target = -min(max((y - self._mean_y) / self._std_y, -TARGET_CLIP), TARGET_CLIP)  # target_reward, scalar
        gain = self._info_gain()
        is_parent = bool(ep.parents[node])
        step_reward = reward(cfg, r_target, float(is_parent), gain)
        self._best_y = min(self._best_y, y)
        expected = stderr = math.nan
        if ep.response is not None:
            expected, stderr = ep.response.at(node, value)
            regret = expected - ep.optimum.expected
            self._simple_regret = min(self._simple_regret, regret)
            self._cumulative_regret += regret
        self.history.append(Step(node, value, y, expected))
        info = {"level": self._level, "node": node, "value": value, "target_value": y,
                "best_target_value": self._best_y, "is_parent": is_parent, "expected_target": expected,
                "expected_stderr": stderr, **self._optimum_info, "simple_regret": self._simple_regret,
                "cumulative_regret": self._cumulative_regret, "info_gain": gain}
        return self._observation(), step_reward, False, self._steps >= cfg.horizon, info

    def _record(self, data: np.ndarray, node: int) -> None:
        """Write a step's samples into the next rows of the observation buffers."""
        append_rows(self._values, self._intervened, self._row_mask, self._standardise(data), node)
        self._steps += 1

    def _standardise(self, data: np.ndarray) -> np.ndarray:
        """Samples (..., d) of the SCM as the observation shows them."""
        ep = self.episode
        return standardise(data, ep.mean[:ep.d], ep.std[:ep.d])

    def _observation(self) -> dict[str, np.ndarray]:
        # Copies: Gymnasium requires fresh arrays on every call, as users keep them.
        return {"samples": self._values.copy(), "intervened": self._intervened.copy(),
                "row_mask": self._row_mask.copy(), "node_mask": self._node_mask.copy(), "target": self._target.copy(),
                "valid": self._valid.copy()}

    # ------------------------------------------------------------------ surrogate

    def _surrogate_entropy(self, obs: dict[str, np.ndarray]) -> float:
        if self.surrogate is None:
            return 0.0
        self.parent_probabilities = surrogate_probs(self.surrogate, obs, {"node": self.config.max_nodes})
        return parent_entropy(self.parent_probabilities, self.episode.valid)

    def _info_gain(self) -> float:
        """Entropy drop of the surrogate's posterior after the step just recorded."""
        if self.surrogate is None:
            return 0.0
        before, self._entropy = self._entropy, self._surrogate_entropy(self._observation())
        return before - self._entropy

    def optimal_action(self) -> np.ndarray:
        """The action that plays the episode's optimum (privileged: it reads the hidden
        SCM; for the oracle baseline and tests, never for an agent). ValueError when the
        optimum was not computed (``optimum_samples=0`` on a nonlinear SCM)."""
        ep = self.episode
        if ep is None:
            raise RuntimeError("optimal_action() called before reset()")
        if ep.optimum.node < 0:
            raise ValueError("the optimum of this episode was not computed (optimum_samples = 0 on a nonlinear SCM)")
        return encode_actions(np.array([ep.optimum.node]), np.array([ep.optimum.value]), ep.low[None], ep.high[None])[0]

    # ------------------------------------------------------------------ what-if

    def what_if(self, actions: np.ndarray, surrogate: Surrogate | None = None) -> WhatIf:
        """Score candidate actions ((G, max_nodes + 1)) from the current state without
        advancing it: each gets the reward its step would give, under fresh noise drawn
        from the env's generator. All G candidates share that noise (common random
        numbers), so their rewards differ by their interventions, not by luck; the
        episode's own noise stream is untouched. Deterministic under the env's seed.

        The information gain is the drop in the summed parent entropy once a
        candidate's rows join the observation, under ``surrogate`` (default: the
        environment's own; none: 0), as a step reports it."""
        ep = self.episode
        if ep is None:
            raise RuntimeError("what_if() called before reset()")
        cfg = self.config
        a = check_actions(actions, cfg.max_nodes, {"candidate": None})
        shape = (len(a), cfg.max_nodes)
        nodes, values = decode_actions(a, np.broadcast_to(ep.valid, shape), np.broadcast_to(ep.low, shape),
                                       np.broadcast_to(ep.high, shape))
        seed = int(self.np_random.integers(SEED_BOUND))
        ys = np.empty(len(a))
        rows = np.zeros((len(a), cfg.samples_per_step, cfg.max_nodes), np.float32)
        for k, (node, value) in enumerate(zip(nodes.tolist(), values.tolist())):
            data = ep.scm.sample(cfg.samples_per_step, do={node: value}, seed=seed)[0]
            ys[k] = row_mean(data[:, ep.target])
            rows[k, :, :ep.d] = self._standardise(data)
        gains = self._hypothetical_gains(self.surrogate if surrogate is None else surrogate, rows, nodes)
        rewards = reward(cfg, target_reward(ys, self._mean_y, self._std_y), ep.parents[nodes].astype(np.float64), gains)
        return WhatIf(rewards, nodes, values, ys, gains)

    def _hypothetical_gains(self, surrogate: Surrogate | None, rows: np.ndarray, nodes: np.ndarray
                            ) -> np.ndarray:
        """(G,) entropy drops under ``surrogate`` of the candidates' ``rows`` (G, m, D)."""
        if surrogate is None:
            return np.zeros(len(nodes))
        obs, axes, valid = self._observation(), {"node": self.config.max_nodes}, self.episode.valid

        def entropy(observation: dict[str, np.ndarray]) -> float:
            return parent_entropy(surrogate_probs(surrogate, observation, axes), valid)
        before = self._entropy if surrogate is self.surrogate else entropy(obs)
        hypothetical = candidates(obs, rows, nodes)
        return before - np.array([entropy({key: value[k] for key, value in hypothetical.items()})
                                  for k in range(len(nodes))])

    # ------------------------------------------------------------------ render

    def render(self) -> np.ndarray | str | None:
        if self.render_mode is None or self.episode is None:
            return None
        from envs import render  # matplotlib and networkx load only when rendering

        return render.rgb_array(self) if self.render_mode == "rgb_array" else render.ansi(self)


def _surrogate(surrogate: Surrogate | str | None) -> Surrogate | None:
    """The surrogate named or given. ``"avici"`` loads the checkpoint on first use, so
    that torch is imported only by environments that ask for it."""
    if surrogate is None or callable(surrogate):
        return surrogate
    if surrogate == "avici":
        from causal_meta.surrogate import ParentSurrogate

        return ParentSurrogate.load()
    raise ValueError(f"surrogate = {surrogate!r} is not allowed: must be None, 'avici' or a callable "
                     "observation -> (max_nodes,) parent probabilities")
