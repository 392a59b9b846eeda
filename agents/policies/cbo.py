"""Causal Bayesian optimisation given the true graph (Aglietti, Lu, Paleyes and Gonzalez,
"Causal Bayesian Optimization", AISTATS 2020): the informed reference. Like the oracle
it reads privileged information from the environment, here the episode's graph (and
the intervention ranges, in standardised units), never its SCM's equations or optimum.

What it does, per environment and step:

* **Exploration set**: the valid ancestors of the target. With one variable per step
  (the environment allows single-variable interventions only), these are the singleton
  minimal intervention sets of Aglietti et al.: a non-ancestor has no effect on the
  target. The target's parents alone would miss the optimum often: it lies at an
  ancestor that is not a parent in about 45% of level-10 episodes (measured on 200).
* **Prior mean** of E[Y | do(X = x)] for each X of the set, from the observational
  rows only, by back-door adjustment on X's parents pa(X) (a valid adjustment set when
  there are no hidden confounders): a linear regression of Y on (1, X, pa(X)), its
  prediction averaged over the observational pa(X), which for a linear regression is
  its prediction at their mean (:func:`adjusted_prior`). It is exact in expectation for
  linear SCMs; elsewhere the GP below has to correct it, which 20 noisy steps may not
  do: on the named ToyGraph (cos and exp mechanisms, and a range of Z far beyond its
  observational values) the linear estimate sends CBO to the ends of the ranges and it
  ends worse than random. On the named CompleteGraph, whose hidden confounders the
  given graph omits, the adjustment is biased.
* **Surrogate**: for each X, a GP on the residuals of its interventional outcomes
  against that prior mean, with Aglietti et al.'s causal kernel: an RBF term
  ``a * RBF_l(u, u')`` (u in [-1, 1]: the value's position in X's range) plus the
  do-estimate's own error covariance, so that the GP trusts the prior mean as far as
  the observational rows support it. Aglietti et al. write that term s(x) s(x') (s:
  the estimate's standard error), which takes the errors at any two values as fully
  correlated; the regression gives their covariance exactly, ``phi(x)^T C phi(x')``
  (C: the coefficients' posterior covariance), and that is used. Noise ``eta``. (a, l,
  eta) maximise the marginal likelihood (L-BFGS-B from two starts; a and l within
  :data:`BOUNDS`, eta at least the variance of one outcome that the regression
  implies, divided by the rows per step), separately for each X once it has outcomes.
  Without that floor one or two outcomes read as noise-free make the GP certain of the
  residual everywhere (on 10 PSA episodes the normalised simple regret after 20 steps
  was 0.76 without it, 0 with it). Before X has outcomes its GP is the prior, a = 1
  (the outcomes' unit, the target's observational standard deviation) and l = 1 (half
  the range).
* **Acquisition**: expected improvement (its logarithm, computed stably) below the
  lowest outcome so far, or before any outcome below the target's observational mean,
  maximised over every (X, u) of the exploration set and a grid of ``grid`` evenly
  spaced u (ties to the lowest variable, then the lowest u). So even the first step
  is chosen from the do-estimates; no random initial design is needed, and the policy
  is deterministic.

The outcomes are the target's standardised values, read from the observation
(:func:`~agents.policies.base.outcomes`); the actions are remembered in the
stable-baselines3 ``state``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium.vector import SyncVectorEnv
from scipy.linalg import cho_solve
from scipy.optimize import minimize
from scipy.special import erfcx, ndtr

from agents.policies.base import Memory, OutcomePolicy, as_batch
from envs.causal_bo import CausalBOEnv
from envs.vector import CausalBOVectorEnv

__all__ = ["BOUNDS", "MIN_NOISE", "PRIOR", "RIDGE", "AdjustedPrior", "CausalKnowledge", "CboPolicy", "ResidualGp",
           "adjusted_prior", "ancestors", "fit_residual_gp", "log_expected_improvement", "true_knowledge"]

RIDGE = 0.1
"""Prior precision of the adjustment regression's coefficients (in units of its noise
variance): weak, so that a few observational rows and several parents stay well posed."""

PRIOR = (1.0, 1.0)
"""(a, l) of a variable's residual GP before it has outcomes, and the first start of
the marginal-likelihood fit."""

BOUNDS = ((1e-4, 10.0), (0.05, 4.0))
"""The ranges of (a, l) that the marginal-likelihood fit searches."""

MIN_NOISE = 1e-4
"""The lowest noise variance eta of a residual GP, whatever the regression says."""

_SECOND_START = (0.01, 0.3)
"""The other start of the fit: a GP that trusts the prior mean."""


@dataclass(frozen=True)
class CausalKnowledge:
    """What the CBO reference is told about the episodes of a batch of N environments,
    padded to width D: their graphs and their intervention ranges in standardised
    units (the observation's), so that a value entry u maps onto the value
    ``low + (u + 1) / 2 * (high - low)`` of the observation's columns."""

    adjacency: np.ndarray
    """(N, D, D) bool, ``adjacency[n, i, j]`` for the edge i -> j."""
    low: np.ndarray
    """(N, D) lowest intervention value of each variable, standardised."""
    high: np.ndarray
    """(N, D) highest intervention value of each variable, standardised."""


def true_knowledge(env: Any) -> CausalKnowledge:
    """The graphs and standardised intervention ranges of the episodes now running in
    ``env``: a :class:`~envs.vector.CausalBOVectorEnv`, a ``SyncVectorEnv`` of
    CausalBO-v0 environments or one (wrapped) CausalBO-v0 environment (a batch of 1).
    Privileged: for the CBO reference, as ``optimal_actions`` is for the oracle."""
    if isinstance(env, CausalBOVectorEnv):
        adjacency = env.graphs().astype(bool)
        shape = adjacency.shape[:2]
        bounds = env.config.intervention_range
        return CausalKnowledge(adjacency, np.full(shape, bounds.low), np.full(shape, bounds.high))
    subs = [sub.unwrapped for sub in env.envs] if isinstance(env, SyncVectorEnv) else [env.unwrapped]
    for sub in subs:
        if not isinstance(sub, CausalBOEnv):
            raise TypeError(f"env = {type(sub).__name__} is not allowed: the CBO reference reads the graphs of "
                            "CausalBO-v0 environments (CausalBOEnv, a SyncVectorEnv of them or CausalBOVectorEnv)")
        if sub.episode is None:
            raise RuntimeError("true_knowledge() called before reset(): there is no episode yet")
    width = subs[0].config.max_nodes
    adjacency = np.zeros((len(subs), width, width), bool)
    for k, sub in enumerate(subs):
        d = sub.episode.d
        adjacency[k, :d, :d] = sub.episode.scm.adjacency
    low, high = (np.stack([(getattr(sub.episode, end) - sub.episode.mean) / sub.episode.std for sub in subs])
                 for end in ("low", "high"))
    return CausalKnowledge(adjacency, low, high)


def ancestors(adjacency: np.ndarray, node: int) -> np.ndarray:
    """(D,) bool: the ancestors of ``node`` in the graph ``adjacency`` (D, D)."""
    found = adjacency[:, node].astype(bool)
    while True:
        grown = found | adjacency[:, found].any(axis=1)
        if (grown == found).all():
            return found
        found = grown


@dataclass(frozen=True)
class AdjustedPrior:
    """E[Y | do(X = x)] estimated by back-door adjustment: a Bayesian linear regression
    of Y on the features phi(x) = (1, x, pa(X)) evaluated at the observational mean of
    pa(X). Its error is Gaussian with covariance ``phi(x)^T cov phi(x')`` between any two
    values, so it enters the GP as a kernel (:meth:`factor`)."""

    coef: np.ndarray
    cov: np.ndarray
    """The coefficients' posterior covariance."""
    adjustment: np.ndarray
    """The observational mean of each variable of pa(X)."""
    outcome_variance: float
    """The variance of one outcome Y under do(X = x) that the regression implies: its
    residual variance plus the variance that pa(X) contributes through its coefficients
    (exact for a linear Gaussian SCM). The floor of the GP's noise."""

    def _features(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        return np.column_stack([np.ones_like(x), x, np.broadcast_to(self.adjustment, (len(x), len(self.adjustment)))])

    def mean(self, x: np.ndarray) -> np.ndarray:
        return self._features(x) @ self.coef

    def factor(self, x: np.ndarray) -> np.ndarray:
        """(len(x), p) F with F F^T the covariance of the estimate's errors at x."""
        return self._features(x) @ np.linalg.cholesky(self.cov)

    def stderr(self, x: np.ndarray) -> np.ndarray:
        return np.sqrt((self.factor(x) ** 2).sum(axis=1))


def adjusted_prior(rows: np.ndarray, node: int, parents: np.ndarray, target: int) -> AdjustedPrior:
    """The do-estimate of the target under do(``node`` = x) from observational ``rows``
    (n, D), adjusting for ``parents`` (the indices of pa(node)). Bayesian ridge
    regression: coefficients ~ N(0, noise / RIDGE), the noise variance the residual
    mean square (n - p degrees of freedom; 1, the target's standardised variance, when
    n <= p)."""
    rows = np.asarray(rows, np.float64)
    n = len(rows)
    features = np.column_stack([np.ones(n), rows[:, node], rows[:, parents]])
    y = rows[:, target]
    p = features.shape[1]
    gram = features.T @ features + RIDGE * np.eye(p)
    coef = np.linalg.solve(gram, features.T @ y)
    residual = y - features @ coef
    noise = float(residual @ residual) / (n - p) if n > p else 1.0
    adjustment = rows[:, parents].mean(axis=0) if n else np.zeros(len(parents))
    spread = coef[2:] @ np.atleast_2d(np.cov(rows[:, parents], rowvar=False)) @ coef[2:] if n > 1 and len(parents) else 0.0
    return AdjustedPrior(coef, noise * np.linalg.inv(gram), adjustment, noise + float(spread))


@dataclass(frozen=True)
class ResidualGp:
    """A GP over u in [-1, 1] with the kernel ``a * RBF_l(u, u') + F(u) F(u')^T`` (F: the
    do-estimate's error factor at the value of u, :meth:`AdjustedPrior.factor`) and
    noise ``eta``, conditioned on residuals ``r`` at ``u`` (none: the prior)."""

    a: float
    length: float
    eta: float
    u: np.ndarray
    factor: np.ndarray
    r: np.ndarray

    def cross(self, u: np.ndarray, factor: np.ndarray) -> np.ndarray:
        """The kernel between the training inputs and (u, factor): (n, len(u))."""
        rbf = np.exp(-((self.u[:, None] - u[None, :]) ** 2) / (2.0 * self.length**2))
        return self.a * rbf + self.factor @ factor.T

    def posterior(self, u: np.ndarray, factor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of the latent residual (noise excluded) at the
        inputs u whose error factors are ``factor``."""
        prior = self.a + (factor**2).sum(axis=1)
        if not len(self.u):
            return np.zeros_like(u), np.sqrt(prior)
        chol = np.linalg.cholesky(self.cross(self.u, self.factor) + self.eta * np.eye(len(self.u)))
        cross = self.cross(u, factor)
        v = np.linalg.solve(chol, cross)
        return cross.T @ cho_solve((chol, True), self.r), np.sqrt(np.maximum(prior - (v**2).sum(axis=0), 0.0))


def _negative_log_likelihood(log_params: np.ndarray, u: np.ndarray, factor: np.ndarray, r: np.ndarray) -> float:
    a, length, eta = np.exp(log_params)
    gp = ResidualGp(a, length, eta, u, factor, r)
    try:
        chol = np.linalg.cholesky(gp.cross(u, factor) + eta * np.eye(len(u)))
    except np.linalg.LinAlgError:
        return np.inf
    return 0.5 * float(r @ cho_solve((chol, True), r)) + float(np.log(np.diag(chol)).sum())


def fit_residual_gp(u: np.ndarray, factor: np.ndarray, r: np.ndarray, noise_floor: float) -> ResidualGp:
    """The residual GP whose (a, l, eta) maximise the marginal likelihood of ``r`` at
    ``u`` (error factors ``factor``), a and l within :data:`BOUNDS` and eta at least
    ``noise_floor`` (and at most 10 or the floor); the prior (:data:`PRIOR`) without
    data. The floor keeps one or two outcomes from being read as noise-free, which
    would make the GP certain of the residual everywhere."""
    u, factor, r = np.asarray(u, np.float64), np.asarray(factor, np.float64), np.asarray(r, np.float64)
    floor = max(noise_floor, MIN_NOISE)
    if not len(u):
        return ResidualGp(*PRIOR, floor, u, factor, r)
    log_bounds = [tuple(np.log(bound)) for bound in (*BOUNDS, (floor, max(10.0, floor)))]
    best = None
    for a, length in (PRIOR, _SECOND_START):
        start = np.log([a, length, min(2.0 * floor, max(10.0, floor))])
        result = minimize(_negative_log_likelihood, start, args=(u, factor, r), method="L-BFGS-B", bounds=log_bounds)
        if best is None or result.fun < best.fun:
            best = result
    a, length, eta = np.exp(best.x)
    return ResidualGp(float(a), float(length), float(eta), u, factor, r)


def log_expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """log E[max(best - f, 0)] for f ~ N(mean, std^2), finite however far above the
    incumbent the mean lies. With z = (best - mean) / std, EI = std * h(z), h(z) =
    phi(z) + z Phi(z); for z < 0, h(z) = phi(z) (1 - t R(t)) with t = -z and the Mills
    ratio R(t) = sqrt(pi / 2) erfcx(t / sqrt(2)), whose logarithm does not underflow."""
    std = np.maximum(np.asarray(std, np.float64), 1e-12)
    z = (best - np.asarray(mean, np.float64)) / std
    above, t = np.maximum(z, 0.0), np.maximum(-z, 0.0)
    ratio = np.minimum(t * np.sqrt(np.pi / 2.0) * erfcx(t / np.sqrt(2.0)), 1.0 - 1e-16)
    below = -0.5 * t**2 - 0.5 * np.log(2.0 * np.pi) + np.log1p(-ratio)
    at_or_above = np.log(np.exp(-0.5 * above**2) / np.sqrt(2.0 * np.pi) + above * ndtr(above))
    return np.log(std) + np.where(z < 0, below, at_or_above)


class CboPolicy(OutcomePolicy):
    """Causal BO given the true graph; see the module docstring. ``knowledge`` returns
    the :class:`CausalKnowledge` of the episodes now running (``lambda:
    true_knowledge(env)``); it is called at every ``predict``, so it follows resets."""

    def __init__(self, knowledge: Callable[[], CausalKnowledge], grid: int = 201) -> None:
        if not isinstance(grid, int) or grid < 2:
            raise ValueError(f"grid = {grid!r} is not allowed: must be an integer >= 2")
        self.knowledge = knowledge
        self.grid = np.linspace(-1.0, 1.0, grid)
        self._known: CausalKnowledge | None = None

    def predict(self, observation: dict[str, np.ndarray], state: Memory | None = None,
                episode_start: np.ndarray | None = None, deterministic: bool = False) -> tuple[np.ndarray, Memory]:
        obs, _ = as_batch(observation)
        self._known = _checked(self.knowledge(), np.shape(obs["valid"]))
        return super().predict(observation, state, episode_start, deterministic)

    def choose(self, obs: dict[str, np.ndarray], i: int, history: list[tuple[int, float]], ys: np.ndarray
               ) -> tuple[int, float]:
        known = self._known
        adjacency = known.adjacency[i]
        target = int(np.argmax(obs["target"][i]))
        candidates = np.flatnonzero(np.asarray(obs["valid"][i], bool) & ancestors(adjacency, target))
        if not len(candidates):
            raise ValueError(f"environment {i} of the batch has no valid ancestor of its target {target}: no "
                             "single intervention can move the target, so there is nothing to optimise")
        rows = np.asarray(obs["row_mask"][i], bool) & ~np.asarray(obs["intervened"][i], bool).any(axis=1)
        observational = np.asarray(obs["samples"][i], np.float64)[rows]
        best = float(ys.min()) if len(ys) else float(observational[:, target].mean()) if len(observational) else 0.0
        nodes = np.array([node for node, _ in history], np.int64)
        entries = np.array([u for _, u in history])
        per_step = _rows_per_step(obs, i, len(history))
        scores = np.empty((len(candidates), len(self.grid)))
        for k, node in enumerate(candidates.tolist()):
            low, high = known.low[i, node], known.high[i, node]
            prior = adjusted_prior(observational, node, np.flatnonzero(adjacency[:, node]), target)
            mine = nodes == node
            x_seen = low + (entries[mine] + 1.0) / 2.0 * (high - low)
            x_grid = low + (self.grid + 1.0) / 2.0 * (high - low)
            gp = fit_residual_gp(entries[mine], prior.factor(x_seen), ys[mine] - prior.mean(x_seen),
                                 prior.outcome_variance / per_step)
            residual, std = gp.posterior(self.grid, prior.factor(x_grid))
            scores[k] = log_expected_improvement(prior.mean(x_grid) + residual, std, best)
        k, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
        return int(candidates[k]), float(self.grid[j])


def _rows_per_step(obs: dict[str, np.ndarray], i: int, steps: int) -> int:
    """How many rows each step added to environment ``i``'s observation (the
    environment's ``samples_per_step``; 1 before any step): an outcome is their mean."""
    rows = np.asarray(obs["row_mask"][i], bool) & np.asarray(obs["intervened"][i], bool).any(axis=1)
    return max(int(rows.sum()) // steps, 1) if steps else 1


def _checked(known: CausalKnowledge, shape: tuple[int, int]) -> CausalKnowledge:
    """``known`` if it describes a batch of ``shape`` (N, D); ValueError otherwise."""
    n, d = shape
    for name, value, expected in (("adjacency", known.adjacency, (n, d, d)), ("low", known.low, (n, d)),
                                  ("high", known.high, (n, d))):
        if np.shape(value) != expected:
            raise ValueError(f"CBO knowledge {name} shape = {np.shape(value)} is not allowed: the observation asks "
                             f"for {expected}; bind the CBO policy to the environment that produced the observation")
    return known
