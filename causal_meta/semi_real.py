"""Semi-real structure-learning tasks that need no download: real network structures with
fitted linear-Gaussian parameters, and real flow-cytometry data, all read from files that
installed packages carry (the ``semi_real`` extra: ``pip install 'causal-meta[semi_real]'``).

**Gaussian Bayesian networks** (:data:`NETWORKS`): the four of the bnlearn repository
that pgmpy ships inside its wheel, structures learned from real data with linear-Gaussian
parameters fitted to it: ecoli70 (46 nodes, 70 edges; E. coli gene expression,
Opgen-Rhein & Strimmer 2007), magic-niab (44, 66) and magic-irri (64, 102) (wheat and rice
MAGIC populations, genotypes and traits; Scutari et al. 2014) and arth150 (107, 150;
A. thaliana gene expression). pgmpy's ``get_example_model`` reads them from the wheel; its
newer loader (``pgmpy.example_models``) downloads, so it is never used here, and pgmpy is
pinned below 1.3, which removes ``get_example_model``. Each node j has the CPD
``X_j = b_j + sum_i w_ij X_i + N(0, s_j^2)`` over its parents; :class:`GaussianNetwork`
samples it ancestrally with its own parameters (numpy, written here: nothing of pgmpy's
runs but the file reader) and gives the mean and covariance the CPDs imply. Variables are
in sorted name order, which says nothing about the causal order.

**Sachs** (:data:`SACHS`): the flow-cytometry data of Sachs et al. (2005, Science 308:523),
7,466 rows of 11 phosphoproteins and phospholipids, as the cdt package ships it
(``cdt/data/resources/cyto_full_data.csv``, read straight from the installed package: cdt
itself, whose import pulls in heavy modules, is never imported). The rows pool the
paper's stimulation and inhibition conditions, and the file does not say which row came
from which, so every row is treated as observational (mask 0), as the literature that
uses this file does. cdt's target graph lists 18 edges that contain the cycle
PIP2 -> PIP3 -> plcg -> PIP2; the paper draws the PIP2 / PIP3 link the other way
(PIP3 -> PIP2), so the truth used here is cdt's list without PIP2 -> PIP3, the 17-edge
consensus DAG (cdt's names)::

    plcg -> PIP2      PIP3 -> plcg      PIP2 -> PKC       plcg -> PKC
    PKC -> pjnk       PKC -> P38        PKA -> P38        PKC -> praf
    PKA -> praf       praf -> pmek      pmek -> p44/42    PKC -> pmek
    PKA -> pakts473   PIP3 -> pakts473  PKA -> pmek       PKA -> p44/42
    PKA -> pjnk

:func:`tasks` turns either into tasks as the structure benchmark feeds its learners: data
standardised per variable like every other task (:func:`causal_meta.data.normalize_data`).
"""

from __future__ import annotations

import csv
import importlib.util
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from causal_meta.baselines import _check_count
from causal_meta.data import derive_seed, normalize_data
from causal_meta.metrics import is_dag

__all__ = ["DATASETS", "NETWORKS", "SACHS", "SACHS_DROPPED_EDGE", "SUITE", "GaussianNetwork", "SachsData",
           "SemiRealTasks", "load_network", "load_sachs", "tasks"]

SUITE = "semi_real"
"""The name ``benchmarks/structure.py --suite`` knows these data sets by."""

NETWORKS = ("ecoli70", "magic-niab", "magic-irri", "arth150")
"""The Gaussian Bayesian networks pgmpy's wheel carries (names as pgmpy spells them)."""

SACHS = "sachs"
DATASETS = (*NETWORKS, SACHS)

SACHS_DROPPED_EDGE = ("PIP2", "PIP3")
"""The edge of cdt's Sachs graph left out to break its cycle (module docstring)."""

SACHS_ROWS, SACHS_VARIABLES, SACHS_EDGES = 7466, 11, 17
"""What the Sachs files must hold; anything else is an error, not a silently other task."""

_INSTALL_HINT = "the semi-real data sets need pgmpy and cdt: pip install 'causal-meta[semi_real]'"


@dataclass(frozen=True)
class GaussianNetwork:
    """A linear-Gaussian Bayesian network: ``X_j = intercept[j] + sum_i weights[i, j] X_i
    + noise_std[j] * N(0, 1)``, ``weights[i, j] != 0`` only for an edge i -> j."""

    name: str
    nodes: tuple[str, ...]
    adjacency: NDArray[np.uint8]
    """(d, d); ``[i, j] = 1`` for the edge i -> j."""
    intercept: NDArray[np.float64]
    weights: NDArray[np.float64]
    noise_std: NDArray[np.float64]

    def topological_order(self) -> list[int]:
        """Node indices, parents before children (Kahn's algorithm, smallest index first)."""
        indegree = self.adjacency.sum(axis=0).astype(np.int64)
        ready = sorted(np.flatnonzero(indegree == 0).tolist())
        order: list[int] = []
        while ready:
            node = ready.pop(0)
            order.append(node)
            for child in np.flatnonzero(self.adjacency[node]):
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(int(child))
            ready.sort()
        if len(order) != len(self.nodes):
            raise ValueError(f"network {self.name!r} must be acyclic; its edges form a cycle")
        return order

    def sample(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """``n`` rows ``(n, d)`` drawn ancestrally: each variable after its parents."""
        n = _check_count("n", n, 1)
        x = np.zeros((n, len(self.nodes)))
        noise = rng.standard_normal((n, len(self.nodes)))
        for j in self.topological_order():
            x[:, j] = self.intercept[j] + x @ self.weights[:, j] + self.noise_std[j] * noise[:, j]
        return x

    def _solve(self) -> NDArray[np.float64]:
        """(I - W^T)^{-1}: X = (I - W^T)^{-1} (intercept + noise) in matrix form."""
        return np.linalg.inv(np.eye(len(self.nodes)) - self.weights.T)

    def mean(self) -> NDArray[np.float64]:
        """The mean ``(d,)`` the CPDs imply."""
        return self._solve() @ self.intercept

    def covariance(self) -> NDArray[np.float64]:
        """The covariance ``(d, d)`` the CPDs imply: A diag(s^2) A^T, A = (I - W^T)^{-1}."""
        a = self._solve()
        return (a * self.noise_std**2) @ a.T


@dataclass(frozen=True)
class SachsData:
    """The Sachs rows ``data`` ``(7466, 11)`` (raw, as the file holds them) and the 17-edge
    consensus DAG ``adjacency`` ``(11, 11)`` over ``nodes`` (cdt's column names)."""

    nodes: tuple[str, ...]
    data: NDArray[np.float64]
    adjacency: NDArray[np.uint8]


class SemiRealTasks(NamedTuple):
    """Tasks of one data set, shaped as the structure benchmark's held-out tasks."""

    data: NDArray[np.float32]
    """(B, n, d), standardised per task and variable."""
    mask: NDArray[np.uint8]
    """(B, n, d), all 0: every row is observational."""
    adjacency: NDArray[np.uint8]
    """(B, d, d), the same true graph in every task."""
    n_nodes: NDArray[np.int64]
    """(B,), all d."""


def _package_dir(package: str) -> Path:
    """Where ``package`` is installed, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(_INSTALL_HINT)
    return Path(next(iter(spec.submodule_search_locations)))


def _read_only(*arrays: NDArray) -> tuple[NDArray, ...]:
    """The loaders cache what they return, so nobody may change it in place."""
    for array in arrays:
        array.setflags(write=False)
    return arrays


@cache
def load_network(name: str) -> GaussianNetwork:
    """The network ``name`` (one of :data:`NETWORKS`) as pgmpy's wheel ships it."""
    if name not in NETWORKS:
        raise ValueError(f"name must be one of {list(NETWORKS)}; got {name!r}")
    _package_dir("pgmpy")
    from pgmpy.utils import get_example_model

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*get_example_model.*deprecated", category=FutureWarning)
        model = get_example_model(name)
    nodes = tuple(sorted(model.nodes()))
    index = {node: i for i, node in enumerate(nodes)}
    d = len(nodes)
    intercept, noise_std, weights = np.zeros(d), np.zeros(d), np.zeros((d, d))
    for cpd in model.get_cpds():
        j = index[cpd.variable]
        intercept[j], noise_std[j] = cpd.beta[0], cpd.std
        for parent, weight in zip(cpd.evidence, cpd.beta[1:], strict=True):
            weights[index[parent], j] = weight
    adjacency = np.zeros((d, d), dtype=np.uint8)
    for parent, child in model.edges():
        adjacency[index[parent], index[child]] = 1
    if not np.array_equal(adjacency.astype(bool), weights != 0):
        raise ValueError(f"network {name!r}: the CPDs' parents must be the model's edges, each with a nonzero weight")
    network = GaussianNetwork(name, nodes, *_read_only(adjacency, intercept, weights, noise_std))
    network.topological_order()  # raises on a cycle
    return network


@cache
def load_sachs() -> SachsData:
    """The Sachs rows and the 17-edge consensus DAG, read from cdt's installed files."""
    resources = _package_dir("cdt") / "data" / "resources"
    data_path, target_path = resources / "cyto_full_data.csv", resources / "cyto_full_target.csv"
    with data_path.open(newline="") as f:
        nodes = tuple(next(csv.reader(f)))
    data = np.loadtxt(data_path, delimiter=",", skiprows=1, ndmin=2)
    if data.shape != (SACHS_ROWS, SACHS_VARIABLES) or not np.isfinite(data).all():
        raise ValueError(f"{data_path} must hold {SACHS_ROWS} finite rows of {SACHS_VARIABLES} variables; "
                         f"got shape {data.shape}")
    with target_path.open(newline="") as f:
        edges = [(row["Cause"], row["Effect"]) for row in csv.DictReader(f)]
    kept = [edge for edge in edges if edge != SACHS_DROPPED_EDGE]
    index = {node: i for i, node in enumerate(nodes)}
    adjacency = np.zeros((len(nodes),) * 2, dtype=np.uint8)
    for cause, effect in kept:
        adjacency[index[cause], index[effect]] = 1
    if len(kept) != SACHS_EDGES or adjacency.sum() != SACHS_EDGES or not is_dag(adjacency):
        raise ValueError(f"{target_path} without {SACHS_DROPPED_EDGE[0]} -> {SACHS_DROPPED_EDGE[1]} must be a DAG "
                         f"of {SACHS_EDGES} distinct edges; got {len(kept)} edges, acyclic: {bool(is_dag(adjacency))}")
    return SachsData(nodes, *_read_only(data, adjacency))


def tasks(name: str, rows: int, count: int, seed: int) -> SemiRealTasks:
    """Tasks of the data set ``name`` (one of :data:`DATASETS`).

    A network gives ``count`` tasks of ``rows`` rows each, task k drawn from the seed
    ``(derive_seed(seed, "test:semi_real/NAME"), k)``. Sachs has one fixed data set, so it
    gives one task of its 7,466 rows whatever ``rows``, ``count`` and ``seed`` say.
    """
    if name not in DATASETS:
        raise ValueError(f"name must be one of {list(DATASETS)}; got {name!r}")
    rows, count = _check_count("rows", rows, 1), _check_count("count", count, 1)
    if name == SACHS:
        sachs = load_sachs()
        data, adjacency = sachs.data[None], sachs.adjacency
    else:
        network = load_network(name)
        base = derive_seed(seed, f"test:{SUITE}/{name}")
        data = np.stack([network.sample(rows, np.random.default_rng([base, k])) for k in range(count)])
        adjacency = network.adjacency
    b, _, d = data.shape
    return SemiRealTasks(normalize_data(data), np.zeros(data.shape, dtype=np.uint8),
                         np.repeat(adjacency[None], b, axis=0), np.full(b, d, dtype=np.int64))
