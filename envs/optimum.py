"""What the environment knows about its hidden SCM: observational moments and the
expected target under every single-node intervention, exact for linear SCMs and
estimated by Monte Carlo with common random numbers otherwise.

Linear SCMs (x = W^T x + b + noise, zero-mean noise): with B = (I - W)^{-1}, B[j, k] is
the total effect of j on k, the observational mean is B^T b and the variance of x_k is
sum_j B[j, k]^2 var(noise_j). Under do(X_i = v) the paths through i are cut, which gives
E[Y | do(X_i = v)] = mean_Y + B[i, Y] (v - mean_i): affine in v, so its minimum over an
interval sits at an end. The engine computes these for a batch of SCMs at once, by
propagation along each topological order rather than an inverse (the vector environment
starts a thousand episodes at once, where a batched inverse was most of the cost), one
SCM at a time, so that a batch of one gives the same bits.

Other SCMs: moments come from ``REFERENCE_SAMPLES`` observational rows, and
E[Y | do(X_i = v)] is the mean of ``samples`` engine rows at each grid value of v.
Every (node, value) pair is sampled from the same seed, in one engine call for all of
them (``Scm.column_under_interventions``), so all estimates share their noise (common
random numbers): their differences, and hence the location of the
optimum, have far less variance than independent estimates would. Nodes that are not
ancestors of the target cannot move it; they get the unintervened estimate under the
same noise.

Arrays are padded to a width D >= d. Curves are tabulated on a (D, G) grid of values
evenly spaced from ``low`` to ``high``; rows of nodes that may not be chosen hold +inf,
so that they never look optimal. Between grid points the curve is linear
(:meth:`ResponseCurves.expected_at`), which is exact for linear SCMs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from causal_meta._core import Scm
from causal_meta._core import linear_moments as engine_linear_moments

__all__ = ["REFERENCE_SAMPLES", "ResponseCurves", "ancestors", "grid", "linear_expected", "linear_moments",
           "mc_curves", "mc_moments"]

REFERENCE_SAMPLES = 2048
"""Observational rows behind the Monte Carlo moments of a nonlinear SCM."""

_MIN_STD = 1e-12


@dataclass(frozen=True)
class ResponseCurves:
    """One episode's tabulated E[target | do(X_i = v)], padded to width D."""

    low: np.ndarray
    """(D,) lowest intervention value per node."""
    high: np.ndarray
    """(D,) highest intervention value per node."""
    grid: np.ndarray
    """(D, G) the tabulated values of v."""
    expected: np.ndarray
    """(D, G) expected target at the grid values; +inf for nodes that may not be chosen."""
    stderr: np.ndarray
    """(D, G) Monte Carlo standard error of ``expected`` (0 when exact)."""

    def expected_at(self, node: int, value: float) -> float:
        """Expected target under do(X_node = value), linear between grid points. The
        vector environment evaluates the same formula over arrays."""
        last = self.expected.shape[1] - 1
        pos = (value - self.low[node]) / (self.high[node] - self.low[node]) * last
        k = min(int(pos), last - 1)
        row = self.expected[node]
        return float(row[k] + (pos - k) * (row[k + 1] - row[k]))


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


def linear_moments(scms: Sequence[Any], target: np.ndarray, width: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Total effects on the target, means and standard deviations, each (K, width), of K
    linear engine SCMs with targets ``target`` (K,): ``effect[k, i]`` is B[i, target[k]].
    Padding: effect 0, mean 0, std 1; a (numerically) constant node gets std 1 too."""
    effect, mean, std = engine_linear_moments(scms, target, width)
    return effect, mean, np.where(std > _MIN_STD, std, 1.0)


def linear_expected(effect: np.ndarray, mean: np.ndarray, target: np.ndarray, values: np.ndarray) -> np.ndarray:
    """E[Y | do(X_i = v)] = mean_Y + B[i, Y] (v - mean_i) at the (K, D, G) ``values``,
    with ``effect`` (K, D) the total effects on the targets Y. Computed in place in one
    new array: the vector environment evaluates a thousand of these grids at once."""
    out = np.subtract(values, mean[:, :, None])
    out *= effect[:, :, None]
    out += mean[np.arange(len(target)), target][:, None, None]
    return out


def mc_moments(scm: Any, seed: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std ((width,), padded with 0 and 1) from ``REFERENCE_SAMPLES`` rows drawn
    from a fresh stream ``seed``; the SCM's own stream is left where it is."""
    data = scm.sample(REFERENCE_SAMPLES, seed=seed)[0].astype(np.float64)
    mean, std = np.zeros(width), np.ones(width)
    mean[: scm.d] = data.mean(axis=0)
    sd = data.std(axis=0)
    std[: scm.d] = np.where(sd > _MIN_STD, sd, 1.0)
    return mean, std


def mc_curves(scm: Any, target: int, values: np.ndarray, valid: np.ndarray, samples: int, seed: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo (expected, stderr) on the (D, G) grid ``values`` for the ``valid``
    nodes, ``samples`` >= 2 rows per (node, value), common random numbers ``seed``."""
    expected = np.full(values.shape, np.inf)
    stderr = np.zeros(values.shape)
    upstream = np.zeros(len(valid), bool)
    upstream[: scm.d] = ancestors(scm, target)
    moving = np.flatnonzero(valid & upstream)
    inert = valid & ~upstream
    # One (node, value) pair per grid point of the moving nodes, then the unintervened
    # pair (node -1) that stands for every inert node.
    nodes = np.append(np.repeat(moving, values.shape[1]), -1)
    y = _target_rows(scm, target, nodes, np.append(values[moving].ravel(), 0.0), samples, seed)
    means = y.mean(axis=1)
    errors = y.std(axis=1, ddof=1) / np.sqrt(samples)
    shape = (len(moving), values.shape[1])
    expected[moving], stderr[moving] = means[:-1].reshape(shape), errors[:-1].reshape(shape)
    if inert.any():
        expected[inert], stderr[inert] = means[-1], errors[-1]
    return expected, stderr


def _target_rows(scm: Any, target: int, nodes: np.ndarray, values: np.ndarray, samples: int, seed: int
                 ) -> np.ndarray:
    """(M, samples) float64 target values under do(X_nodes[m] = values[m]) (none where
    nodes[m] < 0), each drawn from the stream ``seed``: in one engine call for engine
    SCMs, one sample call per pair for the numpy SCMs of :mod:`envs.named`."""
    if isinstance(scm, Scm):
        return scm.column_under_interventions(nodes, values.astype(np.float32), samples, seed, target).astype(np.float64)
    rows = [scm.sample(samples, do=None if i < 0 else {i: v}, seed=seed)[0][:, target]
            for i, v in zip(nodes.tolist(), values.tolist())]
    return np.array(rows, np.float64)
