"""The engine and the numpy reference sampler agree in distribution.

The two never share random streams, so every comparison is a two-sample test: a per-task
summary statistic is computed on many tasks from each sampler, and the difference of the
two means must stay within ``Z_MAX`` standard errors (Welch). Seeds are fixed, so each
test is deterministic; a mismatch in a parameter law, a scaling or a graph generator
moves at least one statistic by far more than that (each statistic below was chosen to
react to a specific mistake: see the comments). With about 300 comparisons at
``Z_MAX = 4.5`` (two-sided p = 7e-6 each), a false alarm under equal distributions has
probability below 0.3%.

The first tests check the reference itself, since the others lean on it.
"""

from __future__ import annotations

from collections.abc import Callable

import networkx as nx
import numpy as np
import pytest

from causal_meta.reference import linear_scm, sample_graph, sample_scm_reference, sample_tasks_reference
from causal_meta.scm import TaskBatch, sample_scm, sample_tasks
from causal_meta.specs import (
    Bipartite,
    Butterfly,
    CauchyNoise,
    Chain,
    Collider,
    Diamond,
    Er,
    Family,
    Fixed,
    Fork,
    Gamma,
    Gaussian,
    GaussianNoise,
    Geometric,
    Gp,
    Heteroscedastic,
    Hierarchical,
    Interventions,
    LaplaceNoise,
    Layered,
    Linear,
    LogisticMap,
    LogUniform,
    Mixture,
    Mlp,
    Periodic,
    Pnl,
    ScaleFree,
    SignedUniform,
    SmallWorld,
    Square,
    StochasticBlock,
    Uniform,
    UniformNoise,
)

Z_MAX = 4.5
TASKS = 300
Stats = dict[str, np.ndarray]


def welch_z(a: np.ndarray, b: np.ndarray) -> float:
    """|mean(a) - mean(b)| in standard errors of the difference; 0 if both are constant
    and equal, inf if constant and different (deterministic statistics)."""
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    diff = abs(a.mean() - b.mean())
    if se == 0:
        return 0.0 if diff == 0 else np.inf
    return float(diff / se)


def assert_same_means(engine: Stats, reference: Stats) -> None:
    """Every statistic has the same mean under both samplers (within Z_MAX)."""
    report = {k: (engine[k].mean(), reference[k].mean(), welch_z(engine[k], reference[k])) for k in engine}
    bad = {k: v for k, v in report.items() if not v[2] < Z_MAX}
    assert not bad, "engine mean, reference mean, z: " + repr(bad)


def both(family: Family, n_obs: int, n_int: int = 0, count: int = TASKS) -> tuple[TaskBatch, TaskBatch]:
    return sample_tasks(family, 7, 0, count, n_obs, n_int), sample_tasks_reference(family, 8, count, n_obs, n_int)


def compare(family: Family, stats: Callable[[TaskBatch], Stats], n_obs: int, n_int: int = 0) -> None:
    engine, reference = both(family, n_obs, n_int)
    assert_same_means(stats(engine), stats(reference))


# ---------------------------------------------------------------- per-task statistics


def graph_stats(b: TaskBatch) -> Stats:
    a = b.adjacency.astype(np.float64)
    indeg, outdeg = a.sum(axis=1), a.sum(axis=2)
    real = b.node_mask()
    return {
        "nodes": b.n_nodes.astype(np.float64),
        "edges": a.sum(axis=(1, 2)),
        # Hubs: high for scale-free causes (out) or effects (in, transpose), forks, colliders.
        "sum_indeg_sq": (indeg**2).sum(axis=1),
        "sum_outdeg_sq": (outdeg**2).sum(axis=1),
        "roots": ((indeg == 0) & real).sum(axis=1).astype(np.float64),
        "longest_path": longest_path(a),
        # Half the edges point to a higher index only if nodes are relabelled at random.
        "upward_edges": np.triu(a, 1).sum(axis=(1, 2)),
    }


def longest_path(a: np.ndarray) -> np.ndarray:
    """Edges on the longest directed path of each graph, by powers of the adjacency."""
    length = np.zeros(a.shape[0])
    power = a.copy()
    for step in range(1, a.shape[1]):
        alive = power.any(axis=(1, 2))
        if not alive.any():
            break
        length[alive] = step
        power = np.minimum(power @ a, 1.0)
    return length


def quantiles(b: TaskBatch, qs: list[float]) -> list[np.ndarray]:
    """Per-task, per-node quantiles of the observational rows; padded nodes are NaN."""
    x = np.where(b.node_mask()[:, None, :], b.data.astype(np.float64), np.nan)
    return list(np.quantile(x, qs, axis=1))


def marginal_stats(b: TaskBatch) -> Stats:
    """Location, spread and tail shape of each node's marginal, averaged over nodes."""
    q01, q05, q25, q50, q75, q95, q99 = quantiles(b, [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99])
    iqr = np.maximum(q75 - q25, 1e-30)
    return {
        "median": np.nanmean(q50, axis=1),  # biases, root offsets (logistic r/4, MLP b2)
        "log_iqr": np.nanmean(np.log(iqr), axis=1),  # weight and noise scalings
        "tail_90": np.nanmean((q95 - q05) / iqr, axis=1),  # noise law, nonlinearity shape
        "tail_98": np.nanmean((q99 - q01) / iqr, axis=1),
    }


def dependence_stats(b: TaskBatch) -> Stats:
    """Mean |Spearman correlation| over edges: how strongly children follow parents."""
    ranks = b.data.argsort(axis=1).argsort(axis=1).astype(np.float64)
    ranks -= ranks.mean(axis=1, keepdims=True)
    ranks /= np.maximum(np.linalg.norm(ranks, axis=1, keepdims=True), 1e-12)
    corr = np.abs(np.einsum("tni,tnj->tij", ranks, ranks))
    a = b.adjacency.astype(bool)
    edges = a.sum(axis=(1, 2))
    has = edges > 0
    return {"edge_abs_spearman": (corr * a).sum(axis=(1, 2))[has] / edges[has]}


def data_stats(b: TaskBatch) -> Stats:
    return {**marginal_stats(b), **dependence_stats(b)}


# ---------------------------------------------------------------- the reference itself

ALL_GRAPHS = {
    "er_prob": Er(edge_prob=0.3),
    "er_per_node": Er(edges_per_node=1.5),
    "sf": ScaleFree(m=2),
    "sf_transpose": ScaleFree(m=2, transpose=True),
    "ws": SmallWorld(k=4, rewire_prob=0.3),
    "sbm": StochasticBlock(blocks=3, p_in=0.6, p_out=0.1),
    "grg": Geometric(radius=0.35),
    "chain": Chain(),
    "fork": Fork(),
    "collider": Collider(),
    "diamond": Diamond(),
    "butterfly": Butterfly(),
    "layered": Layered(layers=3, edge_prob=0.4),
    "hierarchical": Hierarchical(branching=2),
    "bipartite": Bipartite(cause_fraction=0.4, edge_prob=0.3),
    "mixture": Mixture([Chain(), Er(edge_prob=0.5)], [0.3, 0.7]),
}


@pytest.mark.parametrize("name", ALL_GRAPHS)
def test_reference_graphs_are_dags_with_valid_orders(name: str) -> None:
    rng = np.random.default_rng(0)
    for d in (5, 13):
        adjacency, order = sample_graph(ALL_GRAPHS[name], d, rng)
        position = np.argsort(order)
        i, j = np.nonzero(adjacency)
        assert sorted(order.tolist()) == list(range(d))
        assert np.all(position[i] < position[j]), f"{name}: order violates an edge"


def test_reference_linear_closed_form_matches_the_column_loop() -> None:
    """Linear SCMs take a closed form; per-row do() takes the node loop. Same generator
    state, same noise: both must give the same rows, with and without interventions."""
    mechanism = Linear(bias=Uniform(0.5, 1.5))
    family = Family(nodes=15, graph=Er(edge_prob=0.3), mechanism=mechanism, noise=GaussianNoise(Uniform(0.5, 1.0)))
    scm = sample_scm_reference(family, np.random.default_rng(1))
    n, d = 64, scm.d
    no_cells = (np.zeros((n, d), bool), np.zeros((n, d), np.float32))
    closed, _ = scm.sample(n, np.random.default_rng(2))
    loop, _ = scm.sample(n, np.random.default_rng(2), do=no_cells)
    np.testing.assert_allclose(closed, loop, rtol=1e-4, atol=1e-4 * np.abs(closed).max())
    node = int(scm.order[3])
    column = np.zeros((n, d), bool)
    column[:, node] = True
    closed, mask_a = scm.sample(n, np.random.default_rng(3), do={node: 2.5})
    loop, mask_b = scm.sample(n, np.random.default_rng(3), do=(column, np.full((n, d), 2.5, np.float32)))
    np.testing.assert_allclose(closed, loop, rtol=1e-4, atol=1e-4 * np.abs(closed).max())
    assert np.all(closed[:, node] == 2.5) and np.array_equal(mask_a, mask_b) and mask_a.sum() == n


def test_reference_linear_covariance_is_exact() -> None:
    """The reference's linear-Gaussian rows have covariance (I - W)^-T D (I - W)^-1."""
    family = Family(nodes=8, graph=Er(edge_prob=0.4), noise=GaussianNoise(Uniform(0.5, 1.5)))
    scm = sample_scm_reference(family, np.random.default_rng(4))
    x, _ = scm.sample(200_000, np.random.default_rng(5))
    w = np.zeros((scm.d, scm.d))
    for j, (pa, mech) in enumerate(zip(scm.parents, scm.mechanisms)):
        w[pa, j] = mech.w
    inv = np.linalg.inv(np.eye(scm.d) - w)
    exact = inv.T @ np.diag(scm.noise_scales.astype(np.float64) ** 2) @ inv
    sd = np.sqrt(np.diag(exact))
    # Sample correlations have standard error below 1 / sqrt(n) = 0.0022.
    np.testing.assert_allclose(np.corrcoef(x.T), exact / np.outer(sd, sd), atol=0.012)
    np.testing.assert_allclose(x.std(axis=0), sd, rtol=0.012)


# ---------------------------------------------------------------- graphs


@pytest.mark.parametrize("name", ALL_GRAPHS)
def test_graph_statistics_agree(name: str) -> None:
    compare(Family(nodes=13, graph=ALL_GRAPHS[name]), graph_stats, n_obs=1)


def test_node_count_range_agrees() -> None:
    compare(Family(nodes=(5, 14), graph=Er(edges_per_node=1.0)), graph_stats, n_obs=1)


@pytest.mark.parametrize("name", ["chain", "fork", "collider", "diamond", "butterfly", "hierarchical"])
def test_fixed_structures_are_the_same_graph(name: str) -> None:
    engine, reference = both(Family(nodes=11, graph=ALL_GRAPHS[name]), n_obs=1, count=20)
    want = nx.DiGraph(reference.adjacency[0])
    for a in (*engine.adjacency, *reference.adjacency):
        assert nx.is_isomorphic(nx.DiGraph(a), want), name


# ---------------------------------------------------------------- linear-Gaussian


def test_linear_gaussian_variances_agree() -> None:
    """Edge counts and per-node variances of linear-Gaussian SCMs over many SCMs. The log
    variance reacts to the weight law, the noise scale law and the graph depth at once."""
    family = Family(nodes=10, graph=Er(edges_per_node=1.5), noise=GaussianNoise(Uniform(0.5, 1.0)))

    def stats(b: TaskBatch) -> Stats:
        log_var = np.log(b.data.astype(np.float64).var(axis=1))
        return {
            "edges": b.adjacency.sum(axis=(1, 2)).astype(np.float64),
            "mean_log_var": log_var.mean(axis=1),
            "max_log_var": log_var.max(axis=1),
            "min_log_var": log_var.min(axis=1),  # a root: log of its noise variance
        }

    compare(family, stats, n_obs=256)


def test_one_linear_scm_samples_alike_under_do() -> None:
    """The engine's own linear SCM, rebuilt in the reference from its parameters: per-node
    means and variances agree observationally, under do={i: v} and under per-row do()."""
    family = Family(nodes=10, graph=Er(edge_prob=0.3), noise=GaussianNoise(Uniform(0.5, 1.0)))
    engine = sample_scm(family, 3)
    weights, bias = engine.linear_parameters()
    reference = linear_scm(weights, bias, np.array(engine.noise_scales), engine.noise_names)
    rng = np.random.default_rng(0)
    n, d = 50_000, engine.d
    node = engine.topological_order[2]
    per_row = (rng.random((n, d)) < 0.2, rng.normal(size=(n, d)).astype(np.float32))
    for do in (None, {node: 1.5}, per_row):
        x_e, m_e = engine.sample(n, do=do, seed=1)
        x_r, m_r = reference.sample(n, rng, do=do)
        assert np.array_equal(m_e, m_r)
        free = ~m_e.astype(bool).all(axis=0)  # columns that vary
        x_e, x_r = x_e[:, free].astype(np.float64), x_r[:, free].astype(np.float64)
        se_mean = np.sqrt((x_e.var(axis=0) + x_r.var(axis=0)) / n)
        assert np.all(np.abs(x_e.mean(axis=0) - x_r.mean(axis=0)) < Z_MAX * se_mean), do
        # Standard error of a Gaussian sample variance: var * sqrt(2 / n).
        se_var = np.sqrt(2.0 / n) * np.hypot(x_e.var(axis=0), x_r.var(axis=0))
        assert np.all(np.abs(x_e.var(axis=0) - x_r.var(axis=0)) < Z_MAX * se_var), do


# ---------------------------------------------------------------- mechanisms

SMALL_W = SignedUniform(0.3, 0.7)
MECHANISMS = {
    "linear": Linear(),
    "linear_gaussian_w": Linear(weights=Gaussian(0.0, 1.0), bias=Uniform(0.5, 1.5)),
    "mlp_relu": Mlp(hidden=16),
    # Hidden units below zero almost always: the output is the leaky slope at work.
    "mlp_leaky_noise_input": Mlp(hidden=16, activation="leaky_relu", bias=Fixed(-4.0), noise_input=True),
    "mlp_tanh": Mlp(hidden=16, activation="tanh", bias=Fixed(0.5)),
    "mlp_sigmoid_noise_input": Mlp(hidden=16, activation="sigmoid", noise_input=True),
    "gp": Gp(features=64),
    "gp_scaled": Gp(features=32, length_scale=LogUniform(0.25, 1.0), output_scale=Gamma(2.0, 1.0)),
    "pnl_cube": Pnl(nonlinearity="cube", weights=SMALL_W),
    "pnl_sigmoid": Pnl(nonlinearity="sigmoid", bias=Uniform(-1.0, 1.0)),
    "pnl_tanh": Pnl(nonlinearity="tanh"),
    "square": Square(weights=SignedUniform(0.2, 0.5)),
    "periodic": Periodic(),
    "logistic_map": LogisticMap(),
    "heteroscedastic": Heteroscedastic(bias=Uniform(-1.0, 1.0)),
    "mixture": Mixture([Linear(), Mlp(hidden=8), Gp(features=16), Square(weights=SMALL_W)], [0.4, 0.2, 0.2, 0.2]),
}


# Cubes of cubes overflow float32 within a few generations: two layers only.
GRAPH_OF = {"pnl_cube": Layered(layers=3, edge_prob=0.5)}


@pytest.mark.parametrize("name", MECHANISMS)
def test_mechanism_statistics_agree(name: str) -> None:
    graph = GRAPH_OF.get(name, Er(edge_prob=0.35))
    family = Family(nodes=7, graph=graph, mechanism=MECHANISMS[name], noise=GaussianNoise(Uniform(0.5, 1.0)))
    compare(family, data_stats, n_obs=200)


# ---------------------------------------------------------------- noise

NOISES = {
    "gaussian": GaussianNoise(Fixed(1.0)),
    "gaussian_gamma_scale": GaussianNoise(Gamma(2.0, 0.5)),
    "laplace": LaplaceNoise(LogUniform(0.5, 2.0)),
    "cauchy": CauchyNoise(Uniform(0.5, 1.5)),
    "uniform": UniformNoise(Fixed(2.0)),
    "mixture": Mixture(
        [GaussianNoise(), LaplaceNoise(), CauchyNoise(), UniformNoise(Uniform(1.0, 3.0))], [1.0, 1.0, 1.0, 2.0]
    ),
}


@pytest.mark.parametrize("name", NOISES)
def test_noise_laws_agree(name: str) -> None:
    """With no edges the data are the noise itself: spread and tail shape of each law."""
    family = Family(nodes=6, graph=Er(edge_prob=0.0), noise=NOISES[name])
    compare(family, marginal_stats, n_obs=400)


# ---------------------------------------------------------------- interventional task rows


def test_interventional_rows_agree() -> None:
    """Rows n_obs.. each set one uniform node to a value draw; the rest follow the SCM."""
    family = Family(
        nodes=8,
        graph=Er(edge_prob=0.4),
        noise=GaussianNoise(Uniform(0.5, 1.0)),
        interventions=Interventions(value=Gaussian(1.0, 2.0)),
    )
    n_obs, n_int = 10, 60
    engine, reference = both(family, n_obs, n_int)

    def stats(b: TaskBatch) -> Stats:
        set_cells = b.mask[:, n_obs:].astype(bool)
        values = np.where(set_cells, b.data[:, n_obs:], 0.0).sum(axis=2)  # the one set value per row
        node = set_cells.argmax(axis=2)
        children = b.adjacency.sum(axis=2)[np.arange(len(node))[:, None], node]
        return {
            "value_mean": values.mean(axis=1),
            "value_sq": (values**2).mean(axis=1),
            "node_index": node.mean(axis=1),
            "children_of_set_node": children.mean(axis=1),
            "log_abs_rows": np.log(np.abs(b.data[:, n_obs:]).astype(np.float64) + 1e-6).mean(axis=(1, 2)),
        }

    for b in (engine, reference):
        assert np.all(b.mask[:, :n_obs] == 0) and np.all(b.mask[:, n_obs:].sum(axis=2) == 1)
    assert_same_means(stats(engine), stats(reference))
