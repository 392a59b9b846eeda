"""What the environment knows about its hidden SCM: observational moments, the expected
target E[Y | do(X_i = v)] at any played value, and the best single-node intervention.

Linear SCMs (x = W^T x + b + noise, zero-mean noise): with B = (I - W)^{-1}, B[j, k] is
the total effect of j on k, the observational mean is B^T b and the variance of x_k is
sum_j B[j, k]^2 var(noise_j). Under do(X_i = v) the paths through i are cut, which gives
E[Y | do(X_i = v)] = mean_Y + B[i, Y] (v - mean_i) exactly (:class:`LinearResponse`):
affine in v, so its minimum over an interval sits at an end. The engine computes the
moments and that optimum when it starts an episode (``causal_meta._core.start_episodes``,
by propagation along each topological order rather than an inverse, one SCM at a time,
so that a batch of one gives the same bits), and the expected target of each step of a
vector environment (``causal_meta._core.step_envs``).

Other SCMs (:class:`MonteCarloResponse`): moments come from ``REFERENCE_SAMPLES``
observational rows, and E[Y | do(X_i = v)] is the mean of ``samples`` engine rows drawn
at exactly the value v, with its standard error. Every estimate of an episode draws
from the same seed (common random numbers): the estimate is then a fixed, smooth
function of v, the differences between interventions have far less variance than
independent estimates would, and the regret of playing the optimum's own value is
exactly 0. The optimum (:func:`mc_optimum`) is found in two stages under those common
random numbers: a coarse grid of ``points`` values per node, all (node, value) pairs in
one engine call (``Scm.column_under_interventions``), then a bounded scalar minimisation
(Brent's method, :func:`scipy.optimize.minimize_scalar`) inside the grid cells around
the ``REFINED_CELLS`` best grid points, so that an optimum between grid points is not
missed by up to a grid step. Nodes that are not ancestors of the target cannot move it
and share the unintervened estimate.

Arrays are padded to a width D >= d; nodes that may not be chosen never look optimal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np
from scipy.optimize import minimize_scalar

from causal_meta._core import MIN_STD, Scm

__all__ = ["REFERENCE_SAMPLES", "REFINED_CELLS", "LinearResponse", "MonteCarloResponse", "Optimum", "Response",
           "ancestors", "grid", "mc_moments", "mc_optimum"]

REFERENCE_SAMPLES = 2048
"""Observational rows behind the Monte Carlo moments of a nonlinear SCM."""

REFINED_CELLS = 3
"""Grid points around which the Monte Carlo optimum is refined."""

_RELATIVE_XTOL = 1e-5  # of a node's interval: the refined optimum's tolerance in v


class Optimum(NamedTuple):
    """The best single-node intervention: do(X_node = value) gives E[target] =
    ``expected``, with Monte Carlo standard error ``stderr`` (0 when exact)."""

    node: int
    value: float
    expected: float
    stderr: float


class Response(Protocol):
    """E[target | do(X_node = value)] of one episode, with its standard error."""

    def at(self, node: int, value: float) -> tuple[float, float]: ...


class LinearResponse:
    """The exact expected target of a linear SCM: ``mean_Y + effect[i] * (v - mean[i])``.
    The engine's step of a vector environment evaluates the same formula in the same
    order of operations, so that both give the same bits."""

    def __init__(self, effect: np.ndarray, mean: np.ndarray, target: int) -> None:
        self.effect, self.mean, self.target = effect, mean, target

    def at(self, node: int, value: float) -> tuple[float, float]:
        return float(self.mean[self.target] + self.effect[node] * (value - self.mean[node])), 0.0


class MonteCarloResponse:
    """The Monte Carlo expected target of any SCM: the mean of ``samples`` target values
    under do(X_node = value), all drawn from the stream ``seed`` (common random numbers
    with the optimum's search), and its standard error. For an engine SCM the stream's
    noise and unintervened values are kept (``Scm.common_random_numbers``), so that each
    estimate re-evaluates only the nodes its intervention moves."""

    def __init__(self, scm: Any, target: int, samples: int, seed: int) -> None:
        self.scm, self.target, self.samples, self.seed = scm, target, samples, seed
        self._keep()

    def _keep(self) -> None:
        self._kept = (self.scm.common_random_numbers(self.samples, self.seed, self.target)
                      if isinstance(self.scm, Scm) else None)

    def __getstate__(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key != "_kept"}  # rebuilt on load

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._keep()

    def at(self, node: int, value: float) -> tuple[float, float]:
        return _mean_and_error(self._target_rows(np.array([node]), np.array([value]))[0])

    def at_pairs(self, nodes: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``at`` for M pairs at once (one engine call): (expected (M,), stderr (M,))."""
        return _mean_and_error(self._target_rows(nodes, values))

    def _target_rows(self, nodes: np.ndarray, values: np.ndarray) -> np.ndarray:
        """(M, samples) float64 target values under do(X_nodes[m] = values[m]) (none where
        nodes[m] < 0), each drawn from the stream ``seed``: from the kept common random
        numbers for engine SCMs, one sample call per pair for the numpy SCMs of
        :mod:`envs.named`."""
        if self._kept is not None:
            return self._kept.columns(np.asarray(nodes, np.int64), np.asarray(values, np.float32)).astype(np.float64)
        rows = [self.scm.sample(self.samples, do=None if i < 0 else {i: v}, seed=self.seed)[0][:, self.target]
                for i, v in zip(np.asarray(nodes).tolist(), np.asarray(values, np.float32).tolist())]
        return np.array(rows, np.float64)


def _mean_and_error(y: np.ndarray) -> Any:
    """Mean and standard error over the last axis (floats for a 1-D ``y``)."""
    mean = y.mean(axis=-1)
    error = y.std(axis=-1, ddof=1) / np.sqrt(y.shape[-1])
    return (float(mean), float(error)) if y.ndim == 1 else (mean, error)


def ancestors(scm: Any, node: int) -> np.ndarray:
    """bool (d,): True for the strict ancestors of ``node``."""
    out = np.zeros(scm.d, dtype=bool)
    stack = list(scm.parents(node))
    while stack:
        i = stack.pop()
        if not out[i]:
            out[i] = True
            stack.extend(scm.parents(i))
    return out


def grid(low: np.ndarray, high: np.ndarray, points: int) -> np.ndarray:
    """(..., D, points) values evenly spaced from ``low`` to ``high`` (both (..., D)),
    low + (high - low) * g / (points - 1), computed in place in one new array."""
    out = np.multiply((high - low)[..., None], np.arange(points) / (points - 1))
    out += low[..., None]
    return out


def mc_moments(scm: Any, seed: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std ((width,), padded with 0 and 1) from ``REFERENCE_SAMPLES`` rows drawn
    from a fresh stream ``seed``; the SCM's own stream is left where it is."""
    data = scm.sample(REFERENCE_SAMPLES, seed=seed)[0].astype(np.float64)
    mean, std = np.zeros(width), np.ones(width)
    mean[: scm.d] = data.mean(axis=0)
    sd = data.std(axis=0)
    std[: scm.d] = np.where(sd > MIN_STD, sd, 1.0)  # the engine's rule for exact moments
    return mean, std


def mc_optimum(response: MonteCarloResponse, low: np.ndarray, high: np.ndarray, valid: np.ndarray,
               points: int) -> Optimum:
    """The best intervention on the ``valid`` nodes ((D,) bool) within [low, high] ((D,)
    float64 bounds): the grid of ``points`` values per node, then Brent's method within
    the cells next to the ``REFINED_CELLS`` best grid points of nodes that can move the
    target. Values are float32, the precision at which the engine sets them, and the
    expected target is estimated at exactly the value returned."""
    scm, target = response.scm, response.target
    upstream = np.zeros(len(valid), bool)
    upstream[: scm.d] = ancestors(scm, target)
    moving = np.flatnonzero(valid & upstream)
    values = grid(low, high, points)[moving].astype(np.float32)  # (M, G)
    inert = np.flatnonzero(valid & ~upstream)
    # One (node, value) pair per grid point of the moving nodes, then one unintervened
    # pair (node -1) that stands for every inert node.
    nodes = np.append(np.repeat(moving, points), -1)
    expected, stderr = response.at_pairs(nodes, np.append(values.ravel(), np.float32(0.0)))
    candidates = [Optimum(int(i), float(v), float(e), float(s))
                  for i, v, e, s in zip(nodes[:-1], values.ravel(), expected[:-1], stderr[:-1])]
    if len(inert):
        i = int(inert[0])
        candidates.append(Optimum(i, float(np.float32(low[i])), float(expected[-1]), float(stderr[-1])))
    if not candidates:
        raise ValueError("no node may be intervened on: valid marks none")
    order = np.argsort(expected[:-1], kind="stable")[:REFINED_CELLS]
    for flat in order.tolist():
        m, g = divmod(flat, points)
        lo, hi = values[m, max(g - 1, 0)], values[m, min(g + 1, points - 1)]
        candidates.append(_refine(response, int(moving[m]), lo, hi))
    return min(candidates, key=lambda c: c.expected)


def _refine(response: MonteCarloResponse, node: int, lo: float, hi: float) -> Optimum:
    """Brent's method on the Monte Carlo curve of ``node`` within [lo, hi]."""
    def curve(v: float) -> float:
        return response.at(node, float(np.float32(v)))[0]

    result = minimize_scalar(curve, bounds=(float(lo), float(hi)), method="bounded",
                             options={"xatol": _RELATIVE_XTOL * max(float(hi) - float(lo), 1e-12)})
    value = float(np.float32(result.x))
    expected, stderr = response.at(node, value)
    return Optimum(node, value, expected, stderr)
