"""Classical structure-learning baselines behind the interface learned models implement.

A structure learner turns one task (data float32 ``(n, d)``, intervention mask ``(n, d)``)
into an :class:`EdgePosterior`: edge probabilities ``probs[i, j] = P(i -> j)`` and,
optionally, graph samples ``(S, d, d)``. :class:`StructureLearner` is that protocol
(declared in :mod:`causal_meta.learners`, re-exported here); the learners here are
:class:`PC`, :class:`GES` (both from causal-learn, the ``baselines`` extra),
:class:`RandomGraph` and the two zero-training score baselines :class:`PrecisionMatrix`
and :class:`CorrelationMatrix`. Pre-trained amortized models implement the same
protocol, so :func:`fit_tasks` and ``benchmarks/structure.py`` score them alike.

Conventions and the choices that make PC and GES fit this interface:

* **CPDAG to probabilities.** PC and GES return an equivalence class (a CPDAG): a directed
  edge i -> j is compelled (every DAG of the class has it) and becomes probability 1; an
  undirected edge i - j is oriented either way within the class and becomes 0.5 in both
  directions, the least committal reading. A conflict that PC reports as i <-> j means the
  data support both orientations, so it is read as undirected too. Note that point
  metrics threshold with a strict ``>`` (:func:`causal_meta.metrics.binarize`), so at
  0.5 an undirected edge is not predicted; the graph samples do orient it.
* **Graph samples.** Each sample is a DAG extension of the CPDAG drawn by the Dor & Tarsi
  (1992) procedure with random choices: repeatedly remove, uniformly at random, one
  node that may be a sink (no outgoing directed edge, and its undirected neighbours are
  adjacent to all its other neighbours), orienting its remaining edges into it. When the
  CPDAG admits an extension, every sample keeps its skeleton, compelled edges and
  v-structures (a member of the equivalence class; all members are reachable, though
  not uniformly). A CPDAG estimated from finite data may admit none; then the removed
  node is a uniformly random one without outgoing directed edges (or any node, should
  the directed edges form a cycle), so every sample is still a DAG on the same skeleton.
* **Interventional rows.** PC and GES assume i.i.d. observational data; a row where
  do() set a variable follows another distribution and would bias their tests and
  scores. They therefore use the observational rows (mask all 0) when there are at least
  ``d + 1`` of them, the fewest for which the sample covariance of ``d`` variables can be
  nonsingular; otherwise they use all rows rather than fail.
* **Constant columns** (zero variance, e.g. a variable set by do() in every row used)
  carry no dependence information and make Fisher's z and the BIC regressions singular,
  so they are left out of the search and come back as isolated nodes.
* **Score baselines** (:class:`ScoreBaseline`: ``precision``, ``correlation``) return a
  symmetric dependence score of each pair in ``probs``, **not a probability**: the same
  value for i -> j and j -> i, no graph samples, and a scale with no calibration. Only
  rankings mean something for them, so they are scored by AUROC, AUPRC and the F1 at
  the best threshold (:func:`causal_meta.evaluation.score_task` with
  ``scores_only=True``); thresholding at 0.5, ECE and NLL do not apply. Being symmetric,
  they cannot orient: each true edge i -> j ties with the false j -> i, so at most half
  of what any threshold predicts is right, which caps their directed AUPRC at 0.5 and
  best F1 at 2/3 even with a perfect skeleton. They read
  the same rows as PC and GES (:func:`observational_rows`); a constant column scores 0.
* **Randomness.** ``fit(..., seed=s)`` is a pure function of the learner, the task and
  ``s``; :func:`fit_tasks` gives task ``k`` of a batch the seed ``(seed, k)``.

causal-learn is imported only when PC or GES runs, so this module imports without it.
PC's progress bar is switched off, and with its verbose mode off causal-learn prints
nothing (a test keeps it so).
"""

from __future__ import annotations

import importlib
import numbers
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.covariance import LedoitWolf

from causal_meta.learners import EdgePosterior, StructureLearner

__all__ = [
    "CONDITION_LIMIT",
    "GES",
    "LEARNERS",
    "PC",
    "CorrelationMatrix",
    "EdgePosterior",
    "PosteriorBatch",
    "PrecisionMatrix",
    "RandomGraph",
    "ScoreBaseline",
    "StructureLearner",
    "cpdag_probs",
    "fit_tasks",
    "get_learner",
    "observational_rows",
    "sample_dag_extensions",
]

_INSTALL_HINT = "PC and GES need causal-learn: pip install 'causal-meta[baselines]'"


# ---------------------------------------------------------------------------------------
# Input checks: errors name the argument, what was found and what is allowed.
# ---------------------------------------------------------------------------------------


def _check_task(data: ArrayLike, mask: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    x = np.asarray(data)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"data must have shape (n, d) with d >= 1; got shape {x.shape}")
    if x.dtype.kind not in "iuf":
        raise ValueError(f"data must be a numeric array; got dtype {x.dtype}")
    if not np.isfinite(x).all():
        row, col = (int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise ValueError(f"data must be finite; found {x[row, col]!r} at row {row}, column {col}")
    m = np.asarray(mask)
    if m.shape != x.shape:
        raise ValueError(f"mask must have the shape of data {x.shape}; got {m.shape}")
    if m.dtype.kind not in "biu":
        raise ValueError(f"mask must be a bool or integer array of 0 and 1; got dtype {m.dtype}")
    if ((m != 0) & (m != 1)).any():
        row, col = (int(i) for i in np.argwhere((m != 0) & (m != 1))[0])
        raise ValueError(f"mask must hold only 0 and 1; found {m[row, col]!r} at row {row}, column {col}")
    return x.astype(np.float64), m.astype(bool)


def _check_count(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def _check_cpdag(cpdag: ArrayLike) -> NDArray[np.bool_]:
    c = np.asarray(cpdag)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.dtype.kind not in "biuf":
        raise ValueError(f"cpdag must be a numeric (d, d) array; got {c.dtype} of shape {c.shape}")
    return c.astype(bool)


def _check_fraction(name: str, value: Any, low: float, high: float, open_low: bool) -> float:
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (number and (low < value if open_low else low <= value) and value <= high):
        bracket = "(" if open_low else "["
        raise ValueError(f"{name} must be a number in {bracket}{low}, {high}]; got {value!r}")
    return float(value)


# ---------------------------------------------------------------------------------------
# Rows, CPDAGs and their DAG extensions (shared by PC and GES)
# ---------------------------------------------------------------------------------------


def observational_rows(data: ArrayLike, mask: ArrayLike) -> NDArray[np.float64]:
    """The rows PC, GES and the score baselines use: the observational ones if there are at least ``d + 1``,
    else all rows (see the module docstring for why)."""
    return _select_rows(*_check_task(data, mask))


def _select_rows(x: NDArray[np.float64], m: NDArray[np.bool_]) -> NDArray[np.float64]:
    observational = ~m.any(axis=1)
    return x[observational] if observational.sum() >= x.shape[1] + 1 else x


def cpdag_probs(cpdag: ArrayLike) -> NDArray[np.float64]:
    """Edge probabilities of a CPDAG: 1 for a directed edge, 0.5 both ways if undirected.

    ``cpdag[i, j] = 1`` where i -> j is allowed: only ``[i, j]`` for a directed edge, both
    entries for an undirected one.
    """
    c = _check_cpdag(cpdag)
    undirected = c & c.T
    return np.where(undirected, 0.5, c.astype(np.float64))


def sample_dag_extensions(
    cpdag: ArrayLike, count: int, rng: np.random.Generator
) -> NDArray[np.uint8]:
    """``count`` random DAG extensions ``(count, d, d)`` of a CPDAG (module docstring)."""
    c = _check_cpdag(cpdag)
    count = _check_count("count", count, 0)
    skeleton = c | c.T
    samples = np.empty((count, *c.shape), dtype=np.uint8)
    for s in range(count):
        rank = np.empty(len(c), dtype=np.int64)
        rank[_random_removal_order(c, rng)] = np.arange(len(c))
        # Removed first = sink: every edge points from the later-removed end.
        samples[s] = skeleton & (rank[:, None] > rank[None, :])
    return samples


def _random_removal_order(cpdag: NDArray[np.bool_], rng: np.random.Generator) -> list[int]:
    """Nodes in the order the randomised Dor-Tarsi procedure removes them (sinks first)."""
    d = len(cpdag)
    undirected = cpdag & cpdag.T
    directed = cpdag & ~undirected
    adjacent = cpdag | cpdag.T
    alive = np.ones(d, dtype=bool)
    order: list[int] = []
    for _ in range(d):
        live = alive[None, :] & alive[:, None]
        no_out = alive & ~(directed & live).any(axis=1)
        candidates = no_out & _neighbours_form_cliques(undirected & live, adjacent & live)
        pool = candidates if candidates.any() else (no_out if no_out.any() else alive)
        node = int(rng.choice(np.flatnonzero(pool)))
        order.append(node)
        alive[node] = False
    return order


def _neighbours_form_cliques(
    undirected: NDArray[np.bool_], adjacent: NDArray[np.bool_]
) -> NDArray[np.bool_]:
    """For each x: is every undirected neighbour y of x adjacent to every other neighbour z?

    Counts violations (y, z) with undirected[x, y], adjacent[x, z], z != y, z not adjacent
    to y, as one matrix product for all x at once.
    """
    apart = ~adjacent & ~np.eye(len(adjacent), dtype=bool)
    violations = (undirected.astype(np.int64) @ apart.astype(np.int64)) * adjacent
    return ~violations.any(axis=1)


def _from_causallearn(graph: NDArray) -> NDArray[np.bool_]:
    """causal-learn's endpoint matrix to ours (``[i, j]`` = i -> j allowed).

    causal-learn writes i -> j as ``G[i, j] = -1, G[j, i] = 1``, i - j as both -1 and
    i <-> j as both 1; so i -> j is allowed unless the pair is the directed edge j -> i.
    """
    g = np.asarray(graph)
    reverse_directed = (g == 1) & (g.T == -1)
    return (g != 0) & ~reverse_directed


def _causallearn(module: str, attr: str) -> Callable[..., Any]:
    """Import ``module.attr`` from causal-learn, or say how to install it."""
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as err:
        raise ImportError(_INSTALL_HINT) from err


def _fit_cpdag(
    data: ArrayLike,
    mask: ArrayLike,
    seed: int,
    n_samples: int,
    search: Callable[[NDArray[np.float64]], NDArray],
) -> EdgePosterior:
    """Common body of PC and GES: pick rows, drop constant columns, search, embed, sample."""
    x, m = _check_task(data, mask)
    rows = _select_rows(x, m)
    d = x.shape[1]
    if len(rows) < d + 1:
        raise ValueError(f"data must have at least d + 1 = {d + 1} rows for PC and GES; got {len(rows)}")
    varying = np.flatnonzero(rows.std(axis=0) > 0)
    cpdag = np.zeros((d, d), dtype=bool)
    if len(varying) >= 2:
        cpdag[np.ix_(varying, varying)] = _from_causallearn(search(rows[:, varying]))
    rng = np.random.default_rng(seed)
    return EdgePosterior(cpdag_probs(cpdag), sample_dag_extensions(cpdag, n_samples, rng))


# ---------------------------------------------------------------------------------------
# Learners
# ---------------------------------------------------------------------------------------


class PC:
    """The PC algorithm (Spirtes, Glymour & Scheines) with Fisher's z test, via causal-learn.

    ``alpha`` is the significance level of each conditional independence test. The default
    0.05 is the conventional level and the default of causal-learn and pcalg, so the
    numbers compare with published PC baselines; a smaller alpha keeps fewer edges.
    ``n_samples`` DAG extensions of the estimated CPDAG are returned as graph samples.
    Fisher's z assumes linear-Gaussian data: on nonlinear families PC is a weak bar on
    purpose, since it is the one practitioners reach for.
    """

    name = "pc"

    def __init__(self, alpha: float = 0.05, n_samples: int = 100) -> None:
        self.alpha = _check_fraction("alpha", alpha, 0.0, 1.0, open_low=True)
        self.n_samples = _check_count("n_samples", n_samples, 0)

    def fit(self, data: np.ndarray, mask: np.ndarray, *, seed: int = 0) -> EdgePosterior:
        """CPDAG of PC on the rows chosen by :func:`observational_rows`."""
        pc = _causallearn("causallearn.search.ConstraintBased.PC", "pc")

        def search(x: NDArray[np.float64]) -> NDArray:
            return pc(x, alpha=self.alpha, indep_test="fisherz", show_progress=False).G.graph

        return _fit_cpdag(data, mask, seed, self.n_samples, search)


class GES:
    """Greedy equivalence search (Chickering 2002) with the linear-Gaussian BIC score.

    Uses causal-learn's ``local_score_BIC`` with its standard penalty (0.5 log n per
    parameter). ``n_samples`` DAG extensions of the CPDAG are returned as graph samples.
    """

    name = "ges"

    def __init__(self, n_samples: int = 100) -> None:
        self.n_samples = _check_count("n_samples", n_samples, 0)

    def fit(self, data: np.ndarray, mask: np.ndarray, *, seed: int = 0) -> EdgePosterior:
        """CPDAG of GES on the rows chosen by :func:`observational_rows`."""
        ges = _causallearn("causallearn.search.ScoreBased.GES", "ges")

        def search(x: NDArray[np.float64]) -> NDArray:
            return ges(x, score_func="local_score_BIC")["G"].graph

        return _fit_cpdag(data, mask, seed, self.n_samples, search)


class RandomGraph:
    """Ignores the data: the prior of a task family, the floor every learner must clear.

    ``probs`` is ``density`` on every off-diagonal entry, where ``density`` is the
    family's expected share of ordered pairs (i, j) with an edge i -> j (ER with k edges
    per node on d nodes: k / (d - 1); the default 0.1 is about the engine's default
    family, 2 edges per node on 20 nodes). Its AUROC is 0.5 by construction. Each sample
    is a random DAG: a uniformly random node order, and each unordered pair joined with
    probability ``2 * density`` and oriented along the order, so that every entry is an
    edge with probability ``density``, matching ``probs``. A DAG cannot have more than half
    of the ordered pairs as edges, hence ``density <= 0.5``.
    """

    name = "random"

    def __init__(self, density: float = 0.1, n_samples: int = 100) -> None:
        self.density = _check_fraction("density", density, 0.0, 0.5, open_low=False)
        self.n_samples = _check_count("n_samples", n_samples, 0)

    def fit(self, data: np.ndarray, mask: np.ndarray, *, seed: int = 0) -> EdgePosterior:
        """The family prior; ``data`` and ``mask`` are only checked, to honour the protocol."""
        d = _check_task(data, mask)[0].shape[1]
        probs = np.full((d, d), self.density)
        np.fill_diagonal(probs, 0.0)
        return EdgePosterior(probs, self._random_dags(d, np.random.default_rng(seed)))

    def _random_dags(self, d: int, rng: np.random.Generator) -> NDArray[np.uint8]:
        joined = np.triu(rng.random((self.n_samples, d, d)) < 2 * self.density, k=1)
        samples = np.empty((self.n_samples, d, d), dtype=np.uint8)
        for s in range(self.n_samples):
            rank = rng.permutation(d)  # node i's position in a uniformly random order
            samples[s] = joined[s][np.ix_(rank, rank)]
        return samples


CONDITION_LIMIT = 1e6
"""Condition number of the standardised sample covariance above which
:class:`PrecisionMatrix` inverts the Ledoit-Wolf estimate instead. The data arrive as
float32 (relative rounding about 6e-8), and inverting a matrix of condition number
kappa can magnify a relative error kappa-fold: beyond 1e6 the input's rounding alone
could move the precision entries by several per cent, and sampling noise by far more."""


class ScoreBaseline(ABC):
    """A zero-training baseline: a symmetric score of each pair from the standardised data.

    Subclasses give ``name`` and :meth:`pair_scores`. What is shared: the rows of
    :func:`observational_rows`, constant columns left out (they score 0 with every other
    variable), columns standardised to mean 0 and variance 1, an exactly symmetric result
    with a zero diagonal, and no graph samples. The scores are not probabilities (module docstring).
    """

    name: str

    def fit(self, data: np.ndarray, mask: np.ndarray, *, seed: int = 0) -> EdgePosterior:
        """Scores in ``probs`` (in [0, 1], symmetric); ``seed`` is unused, the scores being
        a deterministic function of the data."""
        x, m = _check_task(data, mask)
        rows = _select_rows(x, m)
        if len(rows) < 2:
            raise ValueError(f"data must have at least 2 rows for the {self.name} baseline; got {len(rows)}")
        d = x.shape[1]
        scores = np.zeros((d, d))
        std = rows.std(axis=0)
        varying = np.flatnonzero(std > 0)
        if len(varying) >= 2:
            kept = rows[:, varying]
            scores[np.ix_(varying, varying)] = self.pair_scores((kept - kept.mean(axis=0)) / std[varying])
        np.fill_diagonal(scores, 0.0)
        return EdgePosterior((scores + scores.T) / 2)  # exactly symmetric, whatever rounding did

    @abstractmethod
    def pair_scores(self, z: NDArray[np.float64]) -> NDArray[np.float64]:
        """Scores ``(k, k)`` in [0, 1] of the standardised columns ``z`` ``(n, k)``, k >= 2."""


class CorrelationMatrix(ScoreBaseline):
    """|corr(X_i, X_j)|: marginal dependence, the weakest bar. It scores every pair on a
    path of the graph, adjacent or not, so it ranks indirect links among the edges."""

    name = "correlation"

    def pair_scores(self, z: NDArray[np.float64]) -> NDArray[np.float64]:
        """The absolute sample correlations (clipped to 1 against rounding)."""
        return np.minimum(np.abs(z.T @ z) / len(z), 1.0)


class PrecisionMatrix(ScoreBaseline):
    """|P_ij|, P the inverse covariance of the standardised columns: conditional dependence
    given all other variables. In a linear-Gaussian model it is zero in the population
    exactly for the pairs that are neither joined by an edge nor parents of a common
    child: it marks the moral graph, so it ranks direct links above indirect ones.

    P is the pseudo-inverse of the sample covariance, except where that is ill-conditioned
    (n <= d, where it is singular, or condition number above :data:`CONDITION_LIMIT`):
    there it is the inverse of scikit-learn's Ledoit-Wolf shrinkage estimate, which is
    well-conditioned by construction. The scores are divided by their largest off-diagonal
    value so that they lie in [0, 1], as :class:`EdgePosterior` requires; a per-task
    monotone rescaling, which leaves every ranking metric unchanged.
    """

    name = "precision"

    def pair_scores(self, z: NDArray[np.float64]) -> NDArray[np.float64]:
        """|P| with a zero diagonal, divided by its largest entry (all zero stays zero)."""
        n, k = z.shape
        cov = z.T @ z / n
        if n <= k or np.linalg.cond(cov) > CONDITION_LIMIT:
            cov = LedoitWolf(assume_centered=True).fit(z).covariance_
        scores = np.abs(np.linalg.pinv(cov, hermitian=True))
        np.fill_diagonal(scores, 0.0)
        top = scores.max()
        return scores / top if top > 0 else scores


def _pretrained(model: str) -> Callable[..., StructureLearner]:
    """A loader of the trained ``model`` (``path=...``; by default the checkpoint shipped
    for it). Imported on use: torch should load only when a learned model is asked for."""

    def load(**kwargs: Any) -> StructureLearner:
        from causal_meta.pretrained import load_learner

        return load_learner(model=model, **kwargs)

    return load


LEARNERS: dict[str, Callable[..., StructureLearner]] = {
    "pc": PC, "ges": GES, "random": RandomGraph, "precision": PrecisionMatrix, "correlation": CorrelationMatrix,
    "avici": _pretrained("avici"), "bcnp": _pretrained("bcnp"),
}


def get_learner(name: str, **kwargs: Any) -> StructureLearner:
    """The learner registered as ``name``, built with ``kwargs``."""
    if name not in LEARNERS:
        raise ValueError(f"name must be one of {sorted(LEARNERS)}; got {name!r}")
    return LEARNERS[name](**kwargs)


# ---------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------


class PosteriorBatch(NamedTuple):
    """Posteriors of a batch of tasks, padded like :class:`causal_meta.scm.TaskBatch`."""

    probs: NDArray[np.float64]
    """(B, d_max, d_max); rows and columns of padding variables are 0."""
    samples: NDArray[np.uint8] | None
    """(B, S, d_max, d_max) with zero padding, or None if the learner gives no samples."""
    n_nodes: NDArray[np.int64]
    """(B,); task t uses the first n_nodes[t] variables."""
    seconds: NDArray[np.float64]
    """(B,); wall-clock seconds of each fit."""


def fit_tasks(
    learner: StructureLearner,
    data: ArrayLike,
    mask: ArrayLike,
    n_nodes: ArrayLike | None = None,
    *,
    seed: int = 0,
) -> PosteriorBatch:
    """Fit ``learner`` to each task of a padded batch, on its real variables only.

    ``data`` and ``mask`` are ``(B, n, d_max)``; task t uses its first ``n_nodes[t]``
    variables (default: all ``d_max``), so padding columns never reach the learner.
    Task t is fitted with a seed drawn from ``(seed, t)``.
    """
    x, m = np.asarray(data), np.asarray(mask)
    if x.ndim != 3:
        raise ValueError(f"data must have shape (B, n, d_max); got shape {x.shape}")
    if m.shape != x.shape:
        raise ValueError(f"mask must have the shape of data {x.shape}; got {m.shape}")
    sizes = _check_sizes(n_nodes, len(x), x.shape[2])
    fitted, seconds = [], np.empty(len(x))
    for t, d in enumerate(sizes):
        task_seed = int(np.random.SeedSequence([seed, t]).generate_state(1, np.uint64)[0])
        start = time.perf_counter()
        fitted.append(learner.fit(x[t, :, :d], m[t, :, :d], seed=task_seed))
        seconds[t] = time.perf_counter() - start
    probs, samples = _pad(fitted, x.shape[2])
    return PosteriorBatch(probs, samples, sizes, seconds)


def _check_sizes(n_nodes: ArrayLike | None, batch: int, d_max: int) -> NDArray[np.int64]:
    if n_nodes is None:
        return np.full(batch, d_max, dtype=np.int64)
    sizes = np.asarray(n_nodes)
    if sizes.shape != (batch,) or sizes.dtype.kind not in "iu":
        raise ValueError(f"n_nodes must be integers of shape ({batch},); got {sizes.dtype} {sizes.shape}")
    if ((sizes < 1) | (sizes > d_max)).any():
        raise ValueError(f"n_nodes must lie in [1, d_max = {d_max}]; got {sizes.tolist()}")
    return sizes.astype(np.int64)


def _pad(fitted: list[EdgePosterior], d_max: int) -> tuple[NDArray, NDArray | None]:
    """Stack per-task posteriors into zero-padded arrays; samples only if every task has them."""
    probs = np.zeros((len(fitted), d_max, d_max))
    counts = {None if f.samples is None else len(f.samples) for f in fitted}
    if None in counts or len(counts) != 1:
        samples = None
    else:
        samples = np.zeros((len(fitted), counts.pop(), d_max, d_max), dtype=np.uint8)
    for t, f in enumerate(fitted):
        d = len(f.probs)
        probs[t, :d, :d] = f.probs
        if samples is not None:
            samples[t, :, :d, :d] = f.samples
    return probs, samples
